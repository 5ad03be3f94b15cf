/**
 * Acceptance of issue 9, retained messages cluster-wide, over meshmq processes and real MQTT
 * clients: a retained message published on one node is delivered to new subscribers on every
 * node [MQTT-3.3.1-6]; an empty payload clears it everywhere [MQTT-3.3.1-10]; a node that joins
 * (`cluster join`) drops its own retained set and receives the cluster's whole set; writes to one
 * topic on both sides of a partition converge after the heal to the later one on every node.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Cleanup } from './helpers/mqtt-client.js'
import { connectClient, endClient } from './helpers/mqtt-client.js'
import { planCluster, startLabCluster, startPlanned, waitForFullMesh, waitForMembership } from './helpers/cluster.js'
import { startLab, unavailableReason } from './helpers/netns-lab.js'
import { pollUntil, sleep, uniqueName } from './helpers/wait.js'

const SYNC_TIMEOUT_MS = 15_000
/** A fresh subscriber collects the retained messages sent on subscribe for this long. */
const COLLECT_MS = 300

/** The retained messages (topic → payload, sorted by topic) a new subscriber to `filter` on `port` receives. */
async function retainedSeen (t: Cleanup, port: number, filter: string): Promise<Record<string, string>> {
  const client = await connectClient(t, port, { clientId: uniqueName('rs') })
  const seen: Array<[string, string]> = []
  client.on('message', (topic, payload, packet) => { if (packet.retain) seen.push([topic, payload.toString()]) })
  await client.subscribeAsync(filter, { qos: 1 })
  await sleep(COLLECT_MS)
  await endClient(client)
  return Object.fromEntries(seen.sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
}

/** Waits until a new subscriber to `filter` on each port receives exactly `expected`. */
async function waitForRetained (t: Cleanup, ports: number[], filter: string, expected: Record<string, string>, what: string): Promise<void> {
  const want = JSON.stringify(expected)
  await Promise.all(ports.map(async (port, i) => {
    await pollUntil(async () => await retainedSeen(t, port, filter), seen => JSON.stringify(seen) === want, SYNC_TIMEOUT_MS,
      `${what}: node ${i + 1} to deliver ${want}`, { intervalMs: 50 })
  }))
}

test('retained across 3 nodes: seen by new subscribers on every node, cleared everywhere, and the whole set on a node that joins [MQTT-3.3.1-6, MQTT-3.3.1-10]', async t => {
  const plan = await planCluster({ prefix: 'rr', size: 4, perNode: i => i === 3 ? { discovery: 'manual', seeds: [] } : {} })
  // Nodes 1-3 form the cluster; node 4 runs alone (manual discovery), then joins it.
  for (const options of plan.options.slice(0, 3)) options.seeds = plan.seeds.slice(0, 3).filter(seed => !seed.startsWith(options.name))
  const nodes = await startPlanned(t, { ...plan, options: plan.options.slice(0, 3) })
  await waitForFullMesh(nodes, 20_000)
  const ports = nodes.map(node => node.mqttPort)
  const run = uniqueName('ret').replace(/[^a-z0-9]/gi, '')
  const filter = `ret/${run}/#`

  const publisher = await connectClient(t, ports[0]!, { clientId: `${run}-p1` })
  await publisher.publishAsync(`ret/${run}/a`, 'from node 1', { qos: 1, retain: true })
  await waitForRetained(t, ports, filter, { [`ret/${run}/a`]: 'from node 1' }, 'a retained message published on node 1')

  const publisher2 = await connectClient(t, ports[1]!, { clientId: `${run}-p2` })
  await publisher2.publishAsync(`ret/${run}/a`, '', { qos: 1, retain: true })
  await waitForRetained(t, ports, filter, {}, 'an empty retained payload published on node 2')

  const set: Record<string, string> = {}
  for (let i = 0; i < 50; i++) {
    const topic = `ret/${run}/set/${String(i).padStart(2, '0')}`
    set[topic] = `v${i}`
    await [publisher, publisher2][i % 2]!.publishAsync(topic, `v${i}`, { qos: 1, retain: true })
  }
  await waitForRetained(t, ports, filter, set, '50 retained messages published on nodes 1 and 2')

  const [joiner] = await startPlanned(t, { ...plan, options: plan.options.slice(3) })
  assert.ok(joiner !== undefined)
  const own = await connectClient(t, joiner.mqttPort, { clientId: `${run}-p4` })
  await own.publishAsync(`ret/${run}/own`, 'before the join', { qos: 1, retain: true })
  await waitForRetained(t, [joiner.mqttPort], filter, { [`ret/${run}/own`]: 'before the join' }, 'node 4 alone')
  const joined = await joiner.ctl('cluster', 'join', plan.seeds[0]!)
  assert.equal(joined.code, 0, joined.stderr + joined.stdout)
  await waitForMembership(joiner, { running: plan.names }, 20_000)
  await waitForRetained(t, [...ports, joiner.mqttPort], filter, set, 'after node 4 joined: the cluster\'s set everywhere, node 4\'s own dropped')
})

const labUnavailable = await unavailableReason()

test('retained after a partition: writes to one topic on both sides converge to the later one on every node, a clear on one side holds, one side\'s new topic reaches the other',
  { skip: labUnavailable ?? false }, async t => {
    const lab = await startLab(t, 2)
    const { plan, nodes, ports } = await startLabCluster(t, lab, {
      prefix: 'rp',
      size: 2,
      env: { MESHMQ_CLUSTER_PEER_TIMEOUT_MS: '1500', MESHMQ_CLUSTER_HEARTBEAT_INTERVAL_MS: '300', MESHMQ_CLUSTER_DIGEST_INTERVAL_MS: '1000' }
    })
    const run = uniqueName('rp').replace(/[^a-z0-9]/gi, '')
    const filter = `part/${run}/#`
    const [p1, p2] = await Promise.all(ports.map(async (port, i) => await connectClient(t, port, { clientId: `${run}-p${i + 1}` })))
    assert.ok(p1 !== undefined && p2 !== undefined)
    await p1.publishAsync(`part/${run}/x`, 'before', { qos: 1, retain: true })
    await p1.publishAsync(`part/${run}/y`, 'to be cleared', { qos: 1, retain: true })
    await waitForRetained(t, ports, filter, { [`part/${run}/x`]: 'before', [`part/${run}/y`]: 'to be cleared' }, 'before the partition')

    await lab.partition([1], [2])
    await Promise.all(nodes.map(async node => await waitForMembership(node, { running: [node.name], stopped: plan.names.filter(name => name !== node.name) }, 15_000)))
    await p1.publishAsync(`part/${run}/x`, 'node 1 in the partition', { qos: 1, retain: true })
    await p1.publishAsync(`part/${run}/y`, '', { qos: 1, retain: true })
    await sleep(20)
    await p2.publishAsync(`part/${run}/x`, 'node 2 later in the partition', { qos: 1, retain: true })
    await p2.publishAsync(`part/${run}/z`, 'new on node 2', { qos: 1, retain: true })
    await waitForRetained(t, [ports[0]!], filter, { [`part/${run}/x`]: 'node 1 in the partition' }, 'node 1 during the partition')
    await waitForRetained(t, [ports[1]!], filter, {
      [`part/${run}/x`]: 'node 2 later in the partition', [`part/${run}/y`]: 'to be cleared', [`part/${run}/z`]: 'new on node 2'
    }, 'node 2 during the partition')

    await lab.heal()
    await waitForFullMesh(nodes, 30_000)
    await waitForRetained(t, ports, filter, { [`part/${run}/x`]: 'node 2 later in the partition', [`part/${run}/z`]: 'new on node 2' }, 'after the heal')
  })
