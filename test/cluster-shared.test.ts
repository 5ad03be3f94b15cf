/**
 * Acceptance: shared subscriptions across a cluster of three in-process nodes, over real sockets
 * with MQTT clients (v5 and v3.1.1 members). For every strategy, messages published on all three
 * nodes reach exactly one member of the group cluster-wide (lost and duplicates counted), the
 * distribution per member is reported and checked against what the strategy promises, and a plain
 * subscriber on a node with members gets everything. A member that drops its connection with
 * unacknowledged QoS 1 messages has them delivered to another member (MQTT 5 §4.8.2).
 */
import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import type { MqttClient } from 'mqtt'
import { SHARED_STRATEGIES, type SharedStrategy } from '../src/core/routing/shared-dispatch.js'
import type { Broker } from '../src/broker.js'
import { metrics } from '../src/core/metrics.js'
import { startInProcessCluster, waitForRoute } from './helpers/in-process-cluster.js'
import { DeliveryChecker } from './helpers/delivery-checker.js'
import { connectClient, endClient } from './helpers/mqtt-client.js'
import { RawClient } from './helpers/raw-client.js'
import { pollUntil, sleep, waitUntil } from './helpers/wait.js'

const MESSAGES_PER_PUBLISHER = 40
const TOPICS = 5
const DELIVERY_WAIT_MS = 15_000
/** After every message arrived, how long a duplicate has to show up. */
const QUIET_MS = 300

/** One message a group member received. */
interface Receipt { member: string, memberNode: number, publisher: string, publisherNode: number, topic: string }

/** Message ids are `<publisher>:<n>`; publishers are `pub<node index>`. */
function publisherOf (id: string): { publisher: string, publisherNode: number } {
  const publisher = id.slice(0, id.indexOf(':'))
  return { publisher, publisherNode: Number(publisher.slice(3)) }
}

async function member (t: TestContext, broker: Broker, clientId: string, protocolVersion: 4 | 5, filter: string): Promise<MqttClient> {
  const client = await connectClient(t, broker.port, { clientId, protocolVersion, clean: true })
  await client.subscribeAsync(filter, { qos: 1 })
  return client
}

function distribution (receipts: Receipt[], key: (r: Receipt) => string): Map<string, Set<string>> {
  const map = new Map<string, Set<string>>()
  for (const r of receipts) {
    const set = map.get(key(r)) ?? new Set<string>()
    set.add(r.member)
    map.set(key(r), set)
  }
  return map
}

/** What each strategy promises about who gets what, checked on the receipts. */
function checkStrategy (strategy: SharedStrategy, receipts: Receipt[], perMember: Map<string, number>, members: string[]): void {
  const total = receipts.length
  switch (strategy) {
    case 'round_robin':
    case 'round_robin_per_group':
      // Each entry node cycles over the 3 nodes, each node over its 2 members: 1/6 each.
      for (const m of members) {
        const got = perMember.get(m) ?? 0
        assert.ok(Math.abs(got - total / 6) <= total / 20, `${strategy}: ${m} got ${got} of ${total}`)
      }
      break
    case 'random':
      for (const m of members) assert.ok((perMember.get(m) ?? 0) > 0, `${strategy}: ${m} got nothing`)
      break
    case 'sticky':
    case 'hash_clientid':
      // One publisher (one entry node) sticks to one member.
      for (const [publisher, got] of distribution(receipts, r => r.publisher)) {
        assert.equal(got.size, 1, `${strategy}: ${publisher}'s messages went to ${[...got].join(', ')}`)
      }
      break
    case 'hash_topic':
      // One topic goes to one member, whichever node it was published on.
      for (const [topic, got] of distribution(receipts, r => r.topic)) {
        assert.equal(got.size, 1, `${strategy}: ${topic} went to ${[...got].join(', ')}`)
      }
      break
    case 'local':
      for (const r of receipts) {
        assert.equal(r.memberNode, r.publisherNode, `local: ${r.publisher} on node ${r.publisherNode} reached ${r.member} on node ${r.memberNode}`)
      }
      for (const m of members) assert.ok((perMember.get(m) ?? 0) > 0, `local: ${m} got nothing`)
      break
  }
}

