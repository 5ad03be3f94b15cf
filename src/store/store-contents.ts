/**
 * What a node reads back from its store at start: persistent sessions with their messages (in the
 * order they came), retained messages and messages queued for other nodes. Records that belong to
 * nothing (a delivery whose session record is gone: the session ended between the two writes'
 * commits) and messages past their expiry [MQTT-3.3.2-5] are removed. A record that cannot be read
 * stops the start (`StoreCorruptError`): nothing is dropped silently; `meshmq ctl store repair`
 * removes it, saying what it was.
 */
import type { Message } from '../core/mqtt/message.js'
import { isExpired } from '../core/mqtt/message.js'
import type { RestoredSession, StoredSession } from '../core/store/durable.js'
import type { RetainedEntry } from '../core/routing/retained-replica.js'
import type { Store, StoreOp } from './store.js'
import { StoreCorruptError } from './store.js'
import {
  AWAITING_REL_PREFIX, DELIVERY_PREFIX, FORWARD_PREFIX, MEMBERS_KEY, RETAINED_PREFIX, RecordError, SESSION_PREFIX, SUBSCRIPTION_PREFIX,
  decodeAwaitingRel, decodeDelivery, decodeForwarded, decodeMembers, decodeRetained, decodeStoredSession, decodeSubscription,
  parseSequencedKey, parseSubscriptionKey
} from './records.js'

/** A message queued for another node, as read back. */
export interface StoredForward { peer: string, seq: number, key: string, message: Message }

export interface StoreContents {
  sessions: RestoredSession[]
  retained: RetainedEntry[]
  /** Messages queued for other nodes, in the order they were queued. */
  forwards: StoredForward[]
  /** The other members of the node's cluster when it last wrote them (none: it was standalone). */
  members: string[]
  /** The highest record sequence number found. */
  lastSeq: number
  /** Records removed as they belonged to nothing or had expired. */
  removed: { orphans: number, expired: number }
}

/** Reads the store; `now` decides message expiry. Removes what belongs to nothing (one batch). */
export async function readStoreContents (store: Store, now: number): Promise<StoreContents> {
  const where = store.location ?? '(memory)'
  const cleanup: StoreOp[] = []
  const sessions = new Map<string, RestoredSession>()
  for await (const [key, bytes] of store.entries(SESSION_PREFIX)) {
    const record: StoredSession = readRecord(where, key, () => decodeStoredSession(bytes))
    sessions.set(record.clientId, { record, subscriptions: [], awaitingRel: [], queue: [], inflight: [] })
  }
  for await (const [key, bytes] of store.entries(SUBSCRIPTION_PREFIX)) {
    const { clientId, filter } = readRecord(where, key, () => parseSubscriptionKey(key))
    const session = sessions.get(clientId)
    if (session === undefined) cleanup.push({ type: 'del', key })
    else session.subscriptions.push([filter, readRecord(where, key, () => decodeSubscription(bytes))])
  }
  for await (const [key, bytes] of store.entries(AWAITING_REL_PREFIX)) {
    const session = sessions.get(key.slice(AWAITING_REL_PREFIX.length))
    if (session === undefined) cleanup.push({ type: 'del', key })
    else session.awaitingRel = readRecord(where, key, () => decodeAwaitingRel(bytes))
  }
  let lastSeq = 0
  let expired = 0
  let orphans = 0
  for await (const [key, bytes] of store.entries(DELIVERY_PREFIX)) {
    const { owner, seq } = readRecord(where, key, () => parseSequencedKey(key))
    if (seq > lastSeq) lastSeq = seq
    const decoded = readRecord(where, key, () => decodeDelivery(bytes))
    const session = sessions.get(owner)
    if (session === undefined || isExpired(decoded.delivery.message, now)) {
      if (session === undefined) orphans++
      else expired++
      cleanup.push({ type: 'del', key })
      continue
    }
    decoded.delivery.storeKey = key
    if (decoded.packetId !== undefined && decoded.phase !== undefined) session.inflight.push({ packetId: decoded.packetId, delivery: decoded.delivery, phase: decoded.phase })
    else session.queue.push(decoded.delivery)
  }
  const retained: RetainedEntry[] = []
  for await (const [key, bytes] of store.entries(RETAINED_PREFIX)) retained.push(readRecord(where, key, () => decodeRetained(bytes)))
  const forwards: StoredForward[] = []
  for await (const [key, bytes] of store.entries(FORWARD_PREFIX)) {
    const { owner, seq } = readRecord(where, key, () => parseSequencedKey(key))
    if (seq > lastSeq) lastSeq = seq
    forwards.push({ peer: owner, seq, key, message: readRecord(where, key, () => decodeForwarded(bytes)) })
  }
  forwards.sort((a, b) => a.seq - b.seq)
  const membersBytes = await store.get(MEMBERS_KEY)
  const members = membersBytes === undefined ? [] : readRecord(where, MEMBERS_KEY, () => decodeMembers(membersBytes))
  if (cleanup.length > 0) await store.write(cleanup, { sync: false })
  return { sessions: [...sessions.values()], retained, forwards, members, lastSeq, removed: { orphans, expired } }
}

function readRecord<T> (where: string, key: string, read: () => T): T {
  try {
    return read()
  } catch (err) {
    if (err instanceof RecordError) throw new StoreCorruptError(where, `record ${JSON.stringify(key.slice(0, 200))}: ${err.message}`, { cause: err })
    throw err
  }
}
