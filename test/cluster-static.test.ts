/**
 * Acceptance: three meshmq processes on 127.0.0.1 that know each other by static seeds route
 * pub/sub across every ordered pair of nodes, at every QoS, through `+` and `#` filters, each
 * message reaching each matching subscriber exactly once. Retained messages across nodes:
 * cluster-retained.test.ts.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { QoS } from 'mqtt-packet'
import { startCluster, waitForRoutesEverywhere } from './helpers/cluster.js'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import { uniqueName } from './helpers/wait.js'

const QOS_LEVELS: QoS[] = [0, 1, 2]
const DELIVERY_TIMEOUT_MS = 10_000
const QUIET_MS = 700

test('3 static-seed nodes: pub/sub across all ordered pairs at QoS 0/1/2 with + and # filters, each message once', async t => {
  const { nodes } = await startCluster(t, { prefix: 'st', size: 3 })
  const run = uniqueName('r').replace(/[^a-z0-9]/gi, '')
  const exactSubs: Inbox[] = []
  const wildSubs: Inbox[] = []
  const routes: Record<string, string[]> = {}
  for (const [i, node] of nodes.entries()) {
    const n = i + 1
    // Subscriber A on node n: two disjoint wildcard filters at QoS 2 (the delivered QoS is the publisher's).
    const a = await connectClient(t, node.mqttPort, { clientId: `${run}-a${n}` })
    const plusFilter = `mesh/${run}/n${n}/+/q`
    const hashFilter = `deep/${run}/n${n}/#`
    await a.subscribeAsync([plusFilter, hashFilter], { qos: 2 })
    exactSubs.push(new Inbox(a))
    // Subscriber B on node n: one multi-level filter over every destination at QoS 1 (delivered QoS capped at 1).
    const b = await connectClient(t, node.mqttPort, { clientId: `${run}-b${n}` })
    const allFilter = `mesh/${run}/#`
    await b.subscribeAsync(allFilter, { qos: 1 })
    wildSubs.push(new Inbox(b))
    routes[plusFilter] = [node.name]
    routes[hashFilter] = [node.name]
    routes[allFilter] = [...(routes[allFilter] ?? []), node.name]
  }
  await waitForRoutesEverywhere(nodes, routes, 10_000)

  const publishers = await Promise.all(nodes.map(async (node, i) => await connectClient(t, node.mqttPort, { clientId: `${run}-p${i + 1}` })))
  for (const [j, publisher] of publishers.entries()) {
    for (let i = 0; i < nodes.length; i++) {
      for (const qos of QOS_LEVELS) {
        const tag = `from${j + 1}-to${i + 1}-qos${qos}`
        await publisher.publishAsync(`mesh/${run}/n${i + 1}/from${j + 1}/q`, `plus:${tag}`, { qos })
        await publisher.publishAsync(`deep/${run}/n${i + 1}/from${j + 1}/q${qos}/x`, `hash:${tag}`, { qos })
      }
    }
  }

  const pairs = nodes.length * QOS_LEVELS.length
  for (const [i, inbox] of exactSubs.entries()) {
    const n = i + 1
    await inbox.waitForCount(pairs * 2, DELIVERY_TIMEOUT_MS)
    await inbox.expectNoMoreThan(pairs * 2, QUIET_MS)
    const got = inbox.messages.map(m => `${m.payload.toString()}@qos${m.packet.qos}`).sort()
    const want = publishers.flatMap((_p, j) => QOS_LEVELS.flatMap(qos => [
      `plus:from${j + 1}-to${n}-qos${qos}@qos${qos}`,
      `hash:from${j + 1}-to${n}-qos${qos}@qos${qos}`
    ])).sort()
    assert.deepEqual(got, want, `subscriber A on node ${n}: every publisher's message once, at the publish QoS`)
  }
  const all = nodes.length * pairs
  for (const [i, inbox] of wildSubs.entries()) {
    await inbox.waitForCount(all, DELIVERY_TIMEOUT_MS)
    await inbox.expectNoMoreThan(all, QUIET_MS)
    const got = inbox.messages.map(m => `${m.payload.toString()}@qos${m.packet.qos}`).sort()
    const want = publishers.flatMap((_p, j) => nodes.flatMap((_node, k) => QOS_LEVELS.map(qos =>
      `plus:from${j + 1}-to${k + 1}-qos${qos}@qos${Math.min(qos, 1)}`))).sort()
    assert.deepEqual(got, want, `subscriber B on node ${i + 1} (mesh/#, QoS 1): all ${all} messages once, QoS capped at 1`)
  }
})
