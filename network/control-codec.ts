/**
 * Binary encoding of the control plane: hello exchange, replicated-set gossip (deltas, digests of
 * the routes and of the client ids), snapshot requests and responses, and membership notices. One
 * tagged union, one type byte per message, then its fields in declaration order (see `src/core/wire/binary.ts`
 * for the primitives); the messages of a replicated set carry its table code right after the type
 * byte.
 */
import { MalformedFrameError, type HelloRejectReason } from './errors.js'
import { BinaryReader, BinaryWriter } from '../src/core/wire/binary.js'
import type { MemberInfo, Tombstone } from './member-table.js'
import { REPLICATED_TABLES, type ReplicatedTable, type RouteDelta, type RouteDigest, type RouteOp, type RouteSnapshot } from './route-messages.js'

/** Which replicated set a message is about; absent means `routes` (see `route-messages.ts`). */
export interface TableTag {
  table?: ReplicatedTable
}

/** A node introducing itself, with what it knows of the cluster, so peers can complete the mesh. */
export interface Hello extends MemberInfo {
  type: 'hello'
  /** The other members the sender sees up. */
  members: MemberInfo[]
  /** Nodes the sender knows left or were removed. */
  tombstones: Tombstone[]
}

export interface HelloReject {
  type: 'hello-reject'
  reason: HelloRejectReason
  detail: string
}

export interface SnapshotRequest extends TableTag {
  type: 'snapshot-request'
  /** The node whose set is asked for: the responder itself. */
  node: string
}

export interface SnapshotResponse extends RouteSnapshot, TableTag {
  type: 'snapshot'
}

export interface DeltaAnnouncement extends RouteDelta, TableTag {
  type: 'delta'
}

/** A node's digest of one set, with where to reach it (gossip relays it to nodes not yet connected). */
export interface DigestAnnouncement extends RouteDigest, TableTag {
  type: 'digest'
  peerId: string
  addrs: string[]
}

/** `node` leaves the cluster: drop its routes and stop redialing it. */
export interface LeaveNotice {
  type: 'leave'
  node: string
  incarnation: number
}

/** `by` removed `node` from the cluster: drop its routes; the node itself leaves if it hears it. */
export interface ForceLeaveNotice {
  type: 'force-leave'
  node: string
  incarnation: number
  by: string
}

export interface NoticeAck {
  type: 'notice-ack'
}

export type ControlMessage =
  | Hello
  | HelloReject
  | SnapshotRequest
  | SnapshotResponse
  | DeltaAnnouncement
  | DigestAnnouncement
  | LeaveNotice
  | ForceLeaveNotice
  | NoticeAck

const TYPE_CODES = {
  hello: 1,
  'hello-reject': 2,
  'snapshot-request': 3,
  snapshot: 4,
  delta: 5,
  digest: 6,
  leave: 7,
  'force-leave': 8,
  'notice-ack': 9
} as const satisfies Record<ControlMessage['type'], number>

/** Wire order: a new reason is appended, so the codes of the others never change. */
const REJECT_REASONS: readonly HelloRejectReason[] = ['left', 'removed', 'name-conflict', 'same-name', 'stale-incarnation', 'future-incarnation']

export function encodeControl (message: ControlMessage): Uint8Array {
  const w = new BinaryWriter(256)
  w.u8(TYPE_CODES[message.type])
  switch (message.type) {
    case 'hello':
      writeMember(w, message)
      w.varint(message.members.length)
      for (const member of message.members) writeMember(w, member)
      w.varint(message.tombstones.length)
      for (const t of message.tombstones) w.string(t.name).varint(t.incarnation)
      break
    case 'hello-reject':
      w.u8(REJECT_REASONS.indexOf(message.reason)).string(message.detail)
      break
    case 'snapshot-request':
      writeTable(w, message).string(message.node)
      break
    case 'snapshot':
      writeTable(w, message).string(message.node).varint(message.incarnation).varint(message.seq).varint(message.filters.length)
      for (const filter of message.filters) w.string(filter)
      break
    case 'delta':
      writeTable(w, message).string(message.node).varint(message.incarnation).varint(message.fromSeq).varint(message.ops.length)
      for (const op of message.ops) w.bool(op.op === 'add').string(op.filter)
      if (message.changedAtMs !== undefined) w.varint(message.changedAtMs)
      break
    case 'digest':
      writeTable(w, message).string(message.node).varint(message.incarnation).varint(message.seq).string(message.checksum).string(message.peerId)
      writeStrings(w, message.addrs)
      break
    case 'leave':
      w.string(message.node).varint(message.incarnation)
      break
    case 'force-leave':
      w.string(message.node).varint(message.incarnation).string(message.by)
      break
    case 'notice-ack':
      break
  }
  return w.finish()
}

