/**
 * Clients the authenticator refused: counted (`$SYS/…/clients/auth_failed`) and logged as
 * `connect_refused` with the authenticator's reason. A client retrying bad credentials in a loop
 * could flood the log, so each reason is throttled (the first line at once, then one line a second
 * with the count; see log-throttle.ts).
 */
import { ThrottledLogEvent } from '../core/log-throttle.js'
import { metrics } from '../core/metrics.js'
import type { Logger } from '../core/log.js'

/** Reasons with a throttle of their own; any further reason shares one (a custom authenticator's reasons are not bounded). */
const MAX_REASONS = 64

/** One refusal's log fields. */
export interface AuthRefusal {
  remote: string
  clientid: string
  username?: string | undefined
  reason: string
  reason_code: number
}

export class AuthRefusals {
  private readonly byReason = new Map<string, ThrottledLogEvent>()
  private readonly overflow: ThrottledLogEvent

  constructor (private readonly log: Logger) {
    this.overflow = this.event()
  }

  record (refusal: AuthRefusal): void {
    metrics.authFailed++
    let event = this.byReason.get(refusal.reason)
    if (event === undefined) {
      event = this.byReason.size < MAX_REASONS ? this.event() : this.overflow
      if (event !== this.overflow) this.byReason.set(refusal.reason, event)
    }
    event.add({ count: 1 }, { ...refusal })
  }

  /** Writes the counts still pending (the listener closes). */
  flush (): void {
    for (const event of this.byReason.values()) event.flush()
    this.overflow.flush()
  }

  private event (): ThrottledLogEvent {
    return new ThrottledLogEvent(line => { this.log.info(line, 'connect_refused') })
  }
}
