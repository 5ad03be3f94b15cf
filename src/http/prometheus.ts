/**
 * The node's Prometheus metrics (`GET /metrics`): a prom-client Registry of its own (not the global
 * default, so several nodes in one process do not clash), every series labelled `node`. Values are
 * read at scrape time from the counters the broker keeps anyway (src/core/metrics.ts, the delivery
 * budget, the network's stats, the actor meters), never counted twice; the runtime's (event-loop
 * lag, GC, CPU, memory: runtime-metrics.ts) are registered on the same registry and stopped with it.
 */
import { Counter, Gauge, Registry, type Metric } from 'prom-client'
import { droppedByReason, metrics } from '../core/metrics.js'
import type { ClusterNetwork } from '../../network/cluster.js'
import type { DeliveryBudget } from '../core/session/delivery-budget.js'
import type { DurationHistogram, RouteStats } from '../../network/stats.js'
import type { ActorTypeView } from '../admin/node-metrics.js'
import { registerRuntimeMetrics } from './runtime-metrics.js'

export interface PrometheusSources {
  node: string
  connections: () => number
  budget: DeliveryBudget
  network: ClusterNetwork
  /** Filters in the route table. */
  routes: () => Promise<number>
  /** The actors of the node by type. */
  actors: () => ActorTypeView[]
}

/** A node's registry, and what stops its runtime monitors (when the node's HTTP listener closes). */
export interface PrometheusRegistry { registry: Registry, stop: () => void }

/** A counter of the metrics object: `meshmq_<name>_total`. */
const COUNTERS: ReadonlyArray<[string, string, () => number]> = [
  ['messages_received', 'PUBLISH messages received from clients', () => metrics.messagesReceived],
  ['messages_sent', 'PUBLISH messages sent to clients', () => metrics.messagesSent],
  ['messages_forwarded', 'Messages queued for other nodes', () => metrics.messagesForwarded],
  ['messages_from_peers', 'Messages other nodes forwarded to this one', () => metrics.messagesFromPeers],
  ['bytes_received', 'Bytes received from clients', () => metrics.bytesReceived],
  ['bytes_sent', 'Bytes sent to clients', () => metrics.bytesSent],
  ['packets_received', 'MQTT packets received', () => metrics.packetsReceived],
  ['packets_sent', 'MQTT packets sent', () => metrics.packetsSent],
  ['connections_accepted', 'Client connections accepted', () => metrics.connectionsAccepted],
  ['connections_refused_max', 'Client connections closed as accepted: mqtt.maxConnections were open', () => metrics.connectionsRefusedMax],
  ['auth_failed', 'CONNECTs refused by authentication', () => metrics.authFailed],
  ['messages_published_api', 'Messages published through the HTTP API (not in messages_received)', () => metrics.messagesPublishedByApi],
  ['retained_full', 'Retained publishes not stored at the retained bound', () => metrics.retainedFull],
  ['sessions_stalled', 'Backlogged sessions that did not drain in time', () => metrics.sessionsStalled],
  ['sessions_taken_over', 'Sessions taken over from another node', () => metrics.sessionsTakenOver],
  ['sessions_handed_over', 'Sessions handed over to another node', () => metrics.sessionsHandedOver]
]

/** A counter whose value is read at scrape time. */
function readCounter (registry: Registry, name: string, help: string, labelNames: string[], read: (counter: Counter) => void): void {
  const counter: Counter = new Counter({
    name, help, labelNames, registers: [registry],
    collect () {
      counter.reset()
      read(counter)
    }
  })
}

/** A gauge whose value is read at scrape time. */
function readGauge (registry: Registry, name: string, help: string, labelNames: string[], read: (gauge: Gauge) => void | Promise<void>): void {
  const gauge: Gauge = new Gauge({
    name, help, labelNames, registers: [registry],
    async collect () {
      gauge.reset()
      await read(gauge)
    }
  })
}

/** One labelled series of a histogram the network keeps itself (bucket counts, read at scrape time). */
interface HistogramSeries { labels: Record<string, string>, histogram: DurationHistogram }

/**
 * A histogram whose buckets are counted elsewhere (network/stats.ts): prom-client's Histogram can
 * only observe, so this metric gives the registry its cumulative buckets, sum and count as read.
 */
function readHistogram (registry: Registry, name: string, help: string, read: () => HistogramSeries[]): void {
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: () => {
      const values = read().flatMap(({ labels, histogram }) => {
        let cumulative = 0
        const buckets = [...histogram.bounds, Number.POSITIVE_INFINITY].map((bound, index) => {
          cumulative += histogram.counts[index] ?? 0
          return { metricName: `${name}_bucket`, labels: { ...labels, le: bound === Number.POSITIVE_INFINITY ? '+Inf' : bound }, value: cumulative }
        })
        return [...buckets, { metricName: `${name}_sum`, labels, value: histogram.sum }, { metricName: `${name}_count`, labels, value: histogram.count }]
      })
      return Promise.resolve({ name, help, type: 'histogram', aggregator: 'sum', values })
    },
    reset: () => {}
  }
  registry.registerMetric(metric as unknown as Metric)
}

