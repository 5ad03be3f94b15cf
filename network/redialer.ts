/**
 * Keeps dialing targets (static seeds, lost members) with exponential backoff until an attempt
 * reports success or the target is cancelled. Each attempt is bounded by the dial timeout.
 */
import { Backoff } from './backoff.js'
import type { ClusterLogger } from './logger.js'

/** One attempt; resolves true when the target is connected and identified (stop dialing). */
export type DialAttempt = (signal: AbortSignal) => Promise<boolean>

export interface RedialerInit {
  minMs: number
  maxMs: number
  dialTimeoutMs: number
  logger: ClusterLogger
}

interface Target {
  attempt: DialAttempt
  backoff: Backoff
  timer: NodeJS.Timeout | undefined
}

export class Redialer {
  private readonly targets = new Map<string, Target>()
  private stopped = false

  constructor (private readonly init: RedialerInit) {}

  /** Starts dialing `key` after `initialDelayMs`, unless already dialing it. */
  want (key: string, attempt: DialAttempt, initialDelayMs: number): void {
    if (this.stopped || this.targets.has(key)) return
    const target: Target = { attempt, backoff: new Backoff({ minMs: this.init.minMs, maxMs: this.init.maxMs }), timer: undefined }
    this.targets.set(key, target)
    this.schedule(key, target, initialDelayMs)
  }

  cancel (key: string): void {
    const target = this.targets.get(key)
    if (target === undefined) return
    clearTimeout(target.timer)
    this.targets.delete(key)
  }

  /** Cancels everything and refuses new targets until `resume()`. */
  stop (): void {
    this.stopped = true
    for (const key of [...this.targets.keys()]) this.cancel(key)
  }

  resume (): void {
    this.stopped = false
  }

  private schedule (key: string, target: Target, delayMs: number): void {
    target.timer = setTimeout(() => { void this.run(key, target) }, delayMs)
  }

  private async run (key: string, target: Target): Promise<void> {
    target.timer = undefined
    let done = false
    try {
      done = await target.attempt(AbortSignal.timeout(this.init.dialTimeoutMs))
    } catch (err) {
      this.init.logger.debug({ target: key, attempt: target.backoff.attempts + 1, err }, 'redial_failed')
    }
    if (this.targets.get(key) !== target) return
    if (done) {
      this.targets.delete(key)
      return
    }
    this.schedule(key, target, target.backoff.next())
  }
}
