/**
 * A tap on the node's log: every line the root logger writes (a JSON line, at the logger's level)
 * is handed to it, before any formatting for a terminal. It keeps the most recent lines in a ring
 * bounded in count and bytes (the oldest leave first) and passes each line to its listeners
 * synchronously; a listener must only enqueue (the dashboard's log stream, src/http/log-stream.ts).
 */

export interface LogTapLimits {
  /** Lines kept for a newcomer. */
  maxLines: number
  /** UTF-16 code units of those lines (about bytes for the ASCII of JSON logs). */
  maxBytes: number
}

export type LogTapListener = (line: string) => void

export class LogTap {
  private readonly lines: string[] = []
  private head = 0
  private bytes = 0
  private readonly listeners = new Set<LogTapListener>()

  constructor (readonly limits: LogTapLimits) {}

  /** Takes one line (pino's `hooks.streamWrite`); a line above `maxBytes` is passed on but not kept. */
  write (line: string): void {
    const text = line.endsWith('\n') ? line.slice(0, -1) : line
    if (text.length <= this.limits.maxBytes) {
      this.lines.push(text)
      this.bytes += text.length
      while (this.lines.length - this.head > this.limits.maxLines || this.bytes > this.limits.maxBytes) {
        this.bytes -= this.lines[this.head]!.length
        this.head++
      }
      if (this.head > 1024 && this.head * 2 > this.lines.length) {
        this.lines.splice(0, this.head)
        this.head = 0
      }
    }
    for (const listener of this.listeners) listener(text)
  }

  /** The lines kept, oldest first. */
  recent (): string[] {
    return this.lines.slice(this.head)
  }

  /** Adds a listener; returns its removal. */
  listen (listener: LogTapListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  get listenerCount (): number { return this.listeners.size }
}
