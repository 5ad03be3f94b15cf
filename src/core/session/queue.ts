/**
 * The session queue: QoS 1/2 messages waiting for the client to come back, for room in the
 * in-flight window [MQTT-4.9.0-2] or for a slow consumer's socket to drain. Bounded in messages
 * and bytes per session, and in bytes per node (the node's DeliveryBudget, shared by every
 * session); the drop policy applies at either bound and every drop is reported with its reason.
 */
import type { QueueDropPolicy } from '../config/config.js'
import type { Delivery, SessionState } from './session-state.js'
import type { SessionOutput } from './session-output.js'

/** The queue's bounds and what to drop when one is reached (the broker's `mqtt` settings). */
export interface QueueLimits {
  maxQueuedMessages: number
  maxQueuedBytes: number
  queueDropPolicy: QueueDropPolicy
}

/** The node-wide budget of queued bytes, as a queue uses it (a DeliveryBudget). */
export interface QueueBudget {
  /** Whether `bytes` more fit in the node's budget. */
  fits: (bytes: number) => boolean
  hold: (bytes: number) => void
  release: (bytes: number) => void
}

/** Bytes a queued delivery is counted for beyond its topic, payload and properties (the objects holding it). */
const QUEUE_ENTRY_OVERHEAD_BYTES = 96

/** What a queued delivery is counted for: its topic, payload and properties plus a fixed overhead. */
export function deliveryBytes (delivery: Delivery): number {
  const { message } = delivery
  let bytes = QUEUE_ENTRY_OVERHEAD_BYTES + message.topic.length + message.payload.length
  const p = message.properties
  if (p !== undefined) {
    bytes += (p.contentType?.length ?? 0) + (p.responseTopic?.length ?? 0) + (p.correlationData?.length ?? 0)
    if (p.userProperties !== undefined) for (const [key, value] of p.userProperties) bytes += key.length + value.length
  }
  return bytes
}

/**
 * Appends a delivery to the session queue, within `maxQueuedMessages` and `maxQueuedBytes` of the
 * session and the node's budget. At a bound, `drop_newest` drops the new delivery and
 * `drop_oldest` the head of this session's queue until it fits (the new one when the queue holds
 * nothing more to drop). Drops go to `out` with their reason: `queue_full` for the session's
 * bounds, `node_queue_full` for the node's.
 */
export function enqueue (state: SessionState, delivery: Delivery, limits: QueueLimits, budget: QueueBudget, out: Pick<SessionOutput, 'dropped' | 'settled'>): void {
  const bytes = deliveryBytes(delivery)
  const dropNewest = limits.queueDropPolicy === 'drop_newest'
  if (bytes > limits.maxQueuedBytes) {
    drop(out, 'queue_full', delivery)
    return
  }
  while (state.queue.length >= limits.maxQueuedMessages || state.queuedBytes + bytes > limits.maxQueuedBytes) {
    if (dropNewest || state.queue.length === 0) {
      drop(out, 'queue_full', delivery)
      return
    }
    drop(out, 'queue_full', dropHead(state, budget))
  }
  while (!budget.fits(bytes)) {
    if (dropNewest || state.queue.length === 0) {
      drop(out, 'node_queue_full', delivery)
      return
    }
    drop(out, 'node_queue_full', dropHead(state, budget))
  }
  state.queue.push(delivery)
  state.queuedBytes += bytes
  budget.hold(bytes)
}

function drop (out: Pick<SessionOutput, 'dropped' | 'settled'>, reason: 'queue_full' | 'node_queue_full', delivery: Delivery): void {
  out.dropped(reason, delivery.message.topic)
  out.settled(delivery)
}

/** Takes the head of a non-empty queue out, releasing its bytes. */
function dropHead (state: SessionState, budget: QueueBudget): Delivery {
  const head = state.queue.shift()!
  released(state, head, budget)
  return head
}

/** A delivery left the queue (sent, expired or dropped): its bytes are released. */
export function released (state: SessionState, delivery: Delivery, budget: QueueBudget): void {
  const bytes = deliveryBytes(delivery)
  state.queuedBytes = Math.max(0, state.queuedBytes - bytes)
  budget.release(bytes)
}

/** Empties the queue (the session is discarded), releasing its bytes; returns how many messages it held. */
export function clearQueue (state: SessionState, budget: QueueBudget): number {
  const count = state.queue.length
  for (const delivery of state.queue) budget.release(deliveryBytes(delivery))
  state.queue = []
  state.queuedBytes = 0
  return count
}
