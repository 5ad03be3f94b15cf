/**
 * Acceptance of issue 9, wills cluster-wide, over meshmq processes and real MQTT clients: a will is
 * published when its client's connection drops, to subscribers on every node [MQTT-3.1.2-8]; when
 * a whole node is killed (kill -9), the surviving nodes publish the wills of its clients after
 * `cluster.willGraceMs`, each exactly once cluster-wide (one copy per subscriber on each survivor),
 * a retained will stays retained on every survivor, and a will its client discarded by a normal
 * DISCONNECT is not published [MQTT-3.1.2-10]; a killed node restarted within the grace has the
 * wills of its former clients published at once; a partition shorter than the grace publishes
 * nothing, a longer one publishes the other side's wills (the documented trade-off).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startCluster, startLabCluster, waitForFullMesh, waitForMembership, waitForRoutesEverywhere } from './helpers/cluster.js'
import { startLab, unavailableReason } from './helpers/netns-lab.js'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import { startNode } from './helpers/node-process.js'
import { pollUntil, sleep, uniqueName } from './helpers/wait.js'
import type { Cleanup } from './helpers/mqtt-client.js'

const DELIVERY_TIMEOUT_MS = 10_000
/** After the expected messages arrived, no further copy may arrive within this window. */
const QUIET_MS = 1_500
const WILL_GRACE_MS = 1_000

/** The retained value of a `$SYS` topic, as a new subscriber gets it. */
async function sysValue (t: Cleanup, port: number, topic: string): Promise<string> {
  const client = await connectClient(t, port, { clientId: uniqueName('sys') })
  const inbox = new Inbox(client)
  await client.subscribeAsync(topic, { qos: 0 })
  const got = await inbox.waitForTopic(topic, DELIVERY_TIMEOUT_MS)
  await client.endAsync()
  return got.payload.toString()
}

test('wills across 3 nodes: on a client drop, and for every client of a killed node, each published once cluster-wide [MQTT-3.1.2-8, MQTT-3.1.2-10]', async t => {
  const { nodes } = await startCluster(t, { prefix: 'wl', size: 3, env: { MESHMQ_CLUSTER_WILL_GRACE_MS: String(WILL_GRACE_MS), MESHMQ_SYS_INTERVAL_MS: '200' } })
  const [n1, n2, n3] = nodes
  assert.ok(n1 !== undefined && n2 !== undefined && n3 !== undefined)
  const run = uniqueName('wl').replace(/[^a-z0-9]/gi, '')
  const filter = `will/${run}/#`
  const inboxes: Inbox[] = []
  for (const [i, node] of [n1, n2].entries()) {
    const subscriber = await connectClient(t, node.mqttPort, { clientId: `${run}-sub${i + 1}` })
    await subscriber.subscribeAsync(filter, { qos: 1 })
    inboxes.push(new Inbox(subscriber))
  }
  await waitForRoutesEverywhere(nodes, { [filter]: [n1.name, n2.name] }, 10_000)

  await t.test('a client dropped on node 3: its will reaches the subscribers on nodes 1 and 2 once', async () => {
    const client = await connectClient(t, n3.mqttPort, { clientId: `${run}-drop`, will: { topic: `will/${run}/drop`, payload: Buffer.from('dropped'), qos: 1, retain: false } })
    client.stream.destroy()
    for (const inbox of inboxes) {
      const got = await inbox.waitForTopic(`will/${run}/drop`, DELIVERY_TIMEOUT_MS)
      assert.equal(got.payload.toString(), 'dropped')
    }
    await Promise.all(inboxes.map(async inbox => { await inbox.expectNoMoreThan(1, QUIET_MS) }))
  })

  await t.test('node 3 killed: the wills of its clients are published once each by the survivors, a discarded will is not', async () => {
    const before = inboxes.map(inbox => inbox.messages.length)
    const names = ['a', 'b', 'c']
    for (const name of names) {
      await connectClient(t, n3.mqttPort, { clientId: `${run}-${name}`, will: { topic: `will/${run}/${name}`, payload: Buffer.from(`will of ${name}`), qos: 1, retain: name === 'c' } })
    }
    const polite = await connectClient(t, n3.mqttPort, { clientId: `${run}-polite`, will: { topic: `will/${run}/polite`, payload: Buffer.from('never'), qos: 1, retain: false } })
    await polite.endAsync()
    // The wills are pushed to the other nodes within milliseconds of the CONNECT (and the polite one's cleared).
    await sleep(300)
    n3.kill('SIGKILL')
    await n3.waitForExit()
    await Promise.all([n1, n2].map(async node => await waitForMembership(node, { running: [n1.name, n2.name], stopped: [n3.name] }, 10_000)))

    for (const [i, inbox] of inboxes.entries()) {
      const all = await inbox.waitForCount(before[i]! + names.length, DELIVERY_TIMEOUT_MS + WILL_GRACE_MS)
      await inbox.expectNoMoreThan(before[i]! + names.length, QUIET_MS)
      const wills = all.slice(before[i]).map(m => `${m.topic}=${m.payload.toString()}`).sort()
      assert.deepEqual(wills, names.map(name => `will/${run}/${name}=will of ${name}`), `subscriber on node ${i + 1}: each will of node 3's clients once`)
    }
    const published = await Promise.all([n1, n2].map(async node => (await node.waitForLog(line => line.msg === 'wills_publishing' || line.msg === 'wills_left_to_peer', { timeoutMs: 1000 })).msg))
    assert.deepEqual(published, ['wills_publishing', 'wills_left_to_peer'], 'the survivor with the lowest name publishes, the other leaves them to it')
    const counted = await Promise.all([n1, n2].map(async node => await pollUntil(async () => await sysValue(t, node.mqttPort, `$SYS/brokers/${node.name}/wills/published_for_down_nodes`),
      value => value === (node === n1 ? String(names.length) : '0'), DELIVERY_TIMEOUT_MS, `${node.name}'s wills/published_for_down_nodes`)))
    assert.deepEqual(counted, [String(names.length), '0'])

    for (const [i, node] of [n1, n2].entries()) {
      const late = await connectClient(t, node.mqttPort, { clientId: `${run}-late${i + 1}` })
      const lateInbox = new Inbox(late)
      await late.subscribeAsync(filter, { qos: 1 })
      const kept = await lateInbox.waitForTopic(`will/${run}/c`, DELIVERY_TIMEOUT_MS)
      assert.equal(kept.packet.retain, true, `node ${i + 1} holds the retained will of a client of the killed node`)
      await lateInbox.expectNoMoreThan(1, 500)
    }
  })
})

