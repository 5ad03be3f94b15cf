/**
 * Whether a session is backlogged: its client is online and its queue is past the high-water mark
 * (half its limit in messages or in bytes). A backlogged session holds back what other nodes
 * forward to this node (through the node's DeliveryBudget) until its queue is at the low-water
 * mark (a quarter of both limits) again, so a burst waits at the sending node instead of
 * overflowing the queue of a client that keeps up. The gap between the marks keeps the signal
 * from flapping at every message.
 */
import type { SessionState } from './session-state.js'
import type { QueueLimits } from './queue.js'

type QueueBounds = Pick<QueueLimits, 'maxQueuedMessages' | 'maxQueuedBytes'>

/** The queue is at or past half its limit in messages or in bytes. */
export function aboveHighWater (state: SessionState, limits: QueueBounds): boolean {
  return state.queue.length * 2 >= limits.maxQueuedMessages || state.queuedBytes * 2 >= limits.maxQueuedBytes
}

/** The queue is at or below a quarter of its limit in messages and in bytes. */
export function atLowWater (state: SessionState, limits: QueueBounds): boolean {
  return state.queue.length * 4 <= limits.maxQueuedMessages && state.queuedBytes * 4 <= limits.maxQueuedBytes
}

/**
 * Whether the session is backlogged now, given whether it was: marked past the high-water mark,
 * unmarked at the low-water mark, in between it stays as it was.
 */
export function isBacklogged (state: SessionState, limits: QueueBounds, wasBacklogged: boolean): boolean {
  return wasBacklogged ? !atLowWater(state, limits) : aboveHighWater(state, limits)
}