export function createPrometheusRegistry (sources: PrometheusSources): PrometheusRegistry {
  const registry = new Registry()
  registry.setDefaultLabels({ node: sources.node })
  const stop = registerRuntimeMetrics(registry)
  for (const [name, help, read] of COUNTERS) readCounter(registry, `meshmq_${name}_total`, help, [], c => { c.inc(read()) })
  readCounter(registry, 'meshmq_messages_dropped_total', 'Messages dropped, by reason', ['reason'], c => {
    for (const [reason, count] of droppedByReason) c.inc({ reason }, count)
  })
  readCounter(registry, 'meshmq_actor_crashes_total', 'Actor crashes, by actor type', ['actor'], c => {
    for (const actor of sources.actors()) c.inc({ actor: actor.type }, actor.crashes)
  })
  readCounter(registry, 'meshmq_actor_messages_handled_total', 'Messages actors started handling, by actor type', ['actor'], c => {
    for (const actor of sources.actors()) c.inc({ actor: actor.type }, actor.handled)
  })
  readGauge(registry, 'meshmq_actor_mailbox_depth', 'Messages queued in the mailboxes of the actors of a type, not yet started', ['actor'], g => {
    for (const actor of sources.actors()) g.set({ actor: actor.type }, actor.mailboxDepth)
  })
  readGauge(registry, 'meshmq_actors', 'Actors running, by actor type', ['actor'], g => {
    for (const actor of sources.actors()) g.set({ actor: actor.type }, actor.count)
  })
  readGauge(registry, 'meshmq_connections', 'Open MQTT client connections', [], g => { g.set(sources.connections()) })
  readGauge(registry, 'meshmq_sessions', 'Sessions held, connected or not', [], g => { g.set(metrics.sessions) })
  readGauge(registry, 'meshmq_subscriptions', 'Subscriptions of the sessions held', [], g => { g.set(metrics.subscriptions) })
  readGauge(registry, 'meshmq_retained_messages', 'Retained messages stored', [], g => { g.set(metrics.messagesRetained) })
  readGauge(registry, 'meshmq_routes', 'Topic filters in the route table (cluster-wide)', [], async g => { g.set(await sources.routes()) })
  readGauge(registry, 'meshmq_queued_messages', 'Messages held in session queues', [], g => { g.set(sources.budget.heldMessages) })
  readGauge(registry, 'meshmq_queued_bytes', 'Bytes held in session queues', [], g => { g.set(sources.budget.heldBytes) })
  readGauge(registry, 'meshmq_sessions_backlogged', 'Sessions past their queue high-water mark', [], g => { g.set(sources.budget.backlogged) })
  const links = (): ReturnType<ClusterNetwork['stats']>['links'] => sources.network.started ? sources.network.stats().links : {}
  readGauge(registry, 'meshmq_cluster_nodes', 'Cluster nodes by status (this node included)', ['status'], g => {
    if (!sources.network.started) return
    const status = sources.network.status()
    g.set({ status: 'up' }, status.runningNodes.length)
    g.set({ status: 'down' }, status.stoppedNodes.length)
  })
  readGauge(registry, 'meshmq_forward_link_up', 'Whether the forward link to a peer is connected', ['peer'], g => {
    for (const [peer, link] of Object.entries(links())) g.set({ peer }, link.connected ? 1 : 0)
  })
  readGauge(registry, 'meshmq_forward_backlog_messages', 'Messages queued for a peer: unsent plus unacknowledged', ['peer'], g => {
    for (const [peer, link] of Object.entries(links())) g.set({ peer }, link.pending + link.inflight)
  })
  readGauge(registry, 'meshmq_forward_backlog_bytes', 'Bytes queued for a peer', ['peer'], g => {
    for (const [peer, link] of Object.entries(links())) g.set({ peer }, link.bytes)
  })
  readCounter(registry, 'meshmq_forward_peer_acked_total', 'QoS 1/2 frames a peer acknowledged (since its link was created)', ['peer'], c => {
    for (const [peer, link] of Object.entries(links())) c.inc({ peer }, link.acked)
  })
  const forward = (read: (stats: ReturnType<ClusterNetwork['stats']>['forward']) => number) => (c: Counter): void => {
    if (sources.network.started) c.inc(read(sources.network.stats().forward))
  }
  readCounter(registry, 'meshmq_forward_sent_total', 'Frames written to forward streams (all peers, resends included)', [], forward(s => s.sent))
  readCounter(registry, 'meshmq_forward_acked_total', 'QoS 1/2 frames acknowledged by peers (all peers)', [], forward(s => s.acked))
  readCounter(registry, 'meshmq_forward_resent_total', 'QoS 1/2 frames written again after a lost stream (all peers)', [], forward(s => s.resent))
  readCounter(registry, 'meshmq_replica_entries_refused_total', 'Entries of other nodes\' replicated tables (routes, client ids) not held: the replica was at its bound', ['table'], c => {
    if (!sources.network.started) return
    const stats = sources.network.stats()
    c.inc({ table: 'routes' }, stats.routes.entriesRefused)
    c.inc({ table: 'clients' }, stats.clients.entriesRefused)
  })
  /** One histogram of both replicated tables' stats (`routes`, `clients`), labelled `table`. */
  const tableHistogram = (pick: (stats: RouteStats) => DurationHistogram) => () => {
    if (!sources.network.started) return []
    const stats = sources.network.stats()
    return [{ labels: { table: 'routes' }, histogram: pick(stats.routes) }, { labels: { table: 'clients' }, histogram: pick(stats.clients) }]
  }
  readHistogram(registry, 'meshmq_route_resync_seconds',
    'Resyncs of another node\'s replicated table (routes, client ids) on this node: from finding it out of date (delta gap, digest mismatch, node up) to its snapshot applied',
    tableHistogram(stats => stats.resyncSeconds))
  readHistogram(registry, 'meshmq_route_convergence_seconds',
    'Deltas of another node\'s replicated table (routes, client ids) applied on this node: from the oldest change they carry (owner\'s wall clock) to applied here (this node\'s); between hosts it includes their clock offset',
    tableHistogram(stats => stats.convergenceSeconds))
  return { registry, stop }
}
