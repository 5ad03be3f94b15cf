/**
 * The live tail of the node's actor log events (`/api/v1/logs/stream`, server-sent events read with
 * fetch so the token goes in a header), filtered by actor type, client id prefix and topic filter.
 * A `gap` event (the page read too slowly and the node dropped lines) shows as a row of its own.
 */
import type { Api } from './api.js'
import { appendBounded, byId, fill, h } from './dom.js'

const MAX_ROWS = 500

/** Splits a server-sent-event text stream into events. */
export function* sseEvents (buffer: { text: string }): Generator<{ event: string, data: string }> {
  let end: number
  while ((end = buffer.text.indexOf('\n\n')) >= 0) {
    const block = buffer.text.slice(0, end)
    buffer.text = buffer.text.slice(end + 2)
    let event = 'message'
    const data: string[] = []
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7)
      else if (line.startsWith('data: ')) data.push(line.slice(6))
    }
    if (data.length > 0) yield { event, data: data.join('\n') }
  }
}

/** Levels by label (JSON logs) or number (pretty logs). */
const LEVEL_CLASS: Record<string, string> = { warn: 'warn', error: 'error', fatal: 'error', 40: 'warn', 50: 'error', 60: 'error' }
/** Fields every line has, shown apart or not at all. */
const SHOWN_APART = new Set(['time', 'level', 'msg', 'actor', 'node'])

export class LogPanel {
  private abort: AbortController | undefined
  private readonly form = byId('logs-form', HTMLFormElement)
  private readonly rows = byId('logs-rows', HTMLElement)
  private readonly status = byId('logs-status', HTMLElement)
  private readonly button = byId('logs-toggle', HTMLButtonElement)

  constructor (private readonly api: Api, available: boolean) {
    if (!available) {
      fill(this.status, 'This node was started with a logger of its own: no log stream.')
      this.button.disabled = true
      return
    }
    this.form.addEventListener('submit', event => {
      event.preventDefault()
      if (this.abort === undefined) void this.start()
      else this.stop()
    })
  }

  private stop (): void {
    this.abort?.abort()
    this.abort = undefined
    fill(this.button, 'Tail')
    fill(this.status, 'stopped')
  }

  private async start (): Promise<void> {
    const query = new URLSearchParams()
    for (const name of ['actor', 'clientid', 'topic']) {
      const value = (this.form.elements.namedItem(name) as HTMLInputElement).value.trim()
      if (value !== '') query.set(name, value)
    }
    const abort = new AbortController()
    this.abort = abort
    fill(this.button, 'Stop')
    fill(this.rows)
    fill(this.status, 'tailing')
    try {
      const response = await this.api.request(`/api/v1/logs/stream?${query.toString()}`, { signal: abort.signal })
      const reader = response.body?.pipeThrough(new TextDecoderStream()).getReader()
      const buffer = { text: '' }
      for (;;) {
        const chunk = await reader?.read()
        if (chunk === undefined || chunk.done) break
        buffer.text += chunk.value
        for (const { event, data } of sseEvents(buffer)) this.show(event, data)
      }
      if (this.abort === abort) fill(this.status, 'the node closed the stream')
    } catch (err) {
      if (!abort.signal.aborted) fill(this.status, `log stream: ${(err as Error).message}`)
    }
    if (this.abort === abort) { this.abort = undefined; fill(this.button, 'Tail') }
  }

  private show (event: string, data: string): void {
    if (event === 'gap') {
      const { dropped } = JSON.parse(data) as { dropped: number }
      appendBounded(this.rows, h('div', { class: 'row gap' }, `… ${dropped} lines dropped: this page read too slowly`), MAX_ROWS)
      return
    }
    const entry = JSON.parse(data) as Record<string, unknown>
    const { time, level, msg, actor } = entry
    const detail = Object.entries(entry).filter(([key]) => !SHOWN_APART.has(key)).map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`).join(' ')
    appendBounded(this.rows, h('div', { class: `row ${LEVEL_CLASS[String(level)] ?? ''}` },
      h('time', {}, typeof time === 'string' ? time.slice(11, 23) : ''), h('span', { class: 'badge' }, typeof actor === 'string' ? actor : '-'),
      h('strong', {}, typeof msg === 'string' ? msg : ''), ' ', h('span', { class: 'muted' }, detail)), MAX_ROWS)
  }
}
