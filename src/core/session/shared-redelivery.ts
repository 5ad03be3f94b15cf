/**
 * Redelivery for shared subscriptions (MQTT 5 §4.8.2): when a member's connection drops, the QoS
 * 1/2 messages it got as a member and has not acknowledged go to another member of the group
 * (the spec allows it "as soon as it loses its connection"; EMQX does it when the session ends).
 */
import type { Delivery, SessionState } from './session-state.js'
import { released, type QueueBudget } from './queue.js'

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
