/**
 * Client ids and sessions cluster-wide (README "Client ids and session takeover"), on three
 * in-process nodes with real MQTT sockets: a persistent session taken over on another node while
 * QoS 1 traffic flows, clean start discarding a session held elsewhere, the same client id
 * connecting on two nodes at once (×100), and the session of a node that is down.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt'
import type { Broker } from '../src/broker.js'
import { metrics } from '../src/core/metrics.js'
import { SYS_TOPICS } from '../actors/sys-publisher.js'
import { DeliveryChecker } from './helpers/delivery-checker.js'
import { holdersOf, startClusterNode, startInProcessCluster, waitForRouteOf } from './helpers/in-process-cluster.js'
import { ManualClock } from '../src/core/clock.js'
import { connectClient, type Cleanup } from './helpers/mqtt-client.js'
import { PacedPublisher } from './helpers/paced-publisher.js'
import { RawClient } from './helpers/raw-client.js'
import { sleep, waitFor, waitUntil } from './helpers/wait.js'

const WAIT_MS = 10_000
const SESSION_TAKEN_OVER = 0x8e

/** An MQTT.js client whose message handler is attached before CONNECT; resolves with its CONNACK. */
async function subscriberClient (t: Cleanup, port: number, options: IClientOptions, onMessage: (payload: string, dup: boolean) => void): Promise<{ client: MqttClient, connack: IConnackPacket }> {
  const client = mqtt.connect({ host: '127.0.0.1', port, protocol: 'mqtt', reconnectPeriod: 0, connectTimeout: WAIT_MS, ...options })
  t.after(async () => { await client.endAsync(true).catch(() => undefined) })
  client.on('error', () => {})
  client.on('message', (_topic, payload, packet) => { onMessage(payload.toString(), packet.dup) })
  const connack = await waitFor<IConnackPacket>('CONNACK', ({ resolve, reject }) => {
    client.once('connect', resolve).once('close', () => { reject(new Error('closed before CONNACK')) })
    return undefined
  }, { timeoutMs: WAIT_MS })
  return { client, connack }
}

const nodes = await startInProcessCluster({ after }, 3, { prefix: 'takeover' })

