/**
 * Duplicate suppression on the new node while a session moves between nodes. For a moment the
 * cluster routes a topic to both nodes (a publisher's node has learnt the new node's route but
 * not yet lost the old node's), so a message reaches the session twice: directly, and through the
 * old node, which forwards what its subscriptions still receive. Each copy is matched against
 * the other source by the message's content (origin node, publisher, topic, QoS, retain, payload,
 * properties): a copy that has a counterpart from the other source is a duplicate and dropped,
 * one without is delivered and waits for its counterpart. Counting per content (a multiset) keeps
 * two genuinely identical messages apart: each finds its own counterpart.
 *
 * Bounded: it lives for one handover window (the caller drops it after), holds at most
 * `maxEntries` waiting contents, and past that stops suppressing (copies then go through as the
 * QoS 1 duplicates the protocol allows) rather than ever dropping an unmatched message. Pure.
 */
import { createHash } from 'node:crypto'
import type { Delivery } from './session-state.js'

type Source = 'direct' | 'forwarded'

export class HandoverDedupe {
  private readonly waiting: Record<Source, Map<string, number>> = { direct: new Map(), forwarded: new Map() }
  private entries = 0
  /** Copies dropped as duplicates. */
  suppressed = 0

  constructor (private readonly maxEntries: number) {}

  /** The deliveries from `source` that are not duplicates of copies from the other source. */
  filter (source: Source, deliveries: readonly Delivery[]): Delivery[] {
    return deliveries.filter(delivery => this.admit(source, delivery))
  }

  private admit (source: Source, delivery: Delivery): boolean {
    const key = contentKey(delivery)
    const other = this.waiting[source === 'direct' ? 'forwarded' : 'direct']
    const pending = other.get(key)
    if (pending !== undefined) {
      if (pending === 1) other.delete(key)
      else other.set(key, pending - 1)
      this.entries--
      this.suppressed++
      return false
    }
    if (this.entries >= this.maxEntries) return true
    const own = this.waiting[source]
    own.set(key, (own.get(key) ?? 0) + 1)
    this.entries++
    return true
  }
}

function contentKey (delivery: Delivery): string {
  const { message } = delivery
  const hash = createHash('sha1')
  hash.update(`${message.origin}\0${message.publisher}\0${message.topic}\0${message.qos}\0${message.retain ? 1 : 0}\0`)
  hash.update(message.payload)
  if (message.properties !== undefined) hash.update(JSON.stringify(message.properties))
  return hash.digest('base64')
}