test('a killed node restarted within the grace: the wills of its former clients are published at once, once [MQTT-3.1.2-8]', async t => {
  const dataDir = mkdtempSync(join(tmpdir(), 'meshmq-wills-'))
  t.after(() => { rmSync(dataDir, { recursive: true, force: true }) })
  // A grace far longer than the test: only the restart can publish the wills.
  const { nodes, plan } = await startCluster(t, { prefix: 'wr', size: 2, env: { MESHMQ_CLUSTER_WILL_GRACE_MS: '600000' }, perNode: i => i === 1 ? { dataDir } : {} })
  const [n1, n2] = nodes
  assert.ok(n1 !== undefined && n2 !== undefined)
  const run = uniqueName('wr').replace(/[^a-z0-9]/gi, '')
  const subscriber = await connectClient(t, n1.mqttPort, { clientId: `${run}-sub` })
  await subscriber.subscribeAsync(`will/${run}/#`, { qos: 1 })
  const inbox = new Inbox(subscriber)
  await connectClient(t, n2.mqttPort, { clientId: `${run}-gone`, will: { topic: `will/${run}/gone`, payload: Buffer.from('gone'), qos: 1, retain: false } })
  await sleep(300)
  n2.kill('SIGKILL')
  await n2.waitForExit()
  await waitForMembership(n1, { running: [n1.name], stopped: [n2.name] }, 10_000)
  await inbox.expectNoMoreThan(0, 500)
  const restarted = await startNode(t, plan.options[1]!)
  await waitForFullMesh([n1, restarted], 20_000)
  const got = await inbox.waitForTopic(`will/${run}/gone`, DELIVERY_TIMEOUT_MS)
  assert.equal(got.payload.toString(), 'gone')
  await inbox.expectNoMoreThan(1, QUIET_MS)
})

const labUnavailable = await unavailableReason()

test('wills over a partition: none published when it heals within cluster.willGraceMs; past the grace the other side publishes a live client\'s will (trade-off)',
  { skip: labUnavailable ?? false }, async t => {
    const grace = 3_000
    const lab = await startLab(t, 2)
    const { plan, nodes, ports: [port1, port2] } = await startLabCluster(t, lab, {
      prefix: 'wp',
      size: 2,
      env: { MESHMQ_CLUSTER_PEER_TIMEOUT_MS: '1500', MESHMQ_CLUSTER_HEARTBEAT_INTERVAL_MS: '300', MESHMQ_CLUSTER_WILL_GRACE_MS: String(grace) }
    })
    assert.ok(port1 !== undefined && port2 !== undefined)
    const run = uniqueName('wp').replace(/[^a-z0-9]/gi, '')
    const subscriber = await connectClient(t, port1, { clientId: `${run}-sub` })
    await subscriber.subscribeAsync(`will/${run}/#`, { qos: 1 })
    const inbox = new Inbox(subscriber)
    await connectClient(t, port2, { clientId: `${run}-live`, keepalive: 0, will: { topic: `will/${run}/live`, payload: Buffer.from('live'), qos: 1, retain: false } })
    await sleep(300)
    const split = async (): Promise<void> => {
      await lab.partition([1], [2])
      await Promise.all(nodes.map(async node => await waitForMembership(node, { running: [node.name], stopped: plan.names.filter(name => name !== node.name) }, 15_000)))
    }

    await split()
    await sleep(grace / 3)
    await lab.heal()
    await waitForFullMesh(nodes, 30_000)
    await inbox.expectNoMoreThan(0, grace + 500)

    await split()
    const got = await inbox.waitForTopic(`will/${run}/live`, grace + DELIVERY_TIMEOUT_MS)
    assert.equal(got.payload.toString(), 'live', 'node 1 publishes the will of node 2\'s client once node 2 was down past the grace')
    await inbox.expectNoMoreThan(1, QUIET_MS)
  })
