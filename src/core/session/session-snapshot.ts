/**
 * A session as one node hands it to another when its client connects there (takeover across
 * nodes): subscriptions with their options, messages in flight to the client (QoS 1/2, either
 * phase), the queue, incoming QoS 2 awaiting PUBREL and the packet id counter. A delivery keeps
 * the shared subscription it was picked for (`Delivery.shared`), so the new node hands it to
 * another member if the client leaves it unacknowledged (shared-redelivery.ts). The will is not
 * part of it: the CONNECT that takes the session over brings its own will and cancels a pending
 * delayed one [MQTT-3.1.3-9], as on one node. Pure: plain data and its encoding.
 *
 * The encoding is JSON with byte strings as base64 (a takeover is rare and small next to the
 * forward path, which has its own binary codec). Decoding checks the shape of everything it
 * returns, so a peer's bad snapshot fails here (`InvalidSessionSnapshotError`) and nowhere later.
 */
import type { Message, QoS } from '../mqtt/message.js'
import { deliveryBytes } from './queue.js'
import { createSessionState, type Delivery, type InflightEntry, type SessionState, type SubscriptionOptions } from './session-state.js'

export interface SessionSnapshot {
  clientId: string
  createdAt: number
  subscriptions: Array<[string, SubscriptionOptions]>
  inflight: InflightEntry[]
  queue: Delivery[]
  awaitingRel: number[]
  nextPacketId: number
}

export class InvalidSessionSnapshotError extends Error {
  override name = 'InvalidSessionSnapshotError'
}

/** The snapshot of a session's state (shares its objects; encode it before changing the state). */
export function snapshotOf (state: SessionState): SessionSnapshot {
  return {
    clientId: state.clientId,
    createdAt: state.createdAt,
    subscriptions: [...state.subscriptions ?? []],
    inflight: [...state.inflight?.values() ?? []],
    queue: [...state.queue],
    awaitingRel: [...state.awaitingRel ?? []],
    nextPacketId: state.nextPacketId
  }
}

/**
 * The session state a snapshot restores, without its subscriptions (the caller subscribes them, so
 * the trie learns them) and with the queue's bytes counted (the caller holds them in its budget).
 */
export function stateOf (snapshot: SessionSnapshot): SessionState {
  const state = createSessionState(snapshot.clientId, snapshot.createdAt)
  state.nextPacketId = snapshot.nextPacketId
  if (snapshot.inflight.length > 0) state.inflight = new Map(snapshot.inflight.map(entry => [entry.packetId, entry]))
  if (snapshot.awaitingRel.length > 0) state.awaitingRel = new Set(snapshot.awaitingRel)
  state.queue = snapshot.queue
  state.queuedBytes = snapshot.queue.reduce((sum, delivery) => sum + deliveryBytes(delivery), 0)
  return state
}

/** Messages the snapshot holds for the client (queued and in flight). */
export function snapshotMessages (snapshot: SessionSnapshot): number {
  return snapshot.queue.length + snapshot.inflight.length
}

export function encodeSessionSnapshot (snapshot: SessionSnapshot): Uint8Array {
  return encodeJson(snapshot)
}

export function decodeSessionSnapshot (bytes: Uint8Array): SessionSnapshot {
  const value = decodeJson(bytes)
  const s = record(value, 'snapshot')
  return {
    clientId: str(s.clientId, 'clientId'),
    createdAt: num(s.createdAt, 'createdAt'),
    subscriptions: arr(s.subscriptions, 'subscriptions').map(item => {
      const pair = arr(item, 'subscription')
      return [str(pair[0], 'filter'), subscriptionOptions(pair[1])]
    }),
    inflight: arr(s.inflight, 'inflight').map(item => {
      const entry = record(item, 'inflight entry')
      const phase = entry.phase
      if (phase !== 'publish' && phase !== 'pubrel') throw new InvalidSessionSnapshotError('bad inflight phase')
      return { packetId: packetId(entry.packetId), delivery: delivery(entry.delivery), phase }
    }),
    queue: arr(s.queue, 'queue').map(delivery),
    awaitingRel: arr(s.awaitingRel, 'awaitingRel').map(packetId),
    nextPacketId: packetId(s.nextPacketId)
  }
}

/** Deliveries as the old node forwards them to the new one during a handover. */
export function encodeDeliveries (clientId: string, deliveries: readonly Delivery[]): Uint8Array {
  return encodeJson({ clientId, deliveries })
}

