/**
 * Acceptance: cluster membership driven by `meshmq ctl` on real processes (manual discovery, so
 * only `cluster join` connects nodes): join syncs the routes made before it, leave removes the
 * node and its routes everywhere, force-leave removes a stopped node, and joining another
 * cluster leaves the first.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ctlJson, membership, planCluster, routeTable, startPlanned, waitForFullMesh, waitForMembership, waitForRoutes, waitForRoutesEverywhere, type ClusterPlan } from './helpers/cluster.js'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import type { NodeProcess } from './helpers/node-process.js'
import { uniqueName } from './helpers/wait.js'

const MEMBERSHIP_TIMEOUT_MS = 15_000
const ROUTES_TIMEOUT_MS = 10_000
const DELIVERY_TIMEOUT_MS = 5_000

/** `cluster join <seed of target>` run on `node`; resolves with the status it printed. */
async function join (node: NodeProcess, plan: ClusterPlan, target: number): Promise<unknown> {
  const seed = plan.seeds[target]
  assert.ok(seed !== undefined)
  return await ctlJson(node, 'cluster', 'join', seed)
}

test('cluster join: node 3 joins node 1 and routes a subscription made on node 1 before the join', async t => {
  const plan = await planCluster({ prefix: 'jn', size: 3, discovery: 'manual' })
  const nodes = await startPlanned(t, plan)
  const [n1, n2, n3] = nodes as [NodeProcess, NodeProcess, NodeProcess]
  assert.deepEqual(await membership(n3), { running: [n3.name], stopped: [] }, 'manual discovery: a node starts alone')

  const run = uniqueName('j')
  const subscriber = await connectClient(t, n1.mqttPort, { clientId: `${run}-sub` })
  const inbox = new Inbox(subscriber)
  await subscriber.subscribeAsync(`join/${run}/#`, { qos: 1 })
  await join(n2, plan, 0)
  await waitForFullMesh([n1, n2], MEMBERSHIP_TIMEOUT_MS)

  const joined = await join(n3, plan, 0) as { running_nodes: string[] }
  assert.ok(joined.running_nodes.includes(n1.name), `join replies with the new status: ${JSON.stringify(joined)}`)
  await waitForFullMesh(nodes, MEMBERSHIP_TIMEOUT_MS)
  await waitForRoutes(n3, { [`join/${run}/#`]: [n1.name] }, ROUTES_TIMEOUT_MS)

  const publisher = await connectClient(t, n3.mqttPort, { clientId: `${run}-pub` })
  await publisher.publishAsync(`join/${run}/a`, 'from node 3', { qos: 1 })
  const got = await inbox.waitForTopic(`join/${run}/a`, DELIVERY_TIMEOUT_MS)
  assert.equal(got.payload.toString(), 'from node 3')
  await inbox.expectNoMoreThan(1, 500)
})

test('cluster leave: the node disappears from every status, its routes go, and nothing is forwarded to it', async t => {
  const plan = await planCluster({ prefix: 'lv', size: 3, discovery: 'manual' })
  const nodes = await startPlanned(t, plan)
  const [n1, n2, n3] = nodes as [NodeProcess, NodeProcess, NodeProcess]
  await join(n2, plan, 0)
  await join(n3, plan, 0)
  await waitForFullMesh(nodes, MEMBERSHIP_TIMEOUT_MS)

  const run = uniqueName('l')
  const filter = `leave/${run}/#`
  const onN2 = await connectClient(t, n2.mqttPort, { clientId: `${run}-s2` })
  const inboxN2 = new Inbox(onN2)
  await onN2.subscribeAsync(filter, { qos: 1 })
  const onN3 = await connectClient(t, n3.mqttPort, { clientId: `${run}-s3` })
  const inboxN3 = new Inbox(onN3)
  await onN3.subscribeAsync(filter, { qos: 1 })
  await waitForRoutesEverywhere(nodes, { [filter]: [n2.name, n3.name] }, ROUTES_TIMEOUT_MS)

  const left = await ctlJson(n3, 'cluster', 'leave') as { running_nodes: string[], stopped_nodes: string[] }
  assert.deepEqual(left, { running_nodes: [n3.name], stopped_nodes: [] }, 'after leave the node is alone')
  await waitForFullMesh([n1, n2], MEMBERSHIP_TIMEOUT_MS)
  await waitForRoutesEverywhere([n1, n2], { [filter]: [n2.name] }, ROUTES_TIMEOUT_MS)
  assert.deepEqual(await routeTable(n3), { [filter]: [n3.name] }, 'the leaver keeps only its own routes')

  const publisher = await connectClient(t, n1.mqttPort, { clientId: `${run}-pub` })
  await publisher.publishAsync(`leave/${run}/x`, 'after leave', { qos: 1 })
  await inboxN2.waitForTopic(`leave/${run}/x`, DELIVERY_TIMEOUT_MS)
  await inboxN3.expectNoMoreThan(0, 1000)
  await inboxN2.expectNoMoreThan(1, 0)
  assert.deepEqual(await membership(n3), { running: [n3.name], stopped: [] }, 'the leaver stays out (no redial)')
})

