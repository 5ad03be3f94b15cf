/**
 * A session's counted warnings: messages it dropped (`message_dropped`, one throttled line per
 * reason), subscriptions it refused (`subscription_refused`) and what the ACL refused its client
 * (`not_authorized`, one line per access: PUBLISH and wills dropped, filters refused, messages
 * withheld). Each is counted exactly in the
 * metrics; its log line comes at once for the first of a burst, then at most once a second with
 * the exact count (log-throttle.ts). Each line is created with its first use.
 */
import { ThrottledLogEvent } from '../src/core/log-throttle.js'
import type { Logger } from '../src/core/log.js'
import { countDropped, metrics } from '../src/core/metrics.js'
import type { DropReason } from '../src/core/session/session-output.js'

/** What the ACL refused: the client's PUBLISH, its will, a SUBSCRIBE filter, or a message for it. */
export type RefusedAccess = 'publish' | 'will' | 'subscribe' | 'read'

export class SessionWarnings {
  private dropLogs: Map<DropReason, ThrottledLogEvent> | undefined
  private refusalLog: ThrottledLogEvent | undefined
  private aclLogs: Map<RefusedAccess, ThrottledLogEvent> | undefined

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

  /**
   * The ACL refused `access` to `topic`: a PUBLISH or will dropped (`messages/dropped/not_authorized`),
   * a filter refused, or a message withheld from the client. Logged as a warning, but withheld
   * messages at info: a `#` subscriber under an ACL sees that all the time.
   */
  notAuthorized (access: RefusedAccess, topic: string): void {
    if (access === 'subscribe') metrics.subscriptionsNotAuthorized++
    else if (access === 'read') metrics.deliveriesNotAuthorized++
    else countDropped('not_authorized')
    const logs = this.aclLogs ??= new Map<RefusedAccess, ThrottledLogEvent>()
    let line = logs.get(access)
    if (line === undefined) {
      logs.set(access, line = new ThrottledLogEvent(access === 'read'
        ? fields => { this.log().info(fields, 'not_authorized') }
        : fields => { this.log().warn(fields, 'not_authorized') }))
    }
    line.add({ count: 1 }, { access, topic: topic.slice(0, 256) })
  }

  /** Writes the counts not yet logged (the session ends or the node stops). */
  flush (): void {
    for (const line of this.dropLogs?.values() ?? []) line.flush()
    for (const line of this.aclLogs?.values() ?? []) line.flush()
    this.refusalLog?.flush()
  }
}