describe('client ids and session takeover across nodes', () => {
  it('takes a persistent session over on another node while QoS 1 flows: sessionPresent=1, no acknowledged message lost [MQTT-3.1.4-3] [MQTT-3.2.2-3]', async (t) => {
    const [a, b, c] = nodes as [Broker, Broker, Broker]
    const checker = new DeliveryChecker(['s'])
    const received = (payload: string, dup: boolean): void => { checker.received('s', payload, dup) }
    const options: IClientOptions = { clientId: 'mover', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } }
    const first = await subscriberClient(t, a.port, options, received)
    const oldDisconnect = waitFor<number | undefined>('DISCONNECT on the old connection', ({ resolve }) => {
      first.client.once('disconnect', packet => { resolve(packet.reasonCode) })
      return undefined
    }, { timeoutMs: WAIT_MS })
    await first.client.subscribeAsync('handover/t', { qos: 1 })
    await waitForRouteOf(c, 'handover/t', a.nodeName)

    const publisher = new PacedPublisher(await connectClient(t, c.port, { clientId: 'handover-pub' }), 'handover/t', id => { checker.acked(id) })
    publisher.start(400, 'm')
    await sleep(400)
    const before = { takenOver: metrics.sessionsTakenOver, handedOver: metrics.sessionsHandedOver }
    const second = await subscriberClient(t, b.port, options, received)
    assert.equal(second.connack.sessionPresent, true)
    assert.equal(await oldDisconnect, SESSION_TAKEN_OVER)
    await sleep(800)
    await publisher.stop()
    await waitUntil(() => checker.complete, WAIT_MS, 'every acknowledged message to arrive')
      .catch(() => { assert.fail(`lost: ${checker.missing('s', 10).join(', ')} of ${checker.ackedCount}`) })
    const [report] = checker.reports()
    t.diagnostic(`acknowledged ${report!.expected}, lost ${report!.lost}, DUP redeliveries ${report!.dupRedeliveries}, duplicates ${report!.duplicates}`)
    assert.ok(report!.expected > 200, `too little traffic: ${report!.expected}`)
    assert.equal(report!.lost, 0)
    assert.equal(report!.duplicates, 0)
    assert.deepEqual(holdersOf(nodes, 'mover'), [b.nodeName])
    assert.equal(metrics.sessionsTakenOver, before.takenOver + 1)
    assert.equal(metrics.sessionsHandedOver, before.handedOver + 1)
    // The route moves with the session: the old node's goes once its handover window ends.
    await waitForRouteOf(c, 'handover/t', b.nodeName)
    await waitForRouteOf(c, 'handover/t', a.nodeName, false)
  })

  it('hands over QoS 2 in flight both ways, awaiting PUBREL and the queue: resent with DUP, PUBREL completed on the new node [MQTT-4.4.0-1] [MQTT-4.3.3-11]', async (t) => {
    const [a, b] = nodes as [Broker, Broker]
    const persistent = { clientId: 'inflight', clean: false, properties: { sessionExpiryInterval: 300 } }
    const { client: old } = await RawClient.connected(a.port, persistent, { protocolVersion: 5 })
    t.after(() => { old.destroy() })
    old.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'inflight/#', qos: 2 }] })
    await old.expect('suback')
    const { client: publisher } = await RawClient.connected(a.port, { clientId: 'inflight-pub' }, { protocolVersion: 5 })
    t.after(() => { publisher.destroy() })
    publisher.send({ cmd: 'publish', topic: 'inflight/a', payload: Buffer.from('q2'), qos: 2, retain: false, dup: false, messageId: 1 })
    await publisher.expect('pubrec')
    // The subscriber leaves the QoS 2 delivery unanswered, and its own QoS 2 publish without PUBREL.
    const inflight = await old.waitFor('publish', packet => packet.topic === 'inflight/a')
    old.send({ cmd: 'publish', topic: 'elsewhere', payload: Buffer.from('mine'), qos: 2, retain: false, dup: false, messageId: 7 })
    await old.waitFor('pubrec', packet => packet.messageId === 7)
    old.destroy()
    await old.closed()
    publisher.send({ cmd: 'publish', topic: 'inflight/b', payload: Buffer.from('queued'), qos: 1, retain: false, dup: false, messageId: 2 })
    await publisher.expect('puback')

    const { client: resumed, connack } = await RawClient.connected(b.port, persistent, { protocolVersion: 5 })
    t.after(() => { resumed.destroy() })
    assert.equal(connack.sessionPresent, true)
    const resent = await resumed.waitFor('publish', packet => packet.topic === 'inflight/a')
    assert.equal(resent.dup, true)
    assert.equal(resent.qos, 2)
    assert.equal(resent.messageId, inflight.messageId)
    assert.equal((await resumed.waitFor('publish', packet => packet.topic === 'inflight/b')).payload.toString(), 'queued')
    resumed.send({ cmd: 'pubrel', messageId: 7 })
    const pubcomp = await resumed.waitFor('pubcomp', packet => packet.messageId === 7)
    assert.equal(pubcomp.reasonCode ?? 0, 0, 'the new node knew the packet id awaiting PUBREL')
    resumed.send({ cmd: 'pubrec', messageId: inflight.messageId! })
    await resumed.waitFor('pubrel', packet => packet.messageId === inflight.messageId)
  })

  it('clean start on another node discards the session there: v5 gets DISCONNECT 0x8E, v3.1.1 a close; sessionPresent=0 [MQTT-3.1.4-3] [MQTT-3.2.2-2]', async (t) => {
    const [a, b, c] = nodes as [Broker, Broker, Broker]
    const discardedBefore = metrics.sessionsDiscardedForPeer
    for (const protocolVersion of [5, 4] as const) {
      const clientId = `cleaner-v${protocolVersion}`
      const persistent = protocolVersion === 5 ? { clean: false, properties: { sessionExpiryInterval: 300 } } : { clean: false }
      const { client: old } = await RawClient.connected(a.port, { clientId, ...persistent }, { protocolVersion })
      t.after(() => { old.destroy() })
      old.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `clean/${protocolVersion}`, qos: 1 }] })
      await old.expect('suback')
      await waitUntil(() => b.cluster.network.clientsOf(a.nodeName)?.includes(clientId) === true, WAIT_MS, `${b.nodeName} to learn where ${clientId} lives`)

      const { client: fresh, connack } = await RawClient.connected(b.port, { clientId, clean: true }, { protocolVersion })
      t.after(() => { fresh.destroy() })
      assert.equal(connack.sessionPresent, false)
      if (protocolVersion === 5) assert.equal((await old.expect('disconnect')).reasonCode, SESSION_TAKEN_OVER)
      await old.closed()
      assert.deepEqual(holdersOf(nodes, clientId), [b.nodeName])
      // The discarded session's subscription is gone with it, everywhere.
      await waitForRouteOf(c, `clean/${protocolVersion}`, a.nodeName, false)
    }
    assert.equal(metrics.sessionsDiscardedForPeer, discardedBefore + 2, 'each discarded session counted once')
  })

  it('publishes every takeover counter on $SYS/brokers/<node>/sessions/', () => {
    const published = new Map(SYS_TOPICS)
    for (const [topic, value] of [
      ['sessions/handed_over', metrics.sessionsHandedOver], ['sessions/taken_over', metrics.sessionsTakenOver],
      ['sessions/discarded_for_peer', metrics.sessionsDiscardedForPeer], ['sessions/takeover_failed', metrics.sessionsTakeoverFailed],
      ['sessions/client_id_conflicts', metrics.clientIdConflictsLost]
    ] as const) {
      assert.equal(published.get(topic)?.(0), String(value), `$SYS ${topic}`)
    }
  })

  it('the same client id connecting on two nodes at once ends with exactly one live session, 100 times', async (t) => {
    const [a, b] = nodes as [Broker, Broker]
    const wins = new Map<string, number>()
    const conflictsBefore = metrics.clientIdConflictsLost
    const started = Date.now()
    for (let i = 0; i < 100; i++) {
      const clientId = `race-${i}`
      const clients = await Promise.all([RawClient.open(a.port, { protocolVersion: 5 }), RawClient.open(b.port, { protocolVersion: 5 })])
      // Both CONNECTs leave in the same tick, in alternating order; every third pair 3 ms apart.
      const [first, second] = i % 2 === 0 ? clients : [clients[1], clients[0]]
      first.send(first.connectPacket({ clientId, clean: true }))
      if (i % 3 === 2) await sleep(3)
      second.send(second.connectPacket({ clientId, clean: true }))
      await Promise.all(clients.map(async client => await client.expect('connack')))
      await waitUntil(() => clients.filter(client => client.isClosed).length === 1 && holdersOf(nodes, clientId).length === 1, WAIT_MS,
        `one connection and one holder of ${clientId}`)
      const winner = clients[0].isClosed ? b : a
      assert.deepEqual(holdersOf(nodes, clientId), [winner.nodeName], `${clientId}: the open connection's node holds the session`)
      const loser = clients.find(client => client.isClosed)!
      const disconnect = loser.history.find(entry => entry.packet.cmd === 'disconnect')?.packet
      assert.equal(disconnect !== undefined && 'reasonCode' in disconnect ? disconnect.reasonCode : undefined, SESSION_TAKEN_OVER)
      wins.set(winner.nodeName, (wins.get(winner.nodeName) ?? 0) + 1)
      for (const client of clients) client.destroy()
      await waitUntil(() => holdersOf(nodes, clientId).length === 0, WAIT_MS, `${clientId}'s session to end`)
    }
    t.diagnostic(`winners ${JSON.stringify(Object.fromEntries(wins))}, resolved by the conflict rule ${metrics.clientIdConflictsLost - conflictsBefore} times, ${Date.now() - started} ms`)
  })

  it('a client id connected on both sides of a split keeps one session when the sides meet again: the later connect', async (t) => {
    const [a, b, c] = nodes as [Broker, Broker, Broker]
    // A leave and a rejoin stand in for a partition and its heal: each side drops the other's
    // replicas meanwhile, and the rejoin brings them back by snapshot, as a heal does.
    await b.cluster.network.leave()
    await waitUntil(() => !a.cluster.network.status().runningNodes.includes(b.nodeName), WAIT_MS, `${a.nodeName} to see ${b.nodeName} gone`)
    const persistent = { clientId: 'split', clean: false, properties: { sessionExpiryInterval: 300 } }
    const { client: earlier } = await RawClient.connected(a.port, persistent, { protocolVersion: 5 })
    t.after(() => { earlier.destroy() })
    await sleep(20)
    const { client: later, connack } = await RawClient.connected(b.port, persistent, { protocolVersion: 5 })
    t.after(() => { later.destroy() })
    assert.equal(connack.sessionPresent, false, 'the other side is out of reach: a fresh session')
    assert.deepEqual(holdersOf(nodes, 'split').sort(), [a.nodeName, b.nodeName])

    await b.cluster.network.join(a.cluster.network.addresses()[0]!, { signal: AbortSignal.timeout(WAIT_MS) })
    assert.equal((await earlier.expect('disconnect', WAIT_MS)).reasonCode, SESSION_TAKEN_OVER)
    await waitUntil(() => holdersOf(nodes, 'split').length === 1, WAIT_MS, 'one holder of split')
    assert.deepEqual(holdersOf(nodes, 'split'), [b.nodeName])
    assert.equal(later.isClosed, false)
    await waitUntil(() => [a, b, c].every(node => node.cluster.network.status().runningNodes.length === 3), WAIT_MS, 'the full mesh again')
  })

  it('a session on a node that is down starts fresh elsewhere, counted [MQTT-3.2.2-2]', async (t) => {
    const [a, , c] = nodes as [Broker, Broker, Broker]
    const { client: orphan } = await RawClient.connected(c.port, { clientId: 'orphan', clean: false, properties: { sessionExpiryInterval: 300 } }, { protocolVersion: 5 })
    t.after(() => { orphan.destroy() })
    await waitUntil(() => a.cluster.network.clientsOf(c.nodeName)?.includes('orphan') === true, WAIT_MS, `${a.nodeName} to learn where orphan lives`)
    await c.stop()
    await waitUntil(() => a.cluster.network.status().stoppedNodes.includes(c.nodeName), WAIT_MS, `${c.nodeName} to be seen down`)
    const failedBefore = metrics.sessionsTakeoverFailed
    const { client, connack } = await RawClient.connected(a.port, { clientId: 'orphan', clean: false, properties: { sessionExpiryInterval: 300 } }, { protocolVersion: 5 })
    t.after(() => { client.destroy() })
    assert.equal(connack.sessionPresent, false)
    assert.equal(metrics.sessionsTakeoverFailed, failedBefore + 1)
    assert.deepEqual(holdersOf(nodes.filter(node => node !== c), 'orphan'), [a.nodeName])
  })

  it('a node that stops shuts down the sessions it handed over too: none of their timers outlives it', async (t) => {
    const clock = new ManualClock()
    const old = await startClusterNode(t, 'closing1@127.0.0.1', { clock })
    const taker = await startClusterNode(t, 'closing2@127.0.0.1')
    await taker.cluster.network.join(old.cluster.network.addresses()[0]!, { signal: AbortSignal.timeout(WAIT_MS) })
    const persistent = { clientId: 'closing', clean: false, properties: { sessionExpiryInterval: 300 } }
    const { client: first } = await RawClient.connected(old.port, persistent, { protocolVersion: 5 })
    t.after(() => { first.destroy() })
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'closing/t', qos: 1 }] })
    await first.expect('suback')
    await waitUntil(() => taker.cluster.network.clientsOf(old.nodeName)?.includes('closing') === true, WAIT_MS, `${taker.nodeName} to learn where closing lives`)
    const { client: second, connack } = await RawClient.connected(taker.port, persistent, { protocolVersion: 5 })
    t.after(() => { second.destroy() })
    assert.equal(connack.sessionPresent, true)
    await old.stop()
    await waitUntil(() => clock.pending === 0, WAIT_MS, 'no timer left on the stopped node\'s clock')
  })
})
