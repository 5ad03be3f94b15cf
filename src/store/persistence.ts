/**
 * The actors' port to the node's store (`Durable`, src/core/store/durable.ts) over the group
 * commit: each call appends the writes of one record (records.ts) in the caller's turn. Delivery
 * records get keys from one sequence that goes on after the highest found at start.
 */
import type { Durable, StoreStats, StoredSession } from '../core/store/durable.js'
import type { Delivery, InflightEntry, SubscriptionOptions } from '../core/session/session-state.js'
import type { RetainedEntry } from '../core/routing/retained-replica.js'
import type { GroupCommit } from './group-commit.js'
import {
  awaitingRelKey, deliveryKey, encodeAwaitingRel, encodeDelivery, encodeRetained, encodeStoredSession, encodeSubscription, retainedKey, sessionKey,
  subscriptionKey
} from './records.js'

export class Persistence implements Durable {
  /** `lastSeq`: the highest record sequence number in the store. */
  constructor (readonly commit: GroupCommit, private lastSeq: number) {}

  get immediate (): boolean { return this.commit.immediate }
  get failure (): Error | undefined { return this.commit.failure }
  get appended (): number { return this.commit.appended }
  get committed (): number { return this.commit.committed }

  stats (): StoreStats {
    const { commits, writes, bytes, failures, cancelled } = this.commit.stats
    return { commits, writes, bytes, failures, cancelled, waitingBytes: this.commit.waitingBytes }
  }

  afterDurable (seq: number, done: () => void): void {
    this.commit.afterDurable(seq, done)
  }

  afterSettled (from: number, to: number, done: () => void): void {
    this.commit.afterSettled(from, to, done)
  }

  /** A fresh record sequence number (delivery and forward records). */
  nextSeq (): number {
    return ++this.lastSeq
  }

  sessionSaved (record: StoredSession): void {
    this.commit.put(sessionKey(record.clientId), encodeStoredSession(record))
  }

  awaitingRelSaved (clientId: string, packetIds: readonly number[]): void {
    if (packetIds.length === 0) this.commit.del(awaitingRelKey(clientId))
    else this.commit.put(awaitingRelKey(clientId), encodeAwaitingRel(packetIds))
  }

  subscriptionSaved (clientId: string, filter: string, options: SubscriptionOptions | undefined): void {
    if (options === undefined) this.commit.del(subscriptionKey(clientId, filter))
    else this.commit.put(subscriptionKey(clientId, filter), encodeSubscription(options))
  }

  sessionRemoved (clientId: string, filters: Iterable<string>, deliveries: Iterable<Delivery>): void {
    this.commit.del(sessionKey(clientId))
    this.commit.del(awaitingRelKey(clientId))
    for (const filter of filters) this.commit.del(subscriptionKey(clientId, filter))
    for (const delivery of deliveries) this.deliverySettled(delivery)
  }

  deliveryKept (clientId: string, delivery: Delivery): void {
    const key = deliveryKey(clientId, this.nextSeq())
    delivery.storeKey = key
    // Encoded when its commit starts: a subscriber's PUBACK before then leaves the store untouched.
    this.commit.putNew(key, () => encodeDelivery(delivery), delivery.message.topic.length + delivery.message.payload.byteLength + 32)
  }

  deliveryInflight (_clientId: string, entry: InflightEntry): void {
    const key = entry.delivery.storeKey
    if (key !== undefined) this.commit.put(key, encodeDelivery(entry.delivery, entry))
  }

  deliverySettled (delivery: Delivery): void {
    const key = delivery.storeKey
    if (key === undefined) return
    delete delivery.storeKey
    this.commit.del(key)
  }

  retainedWritten (entry: RetainedEntry): void {
    const { message } = entry
    if (message === undefined) this.commit.del(retainedKey(entry.topic))
    else this.commit.put(retainedKey(entry.topic), encodeRetained({ ...entry, message }))
  }
}
