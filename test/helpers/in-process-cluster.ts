/**
 * In-process cluster fixture: a few broker nodes in this process (`startBroker`), each with its
 * MQTT listener on an ephemeral loopback port, silent logs and manual discovery, joined into one
 * cluster over loopback and stopped (their directories removed) when the test ends; and waits on
 * what the nodes hold (routes, client ids). Cheaper than node processes where a test needs real
 * MQTT sockets between nodes but no process boundary. The nodes share this process's `metrics`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startBroker, type Broker } from '../../src/broker.js'
import { loadConfig, type BrokerConfig, type DeepPartial } from '../../src/core/config/config.js'
import type { Clock } from '../../src/core/clock.js'
import type { Cleanup } from './mqtt-client.js'
import { pollUntil, waitUntil, withTimeout } from './wait.js'

export interface InProcessClusterOptions {
  /** Cluster settings besides the fixture's (ports, discovery, fast timers). */
  cluster?: DeepPartial<BrokerConfig['cluster']>
  mqtt?: DeepPartial<BrokerConfig['mqtt']>
  /** Authentication and authorization (`auth.*`). */
  auth?: DeepPartial<BrokerConfig['auth']>
  /** Name prefix of the nodes (`<prefix>1@127.0.0.1`, …); default `n`. */
  prefix?: string
  /** The node's clock (session expiry, will delay, will grace); default the system clock. */
  clock?: Clock
}

const START_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 10_000
const MESH_TIMEOUT_MS = 15_000
const ROUTE_TIMEOUT_MS = 15_000

/** Starts one node; stopped when the test ends. */
export async function startClusterNode (t: Cleanup, name: string, options: InProcessClusterOptions = {}): Promise<Broker> {
  const dataDir = mkdtempSync(join(tmpdir(), 'meshmq-cluster-'))
  const config = loadConfig({
    env: {},
    overrides: {
      node: { name, dataDir },
      listener: { host: '127.0.0.1', port: 0 },
      // Several nodes in one process: no HTTP API (each would want port 18083).
      http: { enabled: false },
      log: { level: 'silent' },
      mqtt: options.mqtt ?? {},
      ...(options.auth === undefined ? {} : { auth: options.auth }),
      cluster: { heartbeatIntervalMs: 200, peerTimeoutMs: 1_000, redialMinMs: 50, redialMaxMs: 500, ...options.cluster, discovery: 'manual', host: '127.0.0.1', port: 0 }
    }
  })
  let broker: Broker
  try {
    broker = await withTimeout(startBroker(config, options.clock === undefined ? {} : { clock: options.clock }), START_TIMEOUT_MS, `${name} to start`)
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true })
    throw err
  }
  t.after(async () => {
    try {
      await withTimeout(broker.stop(), STOP_TIMEOUT_MS, `${name} to stop`)
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
  return broker
}

/** Starts `count` nodes, joins them into one cluster and waits for the full mesh. */
export async function startInProcessCluster (t: Cleanup, count: number, options: InProcessClusterOptions = {}): Promise<Broker[]> {
  const prefix = options.prefix ?? 'n'
  const nodes: Broker[] = []
  for (let i = 1; i <= count; i++) nodes.push(await startClusterNode(t, `${prefix}${i}@127.0.0.1`, options))
  const seed = nodes[0]!.cluster.network.addresses()[0]!
  for (const node of nodes.slice(1)) await node.cluster.network.join(seed, { signal: AbortSignal.timeout(MESH_TIMEOUT_MS) })
  await waitUntil(() => nodes.every(node => node.cluster.network.status().runningNodes.length === count), MESH_TIMEOUT_MS, 'a full mesh')
  return nodes
}

/** The nodes whose client registry holds a session for `clientId` (by their replicated client ids). */
export function holdersOf (nodes: readonly Broker[], clientId: string): string[] {
  return nodes.filter(node => node.cluster.network.localClients().includes(clientId)).map(node => node.nodeName)
}

/** The nodes that `broker`'s route table has `route` for, sorted (this node's own included). */
export async function routeNodes (broker: Broker, route: string): Promise<string[]> {
  return [...(await broker.routes()).find(entry => entry.filter === route)?.nodes ?? []].sort()
}

/** Waits until every node's route table has `route` for exactly `nodes`. */
export async function waitForRoute (brokers: readonly Broker[], route: string, nodes: readonly string[], timeoutMs = ROUTE_TIMEOUT_MS): Promise<void> {
  const expected = [...nodes].sort().join()
  for (const broker of brokers) {
    await pollUntil(async () => await routeNodes(broker, route), held => held.join() === expected, timeoutMs, `${broker.nodeName} to route ${route} to ${expected}`)
  }
}

/** Waits until `broker`'s route table has (or, `present` false, no longer has) `owner`'s route `route`. */
export async function waitForRouteOf (broker: Broker, route: string, owner: string, present = true, timeoutMs = ROUTE_TIMEOUT_MS): Promise<void> {
  await pollUntil(async () => await routeNodes(broker, route), held => held.includes(owner) === present, timeoutMs,
    `${broker.nodeName}: route ${route} of ${owner} to ${present ? 'appear' : 'go'}`)
}
