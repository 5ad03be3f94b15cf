/**
 * In-process cluster fixture: a few brokers started through the library face (`startNode`, as
 * broker.ts does for one) in this process, on loopback ports the OS picks, the later ones seeded
 * with the first; resolves once every node sees every other running. Closed when the test ends.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startNode, type BrokerConfig, type DeepPartial, type NodeHandle } from 'meshmq'
import { sendControlRequest } from '../../src/ctl.js'
import type { Cleanup } from './mqtt-client.js'
import { pollUntil, withTimeout } from './wait.js'

const START_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 10_000
const FORM_TIMEOUT_MS = 15_000

/** One node of a test cluster. */
export interface ClusterBroker {
  readonly node: NodeHandle
  readonly name: string
  /** The MQTT listener's port. */
  readonly port: number
}

/** Starts `count` nodes named `<prefix><i>@127.0.0.1` that form one cluster; `mqtt` settings apply to every node. */
export async function startTestCluster (t: Cleanup, count: number, options: { prefix?: string, mqtt?: DeepPartial<BrokerConfig['mqtt']> } = {}): Promise<ClusterBroker[]> {
  const brokers: ClusterBroker[] = []
  const prefix = options.prefix ?? 'n'
  for (let i = 1; i <= count; i++) {
    const first = brokers[0]
    const dataDir = mkdtempSync(join(tmpdir(), 'meshmq-cluster-test-'))
    const name = `${prefix}${i}@127.0.0.1`
    let node: NodeHandle
    try {
      node = await withTimeout(startNode({
        listener: { port: 0, host: '127.0.0.1' },
        node: { name, dataDir },
        log: { level: 'silent' },
        cluster: {
          discovery: 'static',
          host: '127.0.0.1',
          port: 0,
          seeds: first === undefined ? [] : [`${first.name}:${first.node.address.cluster.port}`]
        },
        mqtt: options.mqtt ?? {}
      }), START_TIMEOUT_MS, `node ${name} to start`)
    } catch (err) {
      rmSync(dataDir, { recursive: true, force: true })
      throw err
    }
    t.after(async () => {
      try {
        await withTimeout(node.close(), STOP_TIMEOUT_MS, `node ${name} to stop`)
      } finally {
        rmSync(dataDir, { recursive: true, force: true })
      }
    })
    brokers.push({ node, name, port: node.address.port })
  }
  const names = brokers.map(b => b.name).sort()
  for (const broker of brokers) {
    await pollUntil(async () => (await broker.node.status()).cluster.runningNodes, running => [...running].sort().join() === names.join(),
      FORM_TIMEOUT_MS, `${broker.name} to see ${names.join(', ')} running`)
  }
  return brokers
}

/** The node's route table (`routes list`): route → sorted node names. */
export async function routesOf (broker: ClusterBroker): Promise<Map<string, string[]>> {
  const { host, port } = broker.node.address.control
  const reply = await sendControlRequest({ host, port }, { args: ['routes', 'list'] })
  if (!reply.ok) throw new Error(`routes list on ${broker.name} failed: ${reply.error ?? ''}`)
  const routes = reply.result as Array<{ filter: string, nodes: string[] }>
  return new Map(routes.map(({ filter, nodes }) => [filter, [...nodes].sort()]))
}

/** Waits until every node's route table has `route` for exactly `nodes`. */
export async function waitForRoute (brokers: readonly ClusterBroker[], route: string, nodes: readonly string[], timeoutMs = FORM_TIMEOUT_MS): Promise<void> {
  const expected = [...nodes].sort().join()
  for (const broker of brokers) {
    await pollUntil(async () => await routesOf(broker), routes => (routes.get(route) ?? []).join() === expected,
      timeoutMs, `${broker.name} to route ${route} to ${expected}`)
  }
}
