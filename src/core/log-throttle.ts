/**
 * A log event that can repeat in floods (messages dropped, forwards failed): the first occurrence
 * is written at once, then at most one line per interval. Every line carries the exact counts of
 * the occurrences it summarises, and a trailing line (on a timer that does not hold the process
 * open) writes what the last interval held, so no count is lost and none is written twice.
 *
 *   const drops = new ThrottledLogEvent(line => { log.warn(line, 'message_dropped') })
 *   drops.add({ count: 1 }, { reason: 'queue_full', topic })
 *   // → {reason: 'queue_full', topic, count: 1} now; later ones summed into one line per second
 */

/** Time as the throttle sees it; injectable for tests. */
export interface ThrottleClock {
  now: () => number
  /** Calls `callback` after `ms`, without holding the process open; returns a function that cancels it. */
  schedule: (ms: number, callback: () => void) => () => void
}

export const systemThrottleClock: ThrottleClock = {
  now: Date.now,
  schedule: (ms, callback) => {
    const timer = setTimeout(callback, ms)
    timer.unref()
    return () => { clearTimeout(timer) }
  }
}

export const DEFAULT_LOG_THROTTLE_MS = 1_000

export interface ThrottledLogInit<Counter extends string> {
  /** The counters every line carries (0 when none occurred). Default `['count']`. */
  counters?: readonly Counter[]
  /** At most one line per this many milliseconds. Default 1000. */
  intervalMs?: number
  clock?: ThrottleClock
}

export class ThrottledLogEvent<Counter extends string = 'count'> {
  private readonly counters: readonly Counter[]
  private readonly intervalMs: number
  private readonly clock: ThrottleClock
  private pending: Record<Counter, number>
  private pendingAny = false
  private fields: Record<string, unknown> = {}
  private lastWriteAt: number | undefined
  private cancelTimer: (() => void) | undefined

  /** `write` gets the fields of the latest occurrence with the summed counters. */
  constructor (private readonly write: (line: Record<string, unknown>) => void, init: ThrottledLogInit<Counter> = {}) {
    this.counters = init.counters ?? ['count' as Counter]
    this.intervalMs = init.intervalMs ?? DEFAULT_LOG_THROTTLE_MS
    this.clock = init.clock ?? systemThrottleClock
    this.pending = this.zero()
  }

  /**
   * Records occurrences: `counts` are added to the next line's counters, `fields` describe them
   * (the latest occurrence's fields are the line's).
   */
  add (counts: Partial<Record<Counter, number>>, fields: Record<string, unknown> = {}): void {
    for (const counter of this.counters) this.pending[counter] += counts[counter] ?? 0
    this.pendingAny = true
    this.fields = fields
    const now = this.clock.now()
    if (this.lastWriteAt === undefined || now - this.lastWriteAt >= this.intervalMs) {
      this.writePending(now)
      return
    }
    this.cancelTimer ??= this.clock.schedule(this.lastWriteAt + this.intervalMs - now, () => {
      this.cancelTimer = undefined
      this.writePending(this.clock.now())
    })
  }

  /** Writes what is pending now and cancels the trailing line (the source stops). */
  flush (): void {
    this.writePending(this.clock.now())
  }

  private writePending (now: number): void {
    this.cancelTimer?.()
    this.cancelTimer = undefined
    if (!this.pendingAny) return
    const line = { ...this.fields, ...this.pending }
    this.pending = this.zero()
    this.pendingAny = false
    this.lastWriteAt = now
    this.write(line)
  }

  private zero (): Record<Counter, number> {
    const counts: Partial<Record<Counter, number>> = {}
    for (const counter of this.counters) counts[counter] = 0
    return counts as Record<Counter, number>
  }
}
