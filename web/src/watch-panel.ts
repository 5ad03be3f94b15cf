/**
 * Subscribe and watch: an MQTT client in the page (MQTT.js, loaded when first used) on the node's
 * WebSocket listener, which the page learns from /api/v1/dashboard. It shows what arrives on the
 * filter given, and once a second publishes a probe (QoS 0) to a topic of its own and times its
 * return: the latency chart's round trip, page → node → broker routing → page.
 */
import type { MqttClient } from 'mqtt'
import type { LatencyChart } from './charts.js'
import { appendBounded, byId, fill, h } from './dom.js'
import type { ListenerView } from './types.js'

/** Messages shown at once (the oldest leave). */
const MAX_ROWS = 200
/** Characters of a payload shown. */
const MAX_PAYLOAD_CHARS = 300
const PROBE_INTERVAL_MS = 1000

/** The URL of a WebSocket listener as this page can reach it (a wildcard or loopback host: the page's own host). */
export function webSocketUrl (listeners: readonly ListenerView[], page: Location): string | undefined {
  const secure = page.protocol === 'https:'
  const candidates = listeners.filter(listener => listener.type === 'ws' || listener.type === 'wss')
  const listener = candidates.find(l => (l.type === 'wss') === secure) ?? candidates[0]
  if (listener === undefined) return undefined
  const wildcard = ['0.0.0.0', '::', '', '127.0.0.1', '::1', 'localhost'].includes(listener.host)
  const host = wildcard ? page.hostname : listener.host
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
  return `${listener.type}://${bracketed}:${listener.port}${listener.path ?? '/mqtt'}`
}

export class WatchPanel {
  private client: MqttClient | undefined
  private filter: string | undefined
  private probeTimer: ReturnType<typeof setInterval> | undefined
  private readonly clientId = `dashboard-${Math.random().toString(36).slice(2, 10)}`
  private readonly probeTopic = `meshmq-dashboard/${this.clientId}/probe`
  private readonly form = byId('watch-form', HTMLFormElement)
  private readonly topic = byId('watch-topic', HTMLInputElement)
  private readonly username = byId('watch-username', HTMLInputElement)
  private readonly password = byId('watch-password', HTMLInputElement)
  private readonly status = byId('watch-status', HTMLElement)
  private readonly rows = byId('watch-rows', HTMLElement)

  constructor (private readonly url: string | undefined, private readonly latency: LatencyChart) {
    if (url === undefined) {
      fill(this.status, 'This node has no ws or wss listener: add one (README "Listeners") to watch topics from here.')
      for (const element of this.form.elements) (element as HTMLInputElement).disabled = true
      return
    }
    fill(this.status, `not connected (${url})`)
    this.form.addEventListener('submit', event => { event.preventDefault(); void this.watch(this.topic.value.trim()) })
  }

  private async watch (filter: string): Promise<void> {
    if (filter === '' || this.url === undefined) return
    const client = this.client ?? await this.connect(this.url)
    if (this.filter !== undefined && this.filter !== filter) client.unsubscribe(this.filter)
    this.filter = filter
    client.subscribe(filter, { qos: 1 }, (err, granted) => {
      const code = granted?.[0]?.qos
      fill(this.status, err instanceof Error ? `subscribe failed: ${err.message}` : code !== undefined && code >= 0x80 ? `subscribe refused (0x${code.toString(16)})` : `watching ${filter} on ${this.url ?? ''}`)
    })
  }

  private async connect (url: string): Promise<MqttClient> {
    fill(this.status, `connecting to ${url}…`)
    const mqtt = (await import('mqtt')).default
    const client = mqtt.connect(url, {
      clientId: this.clientId,
      clean: true,
      protocolVersion: 5,
      reconnectPeriod: 3000,
      connectTimeout: 5000,
      ...(this.username.value === '' ? {} : { username: this.username.value, password: this.password.value })
    })
    this.client = client
    client.on('connect', () => {
      client.subscribe(this.probeTopic, { qos: 0 })
      if (this.filter !== undefined) client.subscribe(this.filter, { qos: 1 })
    })
    client.on('error', err => { fill(this.status, `MQTT error: ${err.message}`) })
    client.on('close', () => { fill(this.status, `disconnected from ${url}; retrying`) })
    client.on('message', (topic, payload, packet) => {
      if (topic === this.probeTopic) {
        const sent = Number(new TextDecoder().decode(payload))
        if (Number.isFinite(sent)) this.latency.add(Date.now(), performance.now() - sent)
        return
      }
      const text = new TextDecoder().decode(payload)
      appendBounded(this.rows, h('div', { class: 'row', 'data-topic': topic },
        h('time', {}, new Date().toLocaleTimeString()), h('span', { class: 'topic' }, topic),
        h('span', { class: 'badge' }, `QoS ${packet.qos}${packet.retain ? ' retained' : ''}`),
        h('span', { class: 'payload' }, text.length > MAX_PAYLOAD_CHARS ? `${text.slice(0, MAX_PAYLOAD_CHARS)}…` : text)), MAX_ROWS)
    })
    this.probeTimer ??= setInterval(() => {
      if (client.connected) client.publish(this.probeTopic, String(performance.now()), { qos: 0 })
    }, PROBE_INTERVAL_MS)
    return client
  }
}
