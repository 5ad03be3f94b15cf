/**
 * A session's part in the node's pressure signal (see delivery-budget.ts and backlog.ts): marks
 * the session backlogged in the node's DeliveryBudget while its client is online and its queue is
 * past the high-water mark, and unmarks it at the low-water mark or when the client goes offline.
 * A backlogged session that does not drain to its low-water mark within the stall timeout (a
 * client that stopped acking, or acks too slowly) is stalled: unmarked, so it cannot hold the
 * node's inbound forwards for ever, until its queue reaches the low-water mark or the client
 * reconnects. A stalled client's queue then overflows under the drop policy like any other.
 */
import type { Clock, CancelTimer } from '../src/core/clock.js'
import type { DeliveryBudget } from '../src/core/session/delivery-budget.js'
import type { SessionState } from '../src/core/session/session-state.js'
import type { QueueLimits } from '../src/core/session/queue.js'
import { atLowWater, isBacklogged } from '../src/core/session/backlog.js'

export class SessionBacklog {
  /** Marked in the node's budget now. */
  backlogged = false
  /** Timed out while backlogged; not marked again before the low-water mark or a reconnect. */
  stalled = false
  /** Counts markings, so a stall timer of an earlier marking is recognised as stale. */
  private marking = 0
  private cancelStallTimer: CancelTimer | undefined

  /** `onStallDue(marking)` is called by the clock; the session passes it to `stallDue` in its own turn. */
  constructor (
    private readonly clientId: string,
    private readonly budget: DeliveryBudget,
    private readonly clock: Clock,
    private readonly stallTimeoutMs: number,
    private readonly onStallDue: (marking: number) => void
  ) {}

  /** Marks or unmarks the session after a turn that may have changed its queue or its connection. */
  update (state: SessionState, limits: QueueLimits, online: boolean): void {
    if (this.stalled && (!online || atLowWater(state, limits))) this.stalled = false
    const backlogged = online && !this.stalled && isBacklogged(state, limits, this.backlogged)
    if (backlogged === this.backlogged) return
    this.set(backlogged)
    if (!backlogged) return
    const marking = ++this.marking
    this.cancelStallTimer = this.clock.schedule(this.stallTimeoutMs, () => { this.onStallDue(marking) })
  }

  /**
   * The stall timer of `marking` fired: if that marking still holds, the session is stalled and
   * unmarked. Returns whether it stalled.
   */
  stallDue (marking: number): boolean {
    if (marking !== this.marking || !this.backlogged) return false
    this.stalled = true
    this.set(false)
    return true
  }

  /** The session ends or the node stops: unmark it. */
  clear (): void {
    this.stalled = false
    if (this.backlogged) this.set(false)
  }

  private set (backlogged: boolean): void {
    this.backlogged = backlogged
    this.budget.setBacklogged(this.clientId, backlogged)
    this.cancelStallTimer?.()
    this.cancelStallTimer = undefined
  }
}