test('cluster force-leave: a stopped node is removed from every status and its routes go', async t => {
  const plan = await planCluster({ prefix: 'fl', size: 3, discovery: 'manual' })
  const nodes = await startPlanned(t, plan)
  const [n1, n2, n3] = nodes as [NodeProcess, NodeProcess, NodeProcess]
  await join(n2, plan, 0)
  await join(n3, plan, 0)
  await waitForFullMesh(nodes, MEMBERSHIP_TIMEOUT_MS)
  const filter = `force/${uniqueName('f')}/+`
  const onN3 = await connectClient(t, n3.mqttPort, { clientId: uniqueName('fl-sub') })
  await onN3.subscribeAsync(filter, { qos: 0 })
  await waitForRoutes(n1, { [filter]: [n3.name] }, ROUTES_TIMEOUT_MS)

  await n3.stop()
  await Promise.all([n1, n2].map(async node => await waitForMembership(node, { running: [n1.name, n2.name], stopped: [n3.name] }, MEMBERSHIP_TIMEOUT_MS)))

  const result = await ctlJson(n1, 'cluster', 'force-leave', n3.name) as { running_nodes: string[], stopped_nodes: string[] }
  assert.deepEqual({ running: [...result.running_nodes].sort(), stopped: result.stopped_nodes }, { running: [n1.name, n2.name], stopped: [] })
  await waitForMembership(n2, { running: [n1.name, n2.name] }, MEMBERSHIP_TIMEOUT_MS)
  await waitForRoutesEverywhere([n1, n2], {}, ROUTES_TIMEOUT_MS)
})

test('cluster join of another cluster: the joiner leaves its first cluster', async t => {
  const plan = await planCluster({ prefix: 'jx', size: 3, discovery: 'manual' })
  const nodes = await startPlanned(t, plan)
  const [a1, a2, b1] = nodes as [NodeProcess, NodeProcess, NodeProcess]
  await join(a2, plan, 0)
  await waitForFullMesh([a1, a2], MEMBERSHIP_TIMEOUT_MS)
  const run = uniqueName('x')
  const onA1 = await connectClient(t, a1.mqttPort, { clientId: `${run}-a1` })
  await onA1.subscribeAsync(`first/${run}`, { qos: 1 })
  const onB1 = await connectClient(t, b1.mqttPort, { clientId: `${run}-b1` })
  const inboxB1 = new Inbox(onB1)
  await onB1.subscribeAsync(`second/${run}`, { qos: 1 })
  await waitForRoutes(a2, { [`first/${run}`]: [a1.name] }, ROUTES_TIMEOUT_MS)

  await join(a2, plan, 2)
  await waitForMembership(a2, { running: [a2.name, b1.name] }, MEMBERSHIP_TIMEOUT_MS)
  await waitForMembership(b1, { running: [a2.name, b1.name] }, MEMBERSHIP_TIMEOUT_MS)
  await waitForMembership(a1, { running: [a1.name] }, MEMBERSHIP_TIMEOUT_MS)
  await waitForRoutes(a2, { [`second/${run}`]: [b1.name] }, ROUTES_TIMEOUT_MS)

  const publisher = await connectClient(t, a2.mqttPort, { clientId: `${run}-pub` })
  await publisher.publishAsync(`second/${run}`, 'to the new cluster', { qos: 1 })
  assert.equal((await inboxB1.waitForTopic(`second/${run}`, DELIVERY_TIMEOUT_MS)).payload.toString(), 'to the new cluster')
})