describe('shared subscriptions across three nodes (MQTT 5 §4.8.2)', () => {
  for (const strategy of SHARED_STRATEGIES) {
    it(`${strategy}: each message reaches exactly one member of the group cluster-wide, and a plain subscriber beside it gets all [MQTT 5 §4.8.2]`, async (t) => {
      const cluster = await startInProcessCluster(t, 3, { mqtt: { sharedSubscriptionStrategy: strategy } })
      const names = cluster.map(b => b.nodeName)
      const checker = new DeliveryChecker(['group', 'plain'])
      const receipts: Receipt[] = []
      const members: string[] = []
      for (const [i, broker] of cluster.entries()) {
        for (const k of [1, 2]) {
          const clientId = `m${i + 1}-${k}`
          members.push(clientId)
          const client = await member(t, broker, clientId, k === 1 ? 5 : 4, '$share/g/sh/#')
          client.on('message', (topic, payload, packet) => {
            const id = payload.toString()
            checker.received('group', id, packet.dup)
            receipts.push({ member: clientId, memberNode: i + 1, topic, ...publisherOf(id) })
          })
        }
      }
      const plain = await member(t, cluster[0]!, 'plain', 5, 'sh/#')
      plain.on('message', (_topic, payload, packet) => { checker.received('plain', payload.toString(), packet.dup) })
      await waitForRoute(cluster, '$share/g/sh/#', names)
      await waitForRoute(cluster, 'sh/#', [names[0]!])

      const publishers = await Promise.all(cluster.map(async (broker, i) => await connectClient(t, broker.port, { clientId: `pub${i + 1}`, protocolVersion: 5 })))
      await Promise.all(publishers.map(async (publisher, i) => {
        for (let n = 0; n < MESSAGES_PER_PUBLISHER; n++) {
          const id = `pub${i + 1}:${n}`
          await publisher.publishAsync(`sh/${n % TOPICS}`, id, { qos: 1 })
          checker.acked(id)
        }
      }))
      await waitUntil(() => checker.complete, DELIVERY_WAIT_MS, `every message at the group and the plain subscriber (${JSON.stringify(checker.reports())})`)
      await sleep(QUIET_MS)

      const perMember = new Map<string, number>()
      for (const r of receipts) perMember.set(r.member, (perMember.get(r.member) ?? 0) + 1)
      t.diagnostic(`${strategy}: ${members.map(m => `${m}=${perMember.get(m) ?? 0}`).join(' ')} (m<node>-<k>, ${checker.ackedCount} messages)`)
      for (const report of checker.reports()) {
        assert.equal(report.lost, 0, `${report.subscriber} lost ${report.lost}`)
        assert.equal(report.duplicates + report.dupRedeliveries, 0, `${report.subscriber} got duplicates: ${JSON.stringify(report)}`)
        assert.equal(report.unacknowledged, 0)
      }
      assert.equal(receipts.length, MESSAGES_PER_PUBLISHER * cluster.length)
      checkStrategy(strategy, receipts, perMember, members)
    })
  }

  it('a member whose connection drops with unacknowledged QoS 1 messages: they go to the other members, on other nodes [MQTT 5 §4.8.2]', async (t) => {
    const cluster = await startInProcessCluster(t, 3, { mqtt: { sharedSubscriptionStrategy: 'round_robin' } })
    const names = cluster.map(b => b.nodeName)
    const filter = '$share/r/red/+'
    const checker = new DeliveryChecker(['acking'])
    const byAcking = new Map<string, string>()
    for (const [clientId, broker, version] of [['z', cluster[0]!, 5], ['y', cluster[2]!, 4]] as const) {
      const client = await member(t, broker, clientId, version, filter)
      client.on('message', (_topic, payload, packet) => {
        checker.received('acking', payload.toString(), packet.dup)
        byAcking.set(payload.toString(), clientId)
      })
    }
    // x, on the second node, takes messages and never acknowledges them.
    const { client: x } = await RawClient.connected(cluster[1]!.port, { clientId: 'x', clean: true }, { protocolVersion: 5 })
    t.after(() => { x.destroy() })
    x.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] })
    await x.expect('suback')
    await waitForRoute(cluster, filter, names)

    const publisher = await connectClient(t, cluster[0]!.port, { clientId: 'pub1', protocolVersion: 5 })
    const total = 30
    for (let n = 0; n < total; n++) {
      await publisher.publishAsync('red/1', `pub1:${n}`, { qos: 1 })
      checker.acked(`pub1:${n}`)
    }
    // Round robin from the first node over [z, node 2, node 3]: x, node 2's only member, gets a third.
    const unacked: string[] = []
    for (let n = 0; n < total / 3; n++) unacked.push((await x.expect('publish')).payload.toString())
    await waitUntil(() => byAcking.size === total - unacked.length, DELIVERY_WAIT_MS, `the acking members to get ${total - unacked.length}`)
    assert.ok(unacked.every(id => !byAcking.has(id)), 'no message is both at x and at an acking member before x leaves')

    x.destroy()
    await waitUntil(() => checker.complete, DELIVERY_WAIT_MS, `x's messages to reach the acking members (${JSON.stringify(checker.reports())})`)
    await sleep(QUIET_MS)
    const [report] = checker.reports()
    assert.deepEqual({ lost: report!.lost, duplicates: report!.duplicates, dup: report!.dupRedeliveries }, { lost: 0, duplicates: 0, dup: 0 })
    const redelivered = new Map<string, number>()
    for (const id of unacked) redelivered.set(byAcking.get(id)!, (redelivered.get(byAcking.get(id)!) ?? 0) + 1)
    t.diagnostic(`x left ${unacked.length} unacknowledged, redelivered to ${JSON.stringify(Object.fromEntries(redelivered))}`)
  })
  it('a member with a persistent session: what it left unacknowledged goes to the others when it drops; offline, it gets messages only while its node has no connected member, and they wait for its return [MQTT 5 §4.8.2]', async (t) => {
    const cluster = await startInProcessCluster(t, 3, { mqtt: { sharedSubscriptionStrategy: 'round_robin' } })
    const filter = '$share/p/per/+'
    const checker = new DeliveryChecker(['group'])
    const atOthers = new Set<string>()
    const others: MqttClient[] = []
    for (const [clientId, broker] of [['z', cluster[0]!], ['q', cluster[1]!], ['y', cluster[2]!]] as const) {
      const client = await member(t, broker, clientId, 5, filter)
      client.on('message', (_topic, payload, packet) => {
        checker.received('group', payload.toString(), packet.dup)
        atOthers.add(payload.toString())
      })
      others.push(client)
    }
    const session = { clientId: 'p', clean: false, properties: { sessionExpiryInterval: 300 } }
    const { client: p } = await RawClient.connected(cluster[1]!.port, session, { protocolVersion: 5 })
    t.after(() => { p.destroy() })
    p.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] })
    await p.expect('suback')
    await waitForRoute(cluster, filter, cluster.map(b => b.nodeName))

    const publisher = await connectClient(t, cluster[0]!.port, { clientId: 'pub1', protocolVersion: 5 })
    let published = 0
    const publish = async (count: number): Promise<string[]> => {
      const ids: string[] = []
      for (let n = 0; n < count; n++) {
        const id = `pub1:${published++}`
        await publisher.publishAsync('per/1', id, { qos: 1 })
        checker.acked(id)
        ids.push(id)
      }
      return ids
    }
    // Round robin from the first node over the 3 nodes, then over node 2's members q and p: p gets a sixth.
    await publish(12)
    const left: string[] = []
    for (let n = 0; n < 2; n++) left.push((await p.expect('publish')).payload.toString())
    p.destroy()
    await waitUntil(() => left.every(id => atOthers.has(id)), DELIVERY_WAIT_MS, `p's unacknowledged ${left.join(', ')} at z, q or y`)
    // p is offline: node 2's share goes to q.
    await publish(12)
    await waitUntil(() => checker.reports()[0]!.received === 24, DELIVERY_WAIT_MS, 'the 24 messages at z, q and y')
    // q leaves: node 2 has only p, offline; its share waits in p's session.
    await endClient(others[1]!)
    await pollUntil(async () => await cluster[1]!.sessionCount(), sessions => sessions === 1, DELIVERY_WAIT_MS, 'q\'s session to end')
    const whileAlone = await publish(6)

    const { client: back, connack } = await RawClient.connected(cluster[1]!.port, session, { protocolVersion: 5 })
    t.after(() => { back.destroy() })
    assert.equal(connack.sessionPresent, true)
    const queuedForP: string[] = []
    while (!checker.complete) {
      const packet = await back.expect('publish', DELIVERY_WAIT_MS)
      back.send({ cmd: 'puback', messageId: packet.messageId ?? 0 })
      checker.received('group', packet.payload.toString(), packet.dup)
      queuedForP.push(packet.payload.toString())
    }
    await sleep(QUIET_MS)
    const [report] = checker.reports()
    assert.deepEqual({ lost: report!.lost, duplicates: report!.duplicates, dup: report!.dupRedeliveries }, { lost: 0, duplicates: 0, dup: 0 })
    assert.ok(queuedForP.length > 0, 'p got node 2\'s share while it was the only member there')
    assert.ok(queuedForP.every(id => whileAlone.includes(id)), `p got only messages published while it was node 2's only member: ${queuedForP.join(', ')}`)
    t.diagnostic(`p left ${left.length} unacknowledged (redelivered), then got ${queuedForP.length} of the ${whileAlone.length} published while it was node 2's only member`)
  })

  it('a member whose session moves to another node stops counting as connected on the old node at once: the old node\'s share goes to its connected member [MQTT 5 §4.8.2]', async (t) => {
    // A long handover window: the old node keeps the moved session's subscriptions throughout the test.
    const cluster = await startInProcessCluster(t, 2, { prefix: 'move', mqtt: { sharedSubscriptionStrategy: 'round_robin' }, cluster: { takeover: { handoverMs: 60_000 } } })
    const [a, b] = cluster as [Broker, Broker]
    const filter = '$share/m/move/+'
    const got = new Map<string, string[]>([['k', []], ['p', []]])
    const k = await member(t, a, 'k', 5, filter)
    k.on('message', (_topic, payload) => { got.get('k')!.push(payload.toString()) })
    const session = { clientId: 'p', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 300 } } as const
    const before = await connectClient(t, a.port, session)
    await before.subscribeAsync(filter, { qos: 1 })
    await waitUntil(() => b.cluster.network.clientsOf(a.nodeName)?.includes('p') === true, DELIVERY_WAIT_MS, `${b.nodeName} to learn where p lives`)
    const takenOverBefore = metrics.sessionsTakenOver
    const moved = await connectClient(t, b.port, session)
    assert.equal(metrics.sessionsTakenOver, takenOverBefore + 1, 'p\'s session was taken over, not started fresh')
    moved.on('message', (_topic, payload) => { got.get('p')!.push(payload.toString()) })
    await waitForRoute([a], filter, [a.nodeName, b.nodeName])

    // Round robin at a over [a, b]; a's share goes to its connected member k only, b's to p.
    const publisher = await connectClient(t, a.port, { clientId: 'pub1', protocolVersion: 5 })
    for (let n = 0; n < 8; n++) await publisher.publishAsync('move/1', `pub1:${n}`, { qos: 1 })
    await waitUntil(() => got.get('k')!.length + got.get('p')!.length === 8, DELIVERY_WAIT_MS, `the 8 messages at k and p (${JSON.stringify(Object.fromEntries(got))})`)
    await sleep(QUIET_MS)
    assert.deepEqual({ k: got.get('k')!.length, p: got.get('p')!.length }, { k: 4, p: 4 })
  })
})
