/**
 * Where a session's deliveries go around a takeover across nodes (see client-registry.ts): a
 * session handed over to another node forwards them there until it ends; a session just taken
 * over drops, for a window, the copies that reach it both directly and through the old node
 * (`HandoverDedupe`).
 */
import { HandoverDedupe } from '../src/core/session/handover-dedupe.js'
import { metrics } from '../src/core/metrics.js'
import type { Delivery } from '../src/core/session/session-state.js'

/** Bound on the message contents a session taken over from another node matches duplicates by. */
const MAX_HANDOVER_DEDUPE_ENTRIES = 10_000

export class SessionHandover {
  private constructor (
    private readonly forwardTo: ((deliveries: Delivery[]) => void) | undefined,
    private readonly dedupe: HandoverDedupe | undefined,
    private readonly until: number
  ) {}

  /** The session was handed over: every delivery goes to `forward`. */
  static handedOver (forward: (deliveries: Delivery[]) => void): SessionHandover {
    return new SessionHandover(forward, undefined, Number.POSITIVE_INFINITY)
  }

  /** The session was just taken over: duplicates are dropped until `now + windowMs`. */
  static takenOver (now: number, windowMs: number): SessionHandover {
    return new SessionHandover(undefined, new HandoverDedupe(MAX_HANDOVER_DEDUPE_ENTRIES), now + windowMs)
  }

  get handedOver (): boolean {
    return this.forwardTo !== undefined
  }

  /** Whether it still applies at `now` (the caller drops it once not). */
  activeAt (now: number): boolean {
    return now <= this.until
  }

  /** The deliveries from `source` to deliver here: none when they were forwarded, no duplicates. */
  admit (deliveries: Delivery[], source: 'direct' | 'forwarded'): Delivery[] {
    if (this.forwardTo !== undefined) {
      this.forwardTo(deliveries)
      return []
    }
    const dedupe = this.dedupe
    if (dedupe === undefined) return deliveries
    const before = dedupe.suppressed
    const admitted = dedupe.filter(source, deliveries)
    metrics.handoverDuplicatesSuppressed += dedupe.suppressed - before
    return admitted
  }
}
