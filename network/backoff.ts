/** Exponential backoff with jitter for redials and stream reopens. */

export interface BackoffInit {
  minMs: number
  maxMs: number
  /** Growth per attempt; default 2. */
  factor?: number
  /** Fraction of the delay randomised either way; default 0.2. */
  jitter?: number
  random?: () => number
}

export class Backoff {
  private attempt = 0
  private readonly factor: number
  private readonly jitter: number
  private readonly random: () => number

  constructor (private readonly init: BackoffInit) {
    this.factor = init.factor ?? 2
    this.jitter = init.jitter ?? 0.2
    this.random = init.random ?? Math.random
  }

  /** Attempts made since the last reset. */
  get attempts (): number {
    return this.attempt
  }

  /** The delay before the next attempt. */
  next (): number {
    const base = Math.min(this.init.maxMs, this.init.minMs * this.factor ** this.attempt)
    this.attempt++
    const spread = base * this.jitter * (this.random() * 2 - 1)
    return Math.max(0, Math.round(base + spread))
  }

  reset (): void {
    this.attempt = 0
  }
}
