/**
 * Delivery of matched messages to the session's client: QoS 0 is sent at once or dropped, QoS 1/2
 * goes into the in-flight window or waits in the session queue.
 */
import type { Delivery, SessionState } from './session-state.js'
import type { SessionOutput } from './session-output.js'
import { isExpired } from '../mqtt/message.js'
import { writePublish, type Outbound } from './outbound.js'
import { startFlow, windowHasRoom } from './inflight.js'
import { enqueue, type QueueLimits } from './queue.js'

/**
 * Delivers messages matched for this session. `outbound` is the client's connection, undefined
 * while it is offline. Expired messages are skipped [MQTT-3.3.2-5]. QoS 0 is sent only to an
 * online client and dropped for a congested one; QoS 1/2 is sent while the window has room and
 * nothing is queued ahead of it, else queued (kept for an offline client) under the drop policy.
 */
export function deliver (state: SessionState, outbound: Outbound | undefined, deliveries: readonly Delivery[], limits: QueueLimits, now: number, out: SessionOutput): void {
  for (const delivery of deliveries) {
    if (isExpired(delivery.message, now)) continue
    if (delivery.qos === 0) {
      if (outbound === undefined) continue
      if (out.congested) {
        out.dropped('slow_consumer', delivery.message.topic)
        continue
      }
      writePublish(outbound, delivery, undefined, false, now, out)
      continue
    }
    if (outbound !== undefined && state.queue.length === 0 && windowHasRoom(state, outbound)) {
      startFlow(state, outbound, delivery, now, out)
    } else {
      const dropped = enqueue(state, delivery, limits)
      if (dropped !== undefined) out.dropped('queue_full', dropped.message.topic)
    }
  }
}

/** Sends queued messages, in order, while the in-flight window has room [MQTT-4.9.0-2]; expired ones are skipped. */
export function drainQueue (state: SessionState, outbound: Outbound, now: number, out: SessionOutput): void {
  const queue = state.queue
  let taken = 0
  while (taken < queue.length && windowHasRoom(state, outbound)) {
    const delivery = queue[taken++]!
    if (isExpired(delivery.message, now)) continue
    if (delivery.qos === 0) writePublish(outbound, delivery, undefined, false, now, out)
    else startFlow(state, outbound, delivery, now, out)
  }
  if (taken > 0) queue.splice(0, taken)
}
