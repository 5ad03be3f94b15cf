/**
 * The Prometheus series of issue 13 beyond the basic ones, over real HTTP against 2 in-process
 * nodes: per-peer forward acks, the route resync histogram, actors per type (running, messages
 * handled, mailbox depth back to 0 once idle, each node its own), the runtime's (event-loop lag,
 * GC, CPU), and API publishes counted apart from client PUBLISHes.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { NodeConfig, NodeHandle } from 'meshmq'
import { apiCluster, startApiNode, SuiteCleanup } from './helpers/api-nodes.js'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import { pollUntil } from './helpers/wait.js'
import { Registry } from 'prom-client'
import { registerRuntimeMetrics } from '../src/http/runtime-metrics.js'

const NAMES = ['prom1@127.0.0.1', 'prom2@127.0.0.1'] as const
const WAIT_MS = 15_000

async function scrape (node: NodeHandle): Promise<string> {
  const http = node.address.http!
  const response = await fetch(`http://${http.host}:${http.port}/metrics`, { signal: AbortSignal.timeout(WAIT_MS) })
  assert.equal(response.status, 200)
  return await response.text()
}

/** The value of one series (labels in any order, `node` included), or undefined. */
function valueOf (text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-z0-9_]+)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match?.[1] !== name) continue
    const found = new Map([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map(m => [m[1] ?? '', m[2] ?? '']))
    if (Object.entries(labels).every(([key, value]) => found.get(key) === value)) return Number(match[3])
  }
  return undefined
}