export function decodeDeliveries (bytes: Uint8Array): { clientId: string, deliveries: Delivery[] } {
  const value = record(decodeJson(bytes), 'deliveries')
  return { clientId: str(value.clientId, 'clientId'), deliveries: arr(value.deliveries, 'deliveries').map(delivery) }
}

// ---- JSON with byte strings (also the store's session record, src/store/session-record.ts) ----

export function encodeJson (value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value, function (this: Record<string, unknown>, key: string, item: unknown) {
    const raw = this[key]
    return Buffer.isBuffer(raw) ? { $b64: raw.toString('base64') } : item
  }))
}

export function decodeJson (bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'), (_key, item: unknown) => {
      if (typeof item === 'object' && item !== null && typeof (item as { $b64?: unknown }).$b64 === 'string') {
        return Buffer.from((item as { $b64: string }).$b64, 'base64')
      }
      return item
    })
  } catch (err) {
    throw new InvalidSessionSnapshotError('not JSON', { cause: err })
  }
}

// ---- shape checks -------------------------------------------------------------------------

export function record (value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidSessionSnapshotError(`${what} is not an object`)
  return value as Record<string, unknown>
}

export function arr (value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new InvalidSessionSnapshotError(`${what} is not an array`)
  return value
}

export function str (value: unknown, what: string): string {
  if (typeof value !== 'string') throw new InvalidSessionSnapshotError(`${what} is not a string`)
  return value
}

export function num (value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new InvalidSessionSnapshotError(`${what} is not a number`)
  return value
}

export function bool (value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw new InvalidSessionSnapshotError(`${what} is not a boolean`)
  return value
}

function qos (value: unknown): QoS {
  if (value !== 0 && value !== 1 && value !== 2) throw new InvalidSessionSnapshotError('bad QoS')
  return value
}

export function packetId (value: unknown): number {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 65535) throw new InvalidSessionSnapshotError('bad packet id')
  return value as number
}

function bytes (value: unknown, what: string): Buffer {
  if (!Buffer.isBuffer(value)) throw new InvalidSessionSnapshotError(`${what} is not bytes`)
  return value
}

export function subscriptionOptions (value: unknown): SubscriptionOptions {
  const o = record(value, 'subscription options')
  const retainHandling = o.retainHandling
  if (retainHandling !== 0 && retainHandling !== 1 && retainHandling !== 2) throw new InvalidSessionSnapshotError('bad retain handling')
  const options: SubscriptionOptions = { qos: qos(o.qos), noLocal: bool(o.noLocal, 'noLocal'), retainAsPublished: bool(o.retainAsPublished, 'retainAsPublished'), retainHandling }
  if (o.subscriptionId !== undefined) options.subscriptionId = num(o.subscriptionId, 'subscriptionId')
  return options
}

function delivery (value: unknown): Delivery {
  const d = record(value, 'delivery')
  const result: Delivery = { message: message(d.message), qos: qos(d.qos), retain: bool(d.retain, 'retain') }
  if (d.subscriptionIds !== undefined) result.subscriptionIds = arr(d.subscriptionIds, 'subscriptionIds').map(id => num(id, 'subscription id'))
  if (d.shared !== undefined) {
    const target = record(d.shared, 'shared')
    result.shared = { group: str(target.group, 'shared group'), filter: str(target.filter, 'shared filter') }
  }
  return result
}

export function message (value: unknown): Message {
  const m = record(value, 'message')
  const result: Message = {
    topic: str(m.topic, 'topic'),
    payload: bytes(m.payload, 'payload'),
    qos: qos(m.qos),
    retain: bool(m.retain, 'retain'),
    publisher: str(m.publisher, 'publisher'),
    origin: str(m.origin, 'origin')
  }
  if (m.expiresAt !== undefined) result.expiresAt = num(m.expiresAt, 'expiresAt')
  if (m.properties !== undefined) {
    const p = record(m.properties, 'properties')
    const properties: NonNullable<Message['properties']> = {}
    if (p.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = bool(p.payloadFormatIndicator, 'payloadFormatIndicator')
    if (p.contentType !== undefined) properties.contentType = str(p.contentType, 'contentType')
    if (p.responseTopic !== undefined) properties.responseTopic = str(p.responseTopic, 'responseTopic')
    if (p.correlationData !== undefined) properties.correlationData = bytes(p.correlationData, 'correlationData')
    if (p.userProperties !== undefined) {
      properties.userProperties = arr(p.userProperties, 'userProperties').map(item => {
        const pair = arr(item, 'user property')
        return [str(pair[0], 'user property name'), str(pair[1], 'user property value')]
      })
    }
    result.properties = properties
  }
  return result
}
