/**
 * What the actors keep in the node's store, as they see it (the port; src/store/persistence.ts
 * implements it over the group commit). Sessions write their record and the deliveries they hold;
 * trie shards write a delivery as they route it to a persistent session, so it is recorded before
 * the publisher's ack can leave; the retainer writes retained messages (not `$SYS`). Acks of QoS 1/2 publishes
 * wait for `afterDurable` unless `immediate`.
 */
import type { RetainedEntry } from '../routing/retained-replica.js'
import type { ClientIdentity } from '../auth/identity.js'
import type { Delivery, InflightEntry, SubscriptionOptions, WillMessage } from '../session/session-state.js'

/** A session as it is kept: everything but its subscriptions and messages, which are records of their own. */
export interface StoredSession {
  clientId: string
  createdAt: number
  /** Session Expiry Interval in seconds. */
  expiryInterval: number
  /** The username that owns the client id (client-id-owner.ts), when verified. */
  owner?: string
  /** Who the client was at its last CONNECT: the ACL checks a restored session's will and messages as that client. */
  identity?: ClientIdentity
  /** The connected client's will, or (with `expiresAt`) the will waiting for its delay. */
  will?: WillMessage
  /** When the session expires (epoch ms): set once the client went away, absent while it is connected. */
  expiresAt?: number
  /** When a will waiting for its delay is due (epoch ms). */
  willDueAt?: number
}

/** A session read back at start, with its messages in the order they came. */
export interface RestoredSession {
  record: StoredSession
  /** Its subscriptions (one record each: a client subscribing one filter at a time rewrites nothing else). */
  subscriptions: Array<[string, SubscriptionOptions]>
  /** Incoming QoS 2 packet ids awaiting PUBREL [MQTT-4.3.3-*] (a record of their own: they change with every QoS 2 PUBLISH). */
  awaitingRel: number[]
  /** Deliveries not in flight, oldest first. */
  queue: Delivery[]
  /** QoS 2 deliveries the client has under a packet id (either phase). */
  inflight: InflightEntry[]
}

/** The store's counters since the node started (`$SYS/brokers/<node>/store/…`). */
export interface StoreStats {
  /** Commits done, and the writes and bytes they carried. */
  commits: number
  writes: number
  bytes: number
  /** Commits that failed (disk full, I/O error); each was tried again. */
  failures: number
  /** Records put and deleted before a commit took them (acknowledged within the window): never written. */
  cancelled: number
  /** Bytes of writes waiting for the next commit. */
  waitingBytes: number
}

export interface Durable {
  /** The store's counters. */
  stats: () => StoreStats
  /** Whether acks leave without waiting for commits (`persistence.mode` none or off). */
  readonly immediate: boolean
  /** Set while the store cannot be written (disk full): new QoS 1/2 publishes are refused. */
  readonly failure: Error | undefined
  /** Sequence number of the last write appended. */
  readonly appended: number
  /** Sequence number of the last write committed. */
  readonly committed: number
  /** Calls `done` once every write up to `seq` is committed. */
  afterDurable: (seq: number, done: () => void) => void
  /**
   * Calls `done` once each write numbered in (from, to], all appended in one turn, is committed or
   * was cancelled (deleted before a commit took it: its subscriber or peer acknowledged it).
   */
  afterSettled: (from: number, to: number, done: () => void) => void
  /** Writes (replaces) a persistent session's record. */
  sessionSaved: (record: StoredSession) => void
  /** Writes one subscription of a persistent session (`options` undefined: it was removed). */
  subscriptionSaved: (clientId: string, filter: string, options: SubscriptionOptions | undefined) => void
  /** Writes a persistent session's incoming QoS 2 packet ids awaiting PUBREL (none: the record goes). */
  awaitingRelSaved: (clientId: string, packetIds: readonly number[]) => void
  /** Removes a session's records: its record, its subscriptions (`filters`) and `deliveries`, the messages it held. */
  sessionRemoved: (clientId: string, filters: Iterable<string>, deliveries: Iterable<Delivery>) => void
  /** Records a QoS 1/2 delivery to a persistent session; sets its `storeKey`. */
  deliveryKept: (clientId: string, delivery: Delivery) => void
  /** A QoS 2 delivery got its packet id, or went on to PUBREL: its record says so. */
  deliveryInflight: (clientId: string, entry: InflightEntry) => void
  /** The delivery left its session for good (completed, dropped, expired, handed on): its record goes. */
  deliverySettled: (delivery: Delivery) => void
  /** A retained message was stored, replaced or cleared (no `message`) here, locally or from a peer. */
  retainedWritten: (entry: RetainedEntry) => void
}
