/**
 * What the actors keep in the node's store, as they see it (the port; src/store/persistence.ts
 * implements it over the group commit). Sessions write their record and the deliveries they hold;
 * trie shards write a delivery as they route it to a persistent session, so it is recorded before
 * the publisher's ack can leave; the retainer writes retained messages (not `$SYS`). Acks of QoS 1/2 publishes
 * wait for `afterDurable` unless `immediate`.
 */
import type { RetainedEntry } from '../routing/retained-replica.js'
import type { Delivery, InflightEntry, SubscriptionOptions, WillMessage } from '../session/session-state.js'

/** A session as it is kept: everything but its messages, which are records of their own. */
export interface StoredSession {
  clientId: string
  createdAt: number
  /** Session Expiry Interval in seconds. */
  expiryInterval: number
  subscriptions: Array<[string, SubscriptionOptions]>
  /** Incoming QoS 2 packet ids awaiting PUBREL [MQTT-4.3.3-*]. */
  awaitingRel: number[]
  /** The username that owns the client id (client-id-owner.ts), when verified. */
  owner?: string
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
  /** Deliveries not in flight, oldest first. */
  queue: Delivery[]
  /** QoS 2 deliveries the client has under a packet id (either phase). */
  inflight: InflightEntry[]
}

export interface Durable {
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
  /** Writes (replaces) a persistent session's record. */
  sessionSaved: (record: StoredSession) => void
  /** Removes a session's record and the records of `deliveries`, the messages it held. */
  sessionRemoved: (clientId: string, deliveries: Iterable<Delivery>) => void
  /** Records a QoS 1/2 delivery to a persistent session; sets its `storeKey`. */
  deliveryKept: (clientId: string, delivery: Delivery) => void
  /** A QoS 2 delivery got its packet id, or went on to PUBREL: its record says so. */
  deliveryInflight: (clientId: string, entry: InflightEntry) => void
  /** The delivery left its session for good (completed, dropped, expired, handed on): its record goes. */
  deliverySettled: (delivery: Delivery) => void
  /** A retained message was stored, replaced or cleared (no `message`) here, locally or from a peer. */
  retainedWritten: (entry: RetainedEntry) => void
}