export function decodeControl (bytes: Uint8Array): ControlMessage {
  const r = new BinaryReader(bytes)
  const code = r.u8()
  let message: ControlMessage
  switch (code) {
    case TYPE_CODES.hello: {
      const self = readMember(r)
      const members: MemberInfo[] = []
      for (let i = r.count(); i > 0; i--) members.push(readMember(r))
      const tombstones: Tombstone[] = []
      for (let i = r.count(); i > 0; i--) tombstones.push({ name: r.string(), incarnation: r.varint() })
      message = { type: 'hello', ...self, members, tombstones }
      break
    }
    case TYPE_CODES['hello-reject']: {
      const reason = REJECT_REASONS[r.u8()]
      if (reason === undefined) throw new MalformedFrameError('unknown hello reject reason')
      message = { type: 'hello-reject', reason, detail: r.string() }
      break
    }
    case TYPE_CODES['snapshot-request']:
      message = { type: 'snapshot-request', ...readTable(r), node: r.string() }
      break
    case TYPE_CODES.snapshot: {
      const table = readTable(r)
      const node = r.string()
      const incarnation = r.varint()
      const seq = r.varint()
      const filters: string[] = []
      for (let i = r.count(); i > 0; i--) filters.push(r.string())
      message = { type: 'snapshot', ...table, node, incarnation, seq, filters }
      break
    }
    case TYPE_CODES.delta: {
      const table = readTable(r)
      const node = r.string()
      const incarnation = r.varint()
      const fromSeq = r.varint()
      if (fromSeq < 1) throw new MalformedFrameError('delta fromSeq 0')
      const ops: RouteOp[] = []
      for (let i = r.count(); i > 0; i--) ops.push({ op: r.bool() ? 'add' : 'remove', filter: r.string() })
      message = { type: 'delta', ...table, node, incarnation, fromSeq, ops }
      // A trailing stamp (changedAtMs) is optional: a delta without one decodes as before.
      if (r.remaining > 0) message.changedAtMs = r.varint()
      break
    }
    case TYPE_CODES.digest:
      message = { type: 'digest', ...readTable(r), node: r.string(), incarnation: r.varint(), seq: r.varint(), checksum: r.string(), peerId: r.string(), addrs: readStrings(r) }
      break
    case TYPE_CODES.leave:
      message = { type: 'leave', node: r.string(), incarnation: r.varint() }
      break
    case TYPE_CODES['force-leave']:
      message = { type: 'force-leave', node: r.string(), incarnation: r.varint(), by: r.string() }
      break
    case TYPE_CODES['notice-ack']:
      message = { type: 'notice-ack' }
      break
    default:
      throw new MalformedFrameError(`unknown control message type ${code}`)
  }
  r.expectEnd()
  return message
}

function writeTable (w: BinaryWriter, message: TableTag): BinaryWriter {
  return w.u8(REPLICATED_TABLES.indexOf(message.table ?? 'routes'))
}

/** The table tag as decoded: `routes`, the default, is left out. */
function readTable (r: BinaryReader): TableTag {
  const table = REPLICATED_TABLES[r.u8()]
  if (table === undefined) throw new MalformedFrameError('unknown replicated table')
  return table === 'routes' ? {} : { table }
}

function writeMember (w: BinaryWriter, member: MemberInfo): void {
  w.string(member.name).string(member.peerId).varint(member.incarnation)
  writeStrings(w, member.addrs)
}

function readMember (r: BinaryReader): MemberInfo {
  return { name: r.string(), peerId: r.string(), incarnation: r.varint(), addrs: readStrings(r) }
}

function writeStrings (w: BinaryWriter, values: readonly string[]): void {
  w.varint(values.length)
  for (const value of values) w.string(value)
}

function readStrings (r: BinaryReader): string[] {
  const values: string[] = []
  for (let i = r.count(); i > 0; i--) values.push(r.string())
  return values
}
