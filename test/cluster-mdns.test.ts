/**
 * Acceptance: three meshmq nodes on three lab hosts (network namespaces on one bridge) find each
 * other by mDNS with no seed at all, and route pub/sub across every ordered pair at QoS 0/1/2
 * through wildcard filters. mDNS only ever runs inside the lab's namespaces, never in the
 * machine's own; without root or `ip netns` the test is skipped and says why.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { QoS } from 'mqtt-packet'
import { forwardIntoLab, LAB_MQTT_PORT, planLabCluster, startPlanned, waitForFullMesh, waitForRoutesEverywhere } from './helpers/cluster.js'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import { startLab, unavailableReason } from './helpers/netns-lab.js'
import { uniqueName } from './helpers/wait.js'

const QOS_LEVELS: QoS[] = [0, 1, 2]
const labUnavailable = await unavailableReason()
const skip = labUnavailable === undefined ? false : `mDNS runs only inside network namespaces: ${labUnavailable}`

test('3 nodes discover each other by mDNS in network namespaces and route pub/sub across all ordered pairs', { skip }, async t => {
  const lab = await startLab(t, 3)
  const plan = planLabCluster(lab, { prefix: 'md', size: 3, discovery: 'mdns' })
  const nodes = await startPlanned(t, plan)
  const startedAt = Date.now()
  await waitForFullMesh(nodes, 30_000)
  t.diagnostic(`full mesh by mDNS ${Date.now() - startedAt} ms after the three nodes started`)

  const ports = await Promise.all(nodes.map(async (_node, i) => await forwardIntoLab(t, lab.execArgs(i + 1), lab.addr(i + 1), LAB_MQTT_PORT)))
  const run = uniqueName('m').replace(/[^a-z0-9]/gi, '')
  const inboxes: Inbox[] = []
  const routes: Record<string, string[]> = {}
  for (const [i, node] of nodes.entries()) {
    const subscriber = await connectClient(t, ports[i]!, { clientId: `${run}-s${i + 1}` })
    const filter = `lan/${run}/to${i + 1}/+/#`
    await subscriber.subscribeAsync(filter, { qos: 2 })
    inboxes.push(new Inbox(subscriber))
    routes[filter] = [node.name]
  }
  await waitForRoutesEverywhere(nodes, routes, 10_000)

  for (const [j] of nodes.entries()) {
    const publisher = await connectClient(t, ports[j]!, { clientId: `${run}-p${j + 1}` })
    for (let i = 0; i < nodes.length; i++) {
      for (const qos of QOS_LEVELS) await publisher.publishAsync(`lan/${run}/to${i + 1}/from${j + 1}/q${qos}`, `${j + 1}->${i + 1}@${qos}`, { qos })
    }
  }
  const perSubscriber = nodes.length * QOS_LEVELS.length
  for (const [i, inbox] of inboxes.entries()) {
    await inbox.waitForCount(perSubscriber, 10_000)
    await inbox.expectNoMoreThan(perSubscriber, 500)
    const got = inbox.messages.map(m => `${m.payload.toString()}/qos${m.packet.qos}`).sort()
    const want = nodes.flatMap((_node, j) => QOS_LEVELS.map(qos => `${j + 1}->${i + 1}@${qos}/qos${qos}`)).sort()
    assert.deepEqual(got, want, `node ${i + 1}'s subscriber gets one copy from every node at every QoS`)
  }
})
