/**
 * Structured logging (pino). Convention, as in EMQX: the message of a log line is a snake_case
 * event name and everything else goes into fields, so lines can be searched by event:
 *
 *   log.info({ clientid, protocol: 5 }, 'client_connected')
 *   log.warn({ node, topic, err }, 'forward_failed')
 *
 * Each actor and component logs through a child of the root logger naming it and its identifying
 * fields: `log.child({ actor: 'session', clientid })`.
 */
import { pino, stdTimeFunctions, type DestinationStream, type Logger, type LoggerOptions } from 'pino'
import pretty from 'pino-pretty'
import type { LogTap } from './log-tap.js'

export type { Logger }

function isTTY (stream: NodeJS.WritableStream): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true
}

/**
 * Root logger. JSON lines (ISO `time`, `level` label, `msg`) to `destination` (default stdout);
 * pretty text (pino-pretty, synchronous, colorized when the destination is a TTY) when format is
 * 'pretty', or 'auto' and the destination is a TTY. Base field: `node` (node name); no pid or
 * hostname. With a `tap`, every line (JSON, before any pretty formatting) is also handed to it.
 */
export function createLogger (options: {
  level: string
  format: 'json' | 'pretty' | 'auto'
  node: string
  destination?: NodeJS.WritableStream
  tap?: LogTap
}): Logger {
  const destination = options.destination ?? process.stdout
  const tap = options.tap
  const base: LoggerOptions = {
    level: options.level,
    base: { node: options.node },
    ...(tap === undefined ? {} : { hooks: { streamWrite: (line: string) => { tap.write(line); return line } } })
  }
  const usePretty = options.format === 'pretty' || (options.format === 'auto' && isTTY(destination))
  if (usePretty) {
    const stream = pretty({
      sync: true,
      colorize: isTTY(destination),
      translateTime: 'SYS:HH:MM:ss.l',
      singleLine: true,
      destination
    })
    return pino(base, stream)
  }
  return pino({
    ...base,
    timestamp: stdTimeFunctions.isoTime,
    formatters: { level: label => ({ level: label }) }
  }, options.destination === undefined ? pino.destination({ dest: 1, sync: true }) : destination as DestinationStream)
}
