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
 * Runs an event handler, logging what it throws as `cluster_handler_failed`: a throw inside an
 * EventTarget listener would be reported as uncaught and crash the process.
 */
export function guarded (logger: ClusterLogger, event: string, handle: () => void): void {
  try {
    handle()
  } catch (err) {
    logger.error({ event, err }, 'cluster_handler_failed')
  }
}
