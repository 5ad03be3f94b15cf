/**
 * The live tail of the node's log events (`GET /api/v1/logs/stream`, server-sent events), fed by
 * the tap on the node's logger (src/core/log-tap.ts). A newcomer first gets the recent lines the tap
 * keeps that match its filter, then each new one.
 *
 * A slow reader never slows the node: each line goes to the socket while the socket takes it; once
 * the socket's buffer is full (`write` returns false) lines wait in the stream's own queue, bounded
 * in count and bytes (`LogStreamLimits`), and lines beyond it are dropped and counted. When the
 * socket drains, the queue is written, then one `gap` event saying how many lines were dropped.
 * At most `maxStreams` streams are open at once; one more is refused (503). Bounds: `http.logStream*`.
 */
import type { ServerResponse } from 'node:http'
import type { HttpConfig } from '../core/config/schema.js'
import type { LogTap } from '../core/log-tap.js'
import { topicMatches } from '../core/mqtt/topic.js'

export interface LogStreamLimits {
  /** Streams open at once on this node. */
  maxStreams: number
  /** Lines a stream holds while its socket is full. */
  queueLines: number
  /** Bytes (UTF-16 code units) of those lines. */
  queueBytes: number
}

/** The bounds `http.*` sets. */
export function logStreamLimitsOf (http: HttpConfig): LogStreamLimits {
  return { maxStreams: http.logStreams, queueLines: http.logStreamQueueLines, queueBytes: http.logStreamQueueBytes }
}

/** Which log events a stream gets; each given field must match. */
export interface LogFilter {
  /** The `actor` field (`session`, `trie_shard`, `cluster`, …), exact. */
  actor?: string
  /** The `clientid` field, as a prefix. */
  clientid?: string
  /** A topic filter the event's `topic` matches (`sensors/#`), or equal to its `filter` field. */
  topic?: string
}

/** Whether a parsed log line passes `filter`. */
export function matchesLogFilter (filter: LogFilter, fields: Record<string, unknown>): boolean {
  if (filter.actor !== undefined && fields.actor !== filter.actor) return false
  if (filter.clientid !== undefined) {
    const clientId = fields.clientid ?? fields.clientId
    if (typeof clientId !== 'string' || !clientId.startsWith(filter.clientid)) return false
  }
  if (filter.topic !== undefined) {
    const topic = fields.topic
    const byTopic = typeof topic === 'string' && (topic === filter.topic || topicMatches(filter.topic, topic))
    if (!byTopic && fields.filter !== filter.topic) return false
  }
  return true
}

function parse (line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line)
    return typeof value === 'object' && value !== null ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

/** One server-sent event. */
function frame (event: string, data: string): string {
  return `event: ${event}\ndata: ${data.replace(/\n/g, '\\n')}\n\n`
}

/** One open stream: its socket and its bounded queue. */
class LogSubscriber {
  private readonly queue: string[] = []
  private queueBytes = 0
  private waiting = false
  /** Lines dropped since the last `gap` event. */
  private dropped = 0
  droppedTotal = 0

  constructor (private readonly res: ServerResponse, readonly filter: LogFilter, private readonly limits: LogStreamLimits) {
    res.on('drain', () => { this.flush() })
    // A write racing the socket's close must not become an unhandled 'error'.
    res.on('error', () => {})
  }

  /** Whether the stream can still be written (not ended, its socket not gone). */
  get open (): boolean { return !this.res.writableEnded && !this.res.destroyed }

  /** Whether nothing waits to be written (for a keepalive comment). */
  get idle (): boolean { return !this.waiting && this.res.writableLength === 0 }

  send (chunk: string): void {
    if (!this.open) return
    if (!this.waiting) {
      this.waiting = !this.res.write(chunk)
      return
    }
    if (this.queue.length >= this.limits.queueLines || this.queueBytes + chunk.length > this.limits.queueBytes) {
      this.dropped++
      this.droppedTotal++
      return
    }
    this.queue.push(chunk)
    this.queueBytes += chunk.length
  }

  private flush (): void {
    this.waiting = false
    if (!this.open) return
    while (this.queue.length > 0 && !this.waiting) {
      const chunk = this.queue.shift()!
      this.queueBytes -= chunk.length
      this.waiting = !this.res.write(chunk)
    }
    if (this.queue.length === 0 && this.dropped > 0) {
      const dropped = this.dropped
      this.dropped = 0
      this.waiting = !this.res.write(frame('gap', JSON.stringify({ dropped, reason: 'reader_too_slow' })))
    }
  }

  end (): void { if (this.open) this.res.end() }
}

/** A comment line sent on an idle stream so proxies and browsers keep it open. */
const KEEPALIVE_MS = 15_000

export class LogStreamHub {
  private readonly subscribers = new Set<LogSubscriber>()
  private unlisten: (() => void) | undefined
  private keepalive: ReturnType<typeof setInterval> | undefined
  /** Lines dropped at a stream's bound, every stream since start. */
  private droppedClosed = 0

  constructor (private readonly tap: LogTap | undefined, readonly limits: LogStreamLimits) {}

  get available (): boolean { return this.tap !== undefined }
  get full (): boolean { return this.subscribers.size >= this.limits.maxStreams }
  get streams (): number { return this.subscribers.size }
  get dropped (): number {
    let total = this.droppedClosed
    for (const subscriber of this.subscribers) total += subscriber.droppedTotal
    return total
  }

  /** Streams the tap's recent matching lines, then every new one, to `res` (headers already sent) until it closes. */
  open (res: ServerResponse, filter: LogFilter): void {
    const subscriber = new LogSubscriber(res, filter, this.limits)
    for (const line of this.tap?.recent() ?? []) {
      const fields = parse(line)
      if (fields !== undefined && matchesLogFilter(filter, fields)) subscriber.send(frame('log', line))
    }
    this.subscribers.add(subscriber)
    this.unlisten ??= this.tap?.listen(line => { this.dispatch(line) })
    if (this.keepalive === undefined) {
      this.keepalive = setInterval(() => { for (const open of this.subscribers) if (open.idle) open.send(': keepalive\n\n') }, KEEPALIVE_MS)
      this.keepalive.unref()
    }
    res.on('close', () => { this.remove(subscriber) })
  }

  private remove (subscriber: LogSubscriber): void {
    if (!this.subscribers.delete(subscriber)) return
    this.droppedClosed += subscriber.droppedTotal
    if (this.subscribers.size > 0) return
    this.unlisten?.()
    this.unlisten = undefined
    clearInterval(this.keepalive)
    this.keepalive = undefined
  }

  /** One line to every stream whose filter it passes (parsed once). */
  private dispatch (line: string): void {
    const fields = parse(line)
    if (fields === undefined) return
    let chunk: string | undefined
    for (const subscriber of this.subscribers) {
      if (!matchesLogFilter(subscriber.filter, fields)) continue
      chunk ??= frame('log', line)
      subscriber.send(chunk)
    }
  }

  /** Ends every stream (the HTTP server is closing). */
  closeAll (): void {
    for (const subscriber of [...this.subscribers]) {
      subscriber.end()
      this.remove(subscriber)
    }
  }
}
