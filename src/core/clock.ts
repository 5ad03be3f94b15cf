/**
 * The time source of the broker's timed rules (session expiry, will delay, message expiry):
 * `now()` and one-shot timers. The broker runs on the system clock; tests hand it a ManualClock
 * and move time forward instead of sleeping.
 */

/** Cancels a scheduled timer; does nothing once it has fired. */
export type CancelTimer = () => void

export interface Clock {
  /** Milliseconds since the epoch. */
  now: () => number
  /** Calls `fire` once, `ms` milliseconds from now. */
  schedule: (ms: number, fire: () => void) => CancelTimer
}

/** Node's timers take at most 2^31 - 1 ms; a longer delay fires at once, so it is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** Wall-clock time and Node timers. */
export const systemClock: Clock = {
  now: Date.now,
  schedule (ms, fire) {
    let timer: NodeJS.Timeout
    const wait = (left: number): void => {
      timer = left > MAX_TIMER_MS
        ? setTimeout(() => { wait(left - MAX_TIMER_MS) }, MAX_TIMER_MS)
        : setTimeout(fire, left)
    }
    wait(ms)
    return () => { clearTimeout(timer) }
  }
}

interface ManualTimer { at: number, seq: number, fire: () => void }

/**
 * A clock that moves only when told: `advance(ms)` moves time forward and fires the timers that
 * fall due, in order of their due time. It starts at the wall-clock time of its creation, so
 * absolute times it produces (message expiry) look like real ones.
 */
export class ManualClock implements Clock {
  private time: number
  private timers: ManualTimer[] = []
  private seq = 0

  constructor (start = Date.now()) {
    this.time = start
  }

  readonly now = (): number => this.time

  readonly schedule = (ms: number, fire: () => void): CancelTimer => {
    const timer: ManualTimer = { at: this.time + Math.max(0, ms), seq: this.seq++, fire }
    this.timers.push(timer)
    return () => { this.timers = this.timers.filter(t => t !== timer) }
  }

  /** Timers scheduled and not yet fired or cancelled. */
  get pending (): number { return this.timers.length }

  /** Moves time forward by `ms`, firing every timer due by then (a timer set by a firing one included). */
  advance (ms: number): void {
    const target = this.time + ms
    for (;;) {
      const next = this.nextDue(target)
      if (next === undefined) break
      this.timers = this.timers.filter(t => t !== next)
      this.time = next.at
      next.fire()
    }
    this.time = target
  }

  private nextDue (limit: number): ManualTimer | undefined {
    let next: ManualTimer | undefined
    for (const timer of this.timers) {
      if (timer.at > limit) continue
      if (next === undefined || timer.at < next.at || (timer.at === next.at && timer.seq < next.seq)) next = timer
    }
    return next
  }
}
