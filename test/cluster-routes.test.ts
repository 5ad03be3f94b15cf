/**
 * Acceptance: route replication on three static-seed processes. 1,000 concurrent subscribe and
 * unsubscribe operations end with every node's route table equal to the union of the final local
 * subscriptions, and a new subscription becomes routable from another node within a bounded time
 * (p50/p99 printed; the benchmark reports the figure against its target).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { MqttClient } from 'mqtt'
import { normaliseRoutes, startCluster, waitForRoutesEverywhere } from './helpers/cluster.js'
import { connectClient } from './helpers/mqtt-client.js'
import { sleep, uniqueName } from './helpers/wait.js'

const OPERATIONS = 1_000
const CLIENTS_PER_NODE = 4
const FILTER_POOL = 40
const CONVERGENCE_TRIALS = 50
const FIRST_DELIVERY_TIMEOUT_MS = 5_000
const PUBLISH_INTERVAL_MS = 1

/** Deterministic pseudo-random numbers (seeded LCG), so a failing run can be replayed. */
function seededRandom (seed: number): (n: number) => number {
  let state = seed >>> 0
  return n => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0
    return state % n
  }
}

interface Operation { client: number, filter: string, subscribe: boolean }

test(`${OPERATIONS} concurrent subscribe/unsubscribe operations over 3 nodes: every route table equals the union of the final local subscriptions`, async t => {
  const { nodes } = await startCluster(t, { prefix: 'ch', size: 3 })
  const run = uniqueName('c').replace(/[^a-z0-9]/gi, '')
  const seed = Date.now() % 1_000_000
  t.diagnostic(`operation seed ${seed}`)
  const random = seededRandom(seed)
  const pool = Array.from({ length: FILTER_POOL }, (_unused, k) =>
    [`churn/${run}/${k}`, `churn/${run}/+/${k}`, `churn/${run}/${k}/#`][k % 3]!)

  const clients: Array<{ client: MqttClient, node: string }> = []
  for (const node of nodes) {
    for (let c = 0; c < CLIENTS_PER_NODE; c++) {
      clients.push({ client: await connectClient(t, node.mqttPort, { clientId: `${run}-${node.name}-${c}` }), node: node.name })
    }
  }
  const perClient: Operation[][] = clients.map(() => [])
  for (let i = 0; i < OPERATIONS; i++) {
    const client = random(clients.length)
    perClient[client]!.push({ client, filter: pool[random(pool.length)]!, subscribe: random(2) === 0 })
  }

  // Each client runs its operations in order (the final state is then known); all clients at once.
  const startedAt = Date.now()
  await Promise.all(perClient.map(async (operations, index) => {
    const { client } = clients[index]!
    for (const op of operations) {
      if (op.subscribe) await client.subscribeAsync(op.filter, { qos: 1 })
      else await client.unsubscribeAsync(op.filter)
    }
  }))
  const opsMs = Date.now() - startedAt

  const finalSubscriptions = clients.map(() => new Set<string>())
  for (const operations of perClient) {
    for (const op of operations) {
      if (op.subscribe) finalSubscriptions[op.client]!.add(op.filter)
      else finalSubscriptions[op.client]!.delete(op.filter)
    }
  }
  const expected = normaliseRoutes(clients.map(({ node }, index) => [...finalSubscriptions[index]!].map((filter): [string, string[]] => [filter, [node]])).flat())
  assert.ok(Object.keys(expected).length > 0)
  await waitForRoutesEverywhere(nodes, expected, 20_000)
  t.diagnostic(`${OPERATIONS} operations in ${opsMs} ms; ${Object.keys(expected).length} filters routed; every table converged ${Date.now() - startedAt - opsMs} ms after the last operation`)
})

test(`route convergence: subscribe on node 2, publish repeatedly on node 1, first delivery within ${FIRST_DELIVERY_TIMEOUT_MS} ms (${CONVERGENCE_TRIALS} trials)`, async t => {
  const { nodes } = await startCluster(t, { prefix: 'cv', size: 3 })
  const [n1, n2] = nodes
  assert.ok(n1 !== undefined && n2 !== undefined)
  const run = uniqueName('v')
  const subscriber = await connectClient(t, n2.mqttPort, { clientId: `${run}-sub` })
  const firstSeen = new Map<string, number>()
  subscriber.on('message', topic => { if (!firstSeen.has(topic)) firstSeen.set(topic, performance.now()) })
  const publisher = await connectClient(t, n1.mqttPort, { clientId: `${run}-pub` })

  const latencies: number[] = []
  for (let trial = 0; trial < CONVERGENCE_TRIALS; trial++) {
    const topic = `conv/${run}/${trial}`
    const sentAt = performance.now()
    const subscribed = subscriber.subscribeAsync(topic, { qos: 0 })
    while (!firstSeen.has(topic) && performance.now() - sentAt < FIRST_DELIVERY_TIMEOUT_MS) {
      publisher.publish(topic, String(trial), { qos: 0 })
      await sleep(PUBLISH_INTERVAL_MS)
    }
    await subscribed
    const seenAt = firstSeen.get(topic)
    assert.ok(seenAt !== undefined, `trial ${trial}: no delivery within ${FIRST_DELIVERY_TIMEOUT_MS} ms of subscribing`)
    latencies.push(seenAt - sentAt)
  }
  const sorted = [...latencies].sort((a, b) => a - b)
  const percentile = (p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)]!
  t.diagnostic(`subscribe on node 2 → first delivery of a publish looping on node 1: p50 ${percentile(50).toFixed(1)} ms, p99 ${percentile(99).toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms over ${CONVERGENCE_TRIALS} trials (upper bounds: publish every ~${PUBLISH_INTERVAL_MS} ms)`)
})
