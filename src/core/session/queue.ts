/**
 * The session queue: QoS 1/2 messages waiting for the client to come back or for room in the
 * in-flight window [MQTT-4.9.0-2], bounded, with a drop policy when full.
 */
import type { QueueDropPolicy } from '../config/config.js'
import type { Delivery, SessionState } from './session-state.js'

/** The queue's bound and what to drop when it is reached (the broker's `mqtt` settings). */
export interface QueueLimits {
  maxQueuedMessages: number
  queueDropPolicy: QueueDropPolicy
}

/**
 * Appends a delivery to the session queue, within `maxQueuedMessages`. When the queue is full,
 * `drop_newest` drops the new delivery and `drop_oldest` the head of the queue. Returns the
 * dropped delivery, if any.
 */
export function enqueue (state: SessionState, delivery: Delivery, limits: QueueLimits): Delivery | undefined {
  const limit = limits.maxQueuedMessages
  if (state.queue.length < limit) {
    state.queue.push(delivery)
    return undefined
  }
  if (limits.queueDropPolicy === 'drop_newest' || limit === 0) return delivery
  const dropped = state.queue.shift()
  state.queue.push(delivery)
  return dropped
}
