/**
 * A session's counted warnings: messages it dropped (`message_dropped`, one throttled line per
 * reason) and subscriptions it refused (`subscription_refused`). Each is counted exactly in the
 * metrics; its log line comes at once for the first of a burst, then at most once a second with
 * the exact count (log-throttle.ts). Each line is created with its first use.
 */
import { ThrottledLogEvent } from '../src/core/log-throttle.js'
import type { Logger } from '../src/core/log.js'
import { countDropped, metrics } from '../src/core/metrics.js'
import type { DropReason } from '../src/core/session/session-output.js'

export class SessionWarnings {
  private dropLogs: Map<DropReason, ThrottledLogEvent> | undefined
  private refusalLog: ThrottledLogEvent | undefined

  /** `log`: the session's logger, created when first asked for. */
  constructor (private readonly log: () => Logger, private readonly queueDropPolicy: string) {}

  dropped (reason: DropReason, topic: string): void {
    countDropped(reason)
    const logs = this.dropLogs ??= new Map<DropReason, ThrottledLogEvent>()
    let line = logs.get(reason)
    if (line === undefined) logs.set(reason, line = new ThrottledLogEvent(fields => { this.log().warn(fields, 'message_dropped') }))
    line.add({ count: 1 }, { reason, topic, policy: this.queueDropPolicy })
  }

  /** Filters refused past `mqtt.maxSubscriptionsPerClient`. */
  subscriptionsRefused (count: number, limit: number): void {
    metrics.subscriptionsRefused += count
    this.refusalLog ??= new ThrottledLogEvent(fields => { this.log().warn(fields, 'subscription_refused') })
    this.refusalLog.add({ count }, { reason: 'quota_exceeded', limit })
  }

  /** Writes the counts not yet logged (the session ends or the node stops). */
  flush (): void {
    for (const line of this.dropLogs?.values() ?? []) line.flush()
    this.refusalLog?.flush()
  }
}
