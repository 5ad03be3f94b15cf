/**
 * The meshmq dashboard: one page served by a node's HTTP listener, reading the cluster through
 * that node's API. Every second it polls /api/v1/nodes (cluster map, message rates); clients,
 * routes and retained messages load on demand and every 10 s; the watch panel and the log tail
 * start when asked.
 */
import 'uplot/dist/uPlot.min.css'
import '../style.css'
import { Api, ApiError } from './api.js'
import { RateChart, LatencyChart } from './charts.js'
import { ClientsPanel } from './clients-panel.js'
import { renderCluster } from './cluster-panel.js'
import { byId, fill } from './dom.js'
import { LogPanel } from './log-panel.js'
import { TopicsPanel } from './topics-panel.js'
import type { DashboardInfo, NodeView } from './types.js'
import { WatchPanel, webSocketUrl } from './watch-panel.js'

const POLL_MS = 1000
const LISTS_MS = 10_000

const api = new Api()
const tokenForm = byId('token-form', HTMLFormElement)

function askForToken (message: string): void {
  fill(byId('token-message', HTMLElement), message)
  tokenForm.hidden = false
}

tokenForm.addEventListener('submit', event => {
  event.preventDefault()
  api.setToken(byId('token-input', HTMLInputElement).value)
  tokenForm.hidden = true
  void start()
})
api.onUnauthorized = askForToken

let started = false

async function start (): Promise<void> {
  if (started) return
  let info: DashboardInfo
  try {
    info = await api.get<DashboardInfo>('/api/v1/dashboard')
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) fill(byId('poll-status', HTMLElement), `cannot reach the API: ${(err as Error).message}`)
    return
  }
  started = true
  fill(byId('node-name', HTMLElement), `${info.node} · meshmq ${info.version}`)
  document.title = `meshmq · ${info.node}`

  const rates = new RateChart(byId('rate-chart', HTMLElement))
  const latency = new LatencyChart(byId('latency-chart', HTMLElement))
  const clients = new ClientsPanel(api)
  const topics = new TopicsPanel(api)
  new WatchPanel(webSocketUrl(info.listeners, location), latency)
  new LogPanel(api, info.logStream.available)
  addEventListener('resize', () => { rates.resize(); latency.resize() })

  const cluster = byId('cluster-nodes', HTMLElement)
  const summary = byId('cluster-summary', HTMLElement)
  const pollStatus = byId('poll-status', HTMLElement)
  const poll = async (): Promise<void> => {
    try {
      const { data } = await api.get<{ data: NodeView[] }>('/api/v1/nodes', AbortSignal.timeout(POLL_MS * 5))
      renderCluster(cluster, summary, data, info.node)
      rates.update(Date.now(), data.filter(node => node.status === 'up').map(node => ({ name: node.name, received: node.messagesReceived ?? 0, sent: node.messagesSent ?? 0 })))
      fill(pollStatus, `updated ${new Date().toLocaleTimeString()}`)
    } catch (err) {
      fill(pollStatus, `poll failed: ${(err as Error).message}`)
    }
    setTimeout(() => { void poll() }, POLL_MS)
  }
  const lists = async (): Promise<void> => {
    await Promise.all([clients.load(), topics.load()])
    setTimeout(() => { void lists() }, LISTS_MS)
  }
  void poll()
  void lists()
}

void start()
