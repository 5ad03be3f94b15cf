/** A JSON logger whose lines a test can read and wait for. */
import { Writable } from 'node:stream'
import { createLogger, type Logger } from '../../src/core/log.js'
import { waitFor } from './wait.js'

export type LogLine = Record<string, unknown>

export class LogRecorder {
  readonly lines: LogLine[] = []
  readonly log: Logger
  private readonly listeners = new Set<() => void>()

  constructor (level = 'info') {
    const destination = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        for (const line of chunk.toString('utf8').split('\n')) if (line !== '') this.lines.push(JSON.parse(line) as LogLine)
        for (const listener of [...this.listeners]) listener()
        callback()
      }
    })
    this.log = createLogger({ level, format: 'json', node: 'test@127.0.0.1', destination })
  }

  /** The lines whose event is `event`. */
  events (event: string): LogLine[] {
    return this.lines.filter(line => line.msg === event)
  }

  /** Resolves with the first line (written or coming) whose event is `event` and for which `match` holds. */
  async waitForEvent (event: string, match: (line: LogLine) => boolean = () => true, timeoutMs = 5000): Promise<LogLine> {
    return await waitFor<LogLine>(`a ${event} log event`, ({ resolve }) => {
      const check = (): void => {
        const line = this.lines.find(l => l.msg === event && match(l))
        if (line !== undefined) resolve(line)
      }
      this.listeners.add(check)
      check()
      return () => { this.listeners.delete(check) }
    }, { timeoutMs })
  }
}
