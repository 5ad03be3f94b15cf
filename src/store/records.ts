/**
 * The records the broker keeps in its store, their keys and their encodings.
 *
 *   `s/<client id>`                  a persistent session (StoredSession), JSON with byte strings as base64
 *   `u/<client id>\0<filter>`        one of its subscriptions (filter as the client sent it), JSON options
 *   `a/<client id>`                  its incoming QoS 2 packet ids awaiting PUBREL, binary
 *   `d/<client id>\0<seq>`           a QoS 1/2 delivery held for it (queued or in flight), binary
 *   `r/<topic>`                      a retained message with its replication stamp, binary
 *   `f/<peer>\0<seq>`                a QoS 1/2 message queued for another node, binary
 *   `m/members`                      the other members of the node's cluster, JSON list of node names
 *
 * `<seq>` is 16 hex digits, increasing over the store's life (a restart goes on after the highest
 * one found), so a session's deliveries read back in the order they came. A client id or a topic
 * never holds U+0000 [MQTT-1.5.4-2], so it ends the client id in a key. Every record starts with a
 * format byte; one that cannot be read is a `RecordError`, reported by `meshmq ctl store check`.
 */
import type { Message } from '../core/mqtt/message.js'
import type { Delivery, InflightEntry, SubscriptionOptions } from '../core/session/session-state.js'
import { subscriptionOptions } from '../core/session/session-snapshot.js'
import type { RetainedEntry } from '../core/routing/retained-replica.js'
import { BinaryReader, BinaryWriter } from '../core/wire/binary.js'
import { MessageBatchReader, MessageBatchWriter, RefusedMessage } from '../core/wire/message-codec.js'
import { RecordError } from './record-error.js'

export { RecordError }
export { decodeStoredSession, encodeStoredSession } from './session-record.js'

export const SESSION_PREFIX = 's/'
export const AWAITING_REL_PREFIX = 'a/'
export const SUBSCRIPTION_PREFIX = 'u/'
export const DELIVERY_PREFIX = 'd/'
export const RETAINED_PREFIX = 'r/'
export const FORWARD_PREFIX = 'f/'
export const MEMBERS_KEY = 'm/members'

/** The separator after a client id or peer name in a key. */
const SEP = '\u0000'
const FORMAT = 1

const HAS_SUBSCRIPTION_IDS = 0x04
const HAS_SHARED = 0x08
const HAS_PACKET_ID = 0x10
const PHASE_PUBREL = 0x20
const RETAIN = 0x40


export function sessionKey (clientId: string): string {
  return SESSION_PREFIX + clientId
}

export function subscriptionKey (clientId: string, filter: string): string {
  return SUBSCRIPTION_PREFIX + clientId + SEP + filter
}

/** The client id and filter of a `u/` key. */
export function parseSubscriptionKey (key: string): { clientId: string, filter: string } {
  const sep = key.indexOf(SEP)
  if (!key.startsWith(SUBSCRIPTION_PREFIX) || sep < 0) throw new RecordError(`bad subscription key ${JSON.stringify(key.slice(0, 200))}`)
  return { clientId: key.slice(SUBSCRIPTION_PREFIX.length, sep), filter: key.slice(sep + 1) }
}

export function encodeSubscription (options: SubscriptionOptions): Uint8Array {
  return Buffer.from(JSON.stringify(options))
}

export function decodeSubscription (bytes: Uint8Array): SubscriptionOptions {
  try {
    return subscriptionOptions(JSON.parse(Buffer.from(bytes).toString('utf8')))
  } catch (err) {
    throw new RecordError(`unreadable subscription record: ${(err as Error).message}`, { cause: err })
  }
}

export function awaitingRelKey (clientId: string): string {
  return AWAITING_REL_PREFIX + clientId
}

export function deliveryKey (clientId: string, seq: number): string {
  return DELIVERY_PREFIX + clientId + SEP + seqText(seq)
}

export function retainedKey (topic: string): string {
  return RETAINED_PREFIX + topic
}

export function forwardKey (peer: string, seq: number): string {
  return FORWARD_PREFIX + peer + SEP + seqText(seq)
}

/** The owner (client id or peer) and sequence number of a `d/` or `f/` key. */
export function parseSequencedKey (key: string): { owner: string, seq: number } {
  const sep = key.lastIndexOf(SEP)
  const seq = Number.parseInt(key.slice(sep + 1), 16)
  if (sep < 2 || !Number.isSafeInteger(seq)) throw new RecordError(`bad key ${JSON.stringify(key)}`)
  return { owner: key.slice(2, sep), seq }
}

function seqText (seq: number): string {
  return seq.toString(16).padStart(16, '0')
}

const writer = new BinaryWriter(4096)
const messageWriter = new MessageBatchWriter()

function writeMessage (message: Message): void {
  messageWriter.reset('')
  messageWriter.write(writer, message)
}

function readMessage (reader: BinaryReader): Message {
  const message = new MessageBatchReader('').read(reader)
  if (message instanceof RefusedMessage) throw new RecordError(`unreadable message: ${message.reason}`)
  return message
}

/** Incoming QoS 2 packet ids awaiting PUBREL. */
export function encodeAwaitingRel (packetIds: readonly number[]): Uint8Array {
  writer.reset()
  writer.u8(FORMAT).varint(packetIds.length)
  for (const id of packetIds) writer.varint(id)
  return Uint8Array.prototype.slice.call(writer.finish())
}

