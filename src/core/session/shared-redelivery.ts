/**
 * Redelivery for shared subscriptions (MQTT 5 §4.8.2): when a member's connection drops, the QoS
 * 1/2 messages it got as a member and has not acknowledged go to another member of the group
 * (the spec allows it "as soon as it loses its connection"; EMQX does it when the session ends).
 */
import type { Message, SharedTarget } from '../mqtt/message.js'
import { shardForTopic } from '../routing/shard-index.js'
import type { Delivery, SessionState } from './session-state.js'
import { released, type QueueBudget } from './queue.js'

/** A message a shared subscription's member left unacknowledged, to hand to another member. */
export interface SharedRedelivery { message: Message, target: SharedTarget }

/**
 * Takes out of the session, oldest first, the deliveries it got as a shared member that the client
 * has not acknowledged: in flight before PUBACK / PUBREC (a PUBREC'd QoS 2 message is the
 * client's), then queued (their bytes released).
 */
export function takeUnackedShared (state: SessionState, budget: QueueBudget): Delivery[] {
  const taken: Delivery[] = []
  const inflight = state.inflight
  if (inflight !== undefined) {
    for (const [packetId, entry] of inflight) {
      if (entry.phase !== 'publish' || entry.delivery.shared === undefined) continue
      taken.push(entry.delivery)
      inflight.delete(packetId)
    }
  }
  if (state.queue.some(delivery => delivery.shared !== undefined)) {
    const kept: Delivery[] = []
    for (const delivery of state.queue) {
      if (delivery.shared === undefined) {
        kept.push(delivery)
        continue
      }
      taken.push(delivery)
      released(state, delivery, budget)
    }
    state.queue = kept
  }
  return taken
}

/** Shared deliveries grouped by the trie shard of their topic (the shard that holds their group); others are left out. */
export function redeliveriesByShard (deliveries: readonly Delivery[], shardCount: number): Map<number, SharedRedelivery[]> {
  const perShard = new Map<number, SharedRedelivery[]>()
  for (const { message, shared } of deliveries) {
    if (shared === undefined) continue
    const shard = shardForTopic(message.topic, shardCount)
    const items = perShard.get(shard)
    if (items === undefined) perShard.set(shard, [{ message, target: shared }])
    else items.push({ message, target: shared })
  }
  return perShard
}
