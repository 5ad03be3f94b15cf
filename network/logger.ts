/**
 * The logger the cluster network writes to: the pino call shape `(fields, msg)`, so a pino logger
 * (or a child of one) can be passed as is. `msg` is always a snake_case event name.
 */
export interface ClusterLogger {
  info(fields: Record<string, unknown>, msg: string): void
  warn(fields: Record<string, unknown>, msg: string): void
  debug(fields: Record<string, unknown>, msg: string): void
  error(fields: Record<string, unknown>, msg: string): void
}

/** Discards everything; the default when no logger is given. */
export const silentLogger: ClusterLogger = {
  info () {},
  warn () {},
  debug () {},
  error () {}
}

/**
 * Limits a repeated log line (e.g. `forward_failed` on a hot path) to one per interval, carrying
 * the number of suppressed occurrences in `suppressed`.
 */
export class LogThrottle {
  private readonly lastAt = new Map<string, number>()
  private readonly suppressed = new Map<string, number>()

  constructor (private readonly intervalMs: number, private readonly now: () => number = Date.now) {}

  /** Calls `write` with the suppressed count when `key` was not written within the interval. */
  run (key: string, write: (suppressed: number) => void): void {
    const now = this.now()
    const last = this.lastAt.get(key)
    if (last !== undefined && now - last < this.intervalMs) {
      this.suppressed.set(key, (this.suppressed.get(key) ?? 0) + 1)
      return
    }
    const count = this.suppressed.get(key) ?? 0
    this.lastAt.set(key, now)
    this.suppressed.delete(key)
    write(count)
  }
}