export function decodeAwaitingRel (bytes: Uint8Array): number[] {
  return readRecord('awaiting PUBREL', bytes, reader => {
    const count = reader.varint()
    if (count > reader.remaining) throw new RecordError(`${count} packet ids in ${reader.remaining} bytes`)
    const ids: number[] = []
    for (let i = 0; i < count; i++) {
      const id = reader.varint()
      if (id < 1 || id > 65535) throw new RecordError(`bad packet id ${id}`)
      ids.push(id)
    }
    return ids
  })
}

/** A delivery held for a session; `entry` when it is in flight under a packet id (QoS 2). */
export function encodeDelivery (delivery: Delivery, entry?: InflightEntry): Uint8Array {
  writer.reset()
  let flags: number = delivery.qos
  if (delivery.retain) flags |= RETAIN
  if (delivery.subscriptionIds !== undefined) flags |= HAS_SUBSCRIPTION_IDS
  if (delivery.shared !== undefined) flags |= HAS_SHARED
  if (entry !== undefined) flags |= HAS_PACKET_ID | (entry.phase === 'pubrel' ? PHASE_PUBREL : 0)
  writer.u8(FORMAT).u8(flags)
  if (delivery.subscriptionIds !== undefined) {
    writer.varint(delivery.subscriptionIds.length)
    for (const id of delivery.subscriptionIds) writer.varint(id)
  }
  if (delivery.shared !== undefined) writer.string(delivery.shared.group).string(delivery.shared.filter)
  if (entry !== undefined) writer.varint(entry.packetId)
  writeMessage(delivery.message)
  return Uint8Array.prototype.slice.call(writer.finish())
}

export interface DecodedDelivery {
  delivery: Delivery
  /** Set when the delivery was in flight under a packet id. */
  packetId?: number
  phase?: InflightEntry['phase']
}

export function decodeDelivery (bytes: Uint8Array): DecodedDelivery {
  return readRecord('delivery', bytes, reader => {
    const flags = reader.u8()
    const qos = flags & 0x03
    if (qos !== 1 && qos !== 2) throw new RecordError(`bad delivery QoS ${qos}`)
    const subscriptionIds = (flags & HAS_SUBSCRIPTION_IDS) === 0 ? undefined : readIds(reader)
    const shared = (flags & HAS_SHARED) === 0 ? undefined : { group: reader.string(), filter: reader.string() }
    const packetId = (flags & HAS_PACKET_ID) === 0 ? undefined : reader.varint()
    if (packetId !== undefined && (packetId < 1 || packetId > 65535)) throw new RecordError(`bad packet id ${packetId}`)
    const delivery: Delivery = { message: readMessage(reader), qos, retain: (flags & RETAIN) !== 0 }
    if (subscriptionIds !== undefined) delivery.subscriptionIds = subscriptionIds
    if (shared !== undefined) delivery.shared = shared
    const decoded: DecodedDelivery = { delivery }
    if (packetId !== undefined) {
      decoded.packetId = packetId
      decoded.phase = (flags & PHASE_PUBREL) !== 0 ? 'pubrel' : 'publish'
    }
    return decoded
  })
}

function readIds (reader: BinaryReader): number[] {
  const count = reader.varint()
  if (count > reader.remaining) throw new RecordError(`${count} subscription ids in ${reader.remaining} bytes`)
  const ids: number[] = []
  for (let i = 0; i < count; i++) ids.push(reader.varint())
  return ids
}

/** A retained message with its stamp (a cleared topic has no record). */
export function encodeRetained (entry: RetainedEntry & { message: Message }): Uint8Array {
  writer.reset()
  writer.u8(FORMAT).varint(entry.stamp.wall).varint(entry.stamp.logical).string(entry.stamp.node)
  writeMessage(entry.message)
  return Uint8Array.prototype.slice.call(writer.finish())
}

export function decodeRetained (bytes: Uint8Array): RetainedEntry & { message: Message } {
  return readRecord('retained message', bytes, reader => {
    const stamp = { wall: reader.varint(), logical: reader.varint(), node: reader.string() }
    const message = readMessage(reader)
    return { topic: message.topic, stamp, message }
  })
}

export function encodeMembers (members: readonly string[]): Uint8Array {
  return Buffer.from(JSON.stringify(members))
}

export function decodeMembers (bytes: Uint8Array): string[] {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch (err) {
    throw new RecordError('unreadable members record: not JSON', { cause: err })
  }
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) throw new RecordError('unreadable members record: not a list of names')
  return value
}

/** A message queued for another node. */
export function encodeForwarded (message: Message): Uint8Array {
  writer.reset()
  writer.u8(FORMAT)
  writeMessage(message)
  return Uint8Array.prototype.slice.call(writer.finish())
}

export function decodeForwarded (bytes: Uint8Array): Message {
  return readRecord('forwarded message', bytes, readMessage)
}

function readRecord<T> (what: string, bytes: Uint8Array, read: (reader: BinaryReader) => T): T {
  try {
    const reader = new BinaryReader(bytes)
    const format = reader.u8()
    if (format !== FORMAT) throw new RecordError(`unknown ${what} record format ${format}`)
    const value = read(reader)
    reader.expectEnd()
    return value
  } catch (err) {
    if (err instanceof RecordError) throw err
    throw new RecordError(`unreadable ${what} record: ${(err as Error).message}`, { cause: err })
  }
}