describe('Prometheus series of a 2-node cluster', () => {
  const cleanup = new SuiteCleanup()
  let n1: NodeHandle, n2: NodeHandle

  before(async () => {
    const start = async (name: string, extra: NodeConfig): Promise<NodeHandle> => (await startApiNode(cleanup, name, extra)).node
    n1 = await start(NAMES[0], {})
    n2 = await start(NAMES[1], { cluster: apiCluster([`${NAMES[0]}:${n1.address.cluster.port}`]) })
    await pollUntil(async () => await scrape(n1), text => valueOf(text, 'meshmq_cluster_nodes', { status: 'up' }) === 2, WAIT_MS, 'prom1 to see 2 nodes up')
  })
  after(async () => { await cleanup.run() })

  it('counts the QoS 1 frames a peer acked, per peer, and the route resyncs in a histogram', async () => {
    const subscriber = await connectClient(cleanup, n2.address.port, { clientId: 'p-sub', protocolVersion: 5, reconnectPeriod: 0 })
    const inbox = new Inbox(subscriber)
    await subscriber.subscribeAsync('prom/#', { qos: 1 })
    const publisher = await connectClient(cleanup, n1.address.port, { clientId: 'p-pub', protocolVersion: 5, reconnectPeriod: 0 })
    const before = valueOf(await scrape(n1), 'meshmq_forward_peer_acked_total', { node: NAMES[0], peer: NAMES[1] }) ?? 0
    // Until prom1 has the route of prom2's subscriber, a publish does not cross: publish until one does.
    await pollUntil(async () => {
      await publisher.publishAsync('prom/x', 'hello', { qos: 1 })
      return inbox.messages.length
    }, count => count > 0, WAIT_MS, 'a message to cross to prom2')
    const text = await pollUntil(async () => await scrape(n1), t => (valueOf(t, 'meshmq_forward_peer_acked_total', { peer: NAMES[1] }) ?? 0) > before, WAIT_MS, 'prom2 to ack the forward')
    assert.match(text, /^# TYPE meshmq_forward_peer_acked_total counter$/m)
    // prom2 came up after prom1: prom1 fetched its tables (and prom2 prom1's) once at least.
    const n2Text = await scrape(n2)
    for (const table of ['routes', 'clients']) {
      const count = valueOf(n2Text, 'meshmq_route_resync_seconds_count', { table })
      assert.ok(count !== undefined && count >= 1, `resyncs of ${table}: ${count}`)
      assert.equal(valueOf(n2Text, 'meshmq_route_resync_seconds_bucket', { table, le: '+Inf' }), count, 'the +Inf bucket holds every resync')
      const sum = valueOf(n2Text, 'meshmq_route_resync_seconds_sum', { table }) ?? -1
      assert.ok(sum > 0 && sum < 30, `resync seconds ${sum}`)
    }
    assert.match(n2Text, /^# TYPE meshmq_route_resync_seconds histogram$/m)
    // prom2's subscription reached prom1 as a delta: one convergence at least, in well under a second on one host.
    const converged = valueOf(text, 'meshmq_route_convergence_seconds_count', { table: 'routes' }) ?? 0
    assert.ok(converged >= 1, `route deltas applied on prom1: ${converged}`)
    const convergenceSum = valueOf(text, 'meshmq_route_convergence_seconds_sum', { table: 'routes' }) ?? -1
    assert.ok(convergenceSum >= 0 && convergenceSum < converged, `convergence seconds ${convergenceSum} over ${converged} deltas`)
    assert.match(text, /^# TYPE meshmq_route_convergence_seconds histogram$/m)
  })

  it('gives each node its own actors by type: running, handled, mailbox depth back to 0 when idle', async () => {
    const extra = await connectClient(cleanup, n1.address.port, { clientId: 'p-extra', protocolVersion: 5, reconnectPeriod: 0, clean: true })
    await extra.endAsync()
    // p-extra's session ended (clean start, expiry 0): whatever it still had queued is discarded, not left as depth.
    const idle = await pollUntil(async () => await scrape(n1), text => valueOf(text, 'meshmq_actors', { actor: 'session' }) === 1 &&
      ['session', 'trie_shard', 'route_table', 'retainer', 'client_registry', 'sys_publisher'].every(actor => valueOf(text, 'meshmq_actor_mailbox_depth', { actor }) === 0),
    WAIT_MS, 'prom1 to be idle with one session (p-pub)')
    assert.equal(valueOf(idle, 'meshmq_actors', { actor: 'trie_shard' }), n1.config.shards)
    assert.ok((valueOf(idle, 'meshmq_actor_messages_handled_total', { actor: 'session' }) ?? 0) > 0)
    assert.ok((valueOf(idle, 'meshmq_actor_messages_handled_total', { actor: 'client_registry' }) ?? 0) >= 3, 'three connects at least')
    assert.equal(valueOf(idle, 'meshmq_actor_crashes_total', { actor: 'session' }), 0)
    const n2Text = await scrape(n2)
    assert.equal(valueOf(n2Text, 'meshmq_actors', { actor: 'session', node: NAMES[1] }), 1, 'prom2 counts its own session (p-sub) only')
  })

  it('counts an API publish apart from client PUBLISHes', async () => {
    const before = await scrape(n1)
    const http = n1.address.http!
    const response = await fetch(`http://${http.host}:${http.port}/api/v1/publish`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ topic: 'prom/api', payload: 'x' }), signal: AbortSignal.timeout(WAIT_MS)
    })
    assert.equal(response.status, 200)
    const afterText = await scrape(n1)
    assert.equal((valueOf(afterText, 'meshmq_messages_published_api_total', {}) ?? 0) - (valueOf(before, 'meshmq_messages_published_api_total', {}) ?? 0), 1)
    assert.equal(valueOf(afterText, 'meshmq_messages_received_total', {}), valueOf(before, 'meshmq_messages_received_total', {}))
  })

  it('serves the runtime metrics: event-loop lag, GC, CPU, memory', async () => {
    const text = await scrape(n1)
    for (const name of ['nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_p99_seconds', 'process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes']) {
      const value = valueOf(text, name, { node: NAMES[0] })
      assert.ok(value !== undefined && value >= 0 && Number.isFinite(value), `${name}: ${value}`)
    }
    assert.ok((valueOf(text, 'process_cpu_seconds_total', {}) ?? 0) > 0)
    assert.ok((valueOf(text, 'nodejs_eventloop_lag_p99_seconds', {}) ?? 1) < 1, 'an idle test process lags less than a second')
    assert.match(text, /^# TYPE nodejs_gc_duration_seconds histogram$/m)
  })

  it('stops its event-loop monitor when stopped (as the HTTP listener does on close): a stopped embedded node leaves none running', async () => {
    const registry = new Registry()
    const stop = registerRuntimeMetrics(registry)
    /** The mean event-loop delay sampled over 60 ms between two scrapes (0: no sample). */
    const sampledMean = async (): Promise<number | undefined> => {
      await registry.metrics()
      await new Promise(resolve => { setTimeout(resolve, 60) })
      return valueOf(await registry.metrics(), 'nodejs_eventloop_lag_mean_seconds', {})
    }
    assert.ok((await sampledMean() ?? 0) > 0, 'a running monitor samples the event loop')
    stop()
    assert.equal(await sampledMean(), 0, 'a stopped monitor samples nothing')
  })
})
