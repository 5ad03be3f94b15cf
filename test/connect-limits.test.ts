/**
 * Input limits at CONNECT and on idle connections, over real sockets for MQTT 3.1.1 and 5: a Will
 * QoS 3 is malformed, will topics are bounded like PUBLISH topics, client identifiers are bounded,
 * delays beyond Node's timer range are honoured, clients with keepalive 0 can be capped, client
 * sockets have TCP keepalive, and the node holds at most `mqtt.maxConnections` connections. Other
 * clients keep working throughout.
 */
import { test, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import type { IConnectPacket, QoS } from 'mqtt-packet'
import { startTestBroker } from './helpers/broker.js'
import { startBystander } from './helpers/bystander.js'
import { RawClient } from './helpers/raw-client.js'
import { sleep, uniqueName, waitUntil } from './helpers/wait.js'
import { pino } from 'pino'
import { metrics } from '../src/core/metrics.js'

const MAX_TOPIC_LEVELS = 8
const MAX_CLIENT_ID_LENGTH = 64
const broker = await startTestBroker({ after }, {
  mqtt: { maxTopicLevels: MAX_TOPIC_LEVELS, maxClientIdLength: MAX_CLIENT_ID_LENGTH, maxSessionExpiry: 4_294_967_295 }
})

type Cleanup = { after: (fn: () => void) => void }
type Will = NonNullable<IConnectPacket['will']>

const bystander = await startBystander({ after }, broker.port)
afterEach(async () => { await bystander.check() })

/** A raw client subscribed to `filter`, to see whether a will is published (keepalive 60 s: never idle-capped). */
async function watcher (t: Cleanup, filter: string, port = broker.port): Promise<RawClient> {
  const { client } = await RawClient.connected(port, { clientId: uniqueName('watch'), keepalive: 60 })
  t.after(() => client.destroy())
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] })
  await client.expect('suback')
  return client
}

async function open (t: Cleanup, protocolVersion: 4 | 5, port = broker.port): Promise<RawClient> {
  const client = await RawClient.open(port, { protocolVersion })
  t.after(() => client.destroy())
  return client
}

/** MQTT 3.1.1: the broker closes the connection without sending anything, not even a CONNACK. */
async function expectClosedWithoutConnack (client: RawClient): Promise<void> {
  await client.closed()
  assert.deepEqual(client.history.map(h => h.packet.cmd), [], 'nothing sent before the close')
}

/** MQTT 5: the broker refuses the CONNECT with a CONNACK carrying `reasonCode` and closes. */
async function expectRefused (client: RawClient, fields: Partial<IConnectPacket>, reasonCode: number): Promise<void> {
  const connack = await client.handshake(fields)
  assert.equal(connack.reasonCode, reasonCode, `CONNACK reason 0x${(connack.reasonCode ?? 0).toString(16)}, expected 0x${reasonCode.toString(16)}`)
  assert.equal(connack.sessionPresent, false)
  await client.closed()
}

function willOn (topic: string, qos: number, retain = false): Will {
  // mqtt-packet types the Will QoS as 0..2 but encodes whatever it is given.
  return { topic, payload: Buffer.from('gone'), qos: qos as QoS, retain }
}

/** `count` levels under a unique first level. */
function topicOfLevels (prefix: string, count: number): string {
  return [uniqueName(prefix), ...Array.from({ length: count - 1 }, (_, i) => `l${i}`)].join('/')
}

test('[MQTT-3.1.2-14] MQTT 3.1.1: a CONNECT with Will QoS 3 is closed without CONNACK [MQTT-3.1.4-1] and its will is never published', async t => {
  const topic = uniqueName('qos3-v4')
  const watch = await watcher(t, topic)
  const client = await open(t, 4)
  client.send(client.connectPacket({ clientId: uniqueName('qos3'), will: willOn(topic, 3) }))
  await expectClosedWithoutConnack(client)
  await watch.expectSilence(300)
})

test('[MQTT-3.1.2-12] MQTT 5: a CONNECT with Will QoS 3 is malformed: CONNACK 0x81 and close, its will never published', async t => {
  const topic = uniqueName('qos3-v5')
  const watch = await watcher(t, topic)
  const client = await open(t, 5)
  await expectRefused(client, { clientId: uniqueName('qos3-5'), will: willOn(topic, 3, true) }, 0x81)
  await watch.expectSilence(300)
})

test(`[MQTT-3.2.2-6] MQTT 3.1.1: a Will Topic with more than mqtt.maxTopicLevels (${MAX_TOPIC_LEVELS}) levels, or a wildcard [MQTT-3.1.3-11], is closed without CONNACK`, async t => {
  for (const topic of [topicOfLevels('deep-v4', MAX_TOPIC_LEVELS + 1), `${uniqueName('wild-v4')}/+`]) {
    const client = await open(t, 4)
    client.send(client.connectPacket({ clientId: uniqueName('deep'), will: willOn(topic, 1, true) }))
    await expectClosedWithoutConnack(client)
  }
})

test(`MQTT 5: a Will Topic with more than mqtt.maxTopicLevels (${MAX_TOPIC_LEVELS}) levels, or a wildcard, gets CONNACK 0x90 (Topic Name invalid)`, async t => {
  for (const topic of [topicOfLevels('deep-v5', MAX_TOPIC_LEVELS + 1), `${uniqueName('wild-v5')}/#`]) {
    const client = await open(t, 5)
    await expectRefused(client, { clientId: uniqueName('deep5'), will: willOn(topic, 1, true) }, 0x90)
  }
})

test(`a Will Topic of exactly mqtt.maxTopicLevels (${MAX_TOPIC_LEVELS}) levels is accepted and its will published, for MQTT 3.1.1 and 5`, async t => {
  for (const version of [4, 5] as const) {
    const topic = topicOfLevels(`at-limit-${version}`, MAX_TOPIC_LEVELS)
    const watch = await watcher(t, topic)
    const { client } = await RawClient.connected(broker.port, { clientId: uniqueName('at-limit'), will: willOn(topic, 1) }, { protocolVersion: version })
    client.destroy()
    const will = await watch.expect('publish')
    assert.equal(will.topic, topic)
    assert.equal(will.payload.toString(), 'gone')
  }
})

test(`[MQTT-3.1.3-9 (3.1.1), MQTT-3.1.3-8 (5)] a client identifier longer than mqtt.maxClientIdLength (${MAX_CLIENT_ID_LENGTH} bytes) is rejected: MQTT 3.1.1 CONNACK 0x02, MQTT 5 CONNACK 0x85, then the close; one of exactly that length is accepted`, async t => {
  const tooLong = 'c'.repeat(MAX_CLIENT_ID_LENGTH - 1) + 'é' // 64 characters, 65 UTF-8 bytes
  const v4 = await open(t, 4)
  const refused = await v4.handshake({ clientId: tooLong })
  assert.equal(refused.returnCode, 2)
  await v4.closed()
  await expectRefused(await open(t, 5), { clientId: tooLong }, 0x85)
  for (const version of [4, 5] as const) {
    const { client } = await RawClient.connected(broker.port, { clientId: `${version}`.padEnd(MAX_CLIENT_ID_LENGTH, 'k') }, { protocolVersion: version })
    t.after(() => client.destroy())
  }
})

test('timer delays past 2^31 ms: a Will Delay Interval and Session Expiry Interval of 2^32−1 s keep the will pending instead of firing at once (§3.1.3.2.2)', async t => {
  const topic = uniqueName('long-delay')
  const watch = await watcher(t, topic)
  const { client } = await RawClient.connected(broker.port, {
    clientId: uniqueName('long-delay'),
    properties: { sessionExpiryInterval: 4_294_967_295 },
    will: { ...willOn(topic, 1), properties: { willDelayInterval: 4_294_967_295 } }
  }, { protocolVersion: 5 })
  client.destroy()
  await client.closed()
  await watch.expectSilence(700)
})

test('keepalive 0 with mqtt.maxIdleWithoutKeepaliveMs: a silent client is disconnected after the cap and its will published (MQTT 3.1.1 §3.1.2.10); MQTT 5 gets DISCONNECT 0x8D; a client that keeps talking stays', async t => {
  const capMs = 1000
  const capped = await startTestBroker(t, { mqtt: { maxIdleWithoutKeepaliveMs: capMs, serverKeepAlive: 0 } })
  const topic = uniqueName('idle-will')
  const watch = await watcher(t, topic, capped.port)
  const start = Date.now()
  const { client: silent } = await RawClient.connected(capped.port, { clientId: uniqueName('silent'), keepalive: 0, will: willOn(topic, 1) })
  t.after(() => silent.destroy())
  const { client: silent5 } = await RawClient.connected(capped.port, { clientId: uniqueName('silent5'), keepalive: 0 }, { protocolVersion: 5 })
  t.after(() => silent5.destroy())
  const { client: talker } = await RawClient.connected(capped.port, { clientId: uniqueName('talker'), keepalive: 0 })
  t.after(() => talker.destroy())
  const pings = setInterval(() => { talker.send({ cmd: 'pingreq' }) }, capMs / 4)
  t.after(() => { clearInterval(pings) })

  await silent.closed(capMs + 3000)
  const elapsed = Date.now() - start
  assert.ok(elapsed >= capMs - 50, `closed after ${elapsed} ms, before the ${capMs} ms cap`)
  assert.deepEqual(silent.history.slice(1).map(h => h.packet.cmd), [], 'MQTT 3.1.1: closed without a packet')
  assert.equal((await watch.expect('publish', capMs + 1000)).payload.toString(), 'gone', 'the will of the idle client is published')
  const disconnect = await silent5.waitFor('disconnect', () => true, capMs + 1000)
  assert.equal(disconnect.reasonCode, 0x8d)
  await silent5.closed()
  await sleep(capMs / 2)
  assert.equal(talker.isClosed, false, 'a client that sends packets is not idle')
})

/**
 * Timer state of the TCP socket from `localPort` to `remotePort` in /proc/net/tcp (Linux): the
 * `tr` column, 2 while the keepalive timer runs on an idle socket, 0 when no timer runs.
 */
function tcpTimer (localPort: number, remotePort: number): number | undefined {
  const hex = (port: number): string => port.toString(16).toUpperCase().padStart(4, '0')
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/)
    if (fields[1]?.endsWith(`:${hex(localPort)}`) === true && fields[2]?.endsWith(`:${hex(remotePort)}`) === true) {
      return Number.parseInt(fields[5]?.split(':')[0] ?? '', 16)
    }
  }
  return undefined
}

test('client sockets have TCP keepalive (listener.tcpKeepAliveMs), so a peer gone without FIN or RST is found even with keepalive 0; 0 turns it off', async t => {
  if (process.platform !== 'linux') {
    t.skip('reads the socket timers from /proc/net/tcp')
    return
  }
  const off = await startTestBroker(t, { listener: { tcpKeepAliveMs: 0 } })
  for (const [port, expected] of [[broker.port, 2], [off.port, 0]] as const) {
    const { client } = await RawClient.connected(port, { clientId: uniqueName('tcp-ka'), keepalive: 0 })
    t.after(() => client.destroy())
    // Let the CONNACK's ack settle: a socket with unacknowledged data runs the retransmit timer instead.
    await sleep(100)
    const timer = tcpTimer(port, client.socket.localPort ?? 0)
    assert.equal(timer, expected, `broker side of the connection on port ${port}: timer ${timer}, expected ${expected} (2 = keepalive)`)
  }
})

test('MQTT 5: the server uses at most mqtt.topicAliasMaximum aliases towards a client that allows more, so a client cannot grow the server\'s alias table [MQTT-3.3.2-11]', async t => {
  const serverMaximum = 2
  const small = await startTestBroker(t, { mqtt: { topicAliasMaximum: serverMaximum } })
  const topics = [uniqueName('alias-a'), uniqueName('alias-b'), uniqueName('alias-c'), uniqueName('alias-d')]
  const { client: sub } = await RawClient.connected(small.port, { clientId: uniqueName('alias-sub'), properties: { topicAliasMaximum: 1000 } }, { protocolVersion: 5 })
  t.after(() => sub.destroy())
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: topics.map(topic => ({ topic, qos: 0 as const })) })
  await sub.expect('suback')
  const { client: pub } = await RawClient.connected(small.port, { clientId: uniqueName('alias-pub') }, { protocolVersion: 5 })
  t.after(() => pub.destroy())
  for (const topic of topics) pub.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 0, retain: false, dup: false })
  const aliases: number[] = []
  for (let i = 0; i < topics.length; i++) {
    const message = await sub.expect('publish')
    assert.ok(message.topic.length > 0, 'every first message on a topic names it')
    const alias = message.properties?.topicAlias
    if (alias !== undefined) aliases.push(alias)
  }
  assert.deepEqual(aliases.sort(), [1, 2], `aliases used: ${aliases.join(', ')}`)
})

test('mqtt.maxConnections bounds the connections of all listeners together, CONNECT or not: one more is closed as accepted, counted and logged; a place freed is taken again', async t => {
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } })
  const limited = await startTestBroker(t, { mqtt: { maxConnections: 3 }, log })
  const refusedBefore = metrics.connectionsRefusedMax
  const silent = await open(t, 4, limited.port)
  const { client: first } = await RawClient.connected(limited.port, { clientId: uniqueName('max-a') })
  t.after(() => first.destroy())
  const { client: second } = await RawClient.connected(limited.port, { clientId: uniqueName('max-b') }, { protocolVersion: 5 })
  t.after(() => second.destroy())

  // A fourth connection, here one that would send a valid CONNECT: closed without a CONNACK.
  const fourth = await open(t, 4, limited.port)
  fourth.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: uniqueName('max-c'), clean: true, keepalive: 0 })
  await fourth.closed()
  assert.equal(metrics.connectionsRefusedMax - refusedBefore, 1)
  await waitUntil(() => lines.some(line => line.msg === 'connection_refused'), 5_000, 'the connection_refused line')
  const line = lines.find(l => l.msg === 'connection_refused')!
  assert.deepEqual([line.reason, line.limit, line.count], ['max_connections', 3, 1])

  // The clients it holds keep working.
  first.send({ cmd: 'pingreq' })
  await first.expect('pingresp')

  // A place freed (the silent socket goes) is taken by the next client.
  silent.destroy()
  // The server sees the close a moment later: until then a new connection is still refused.
  let again: RawClient | undefined
  for (let attempt = 0; again === undefined && attempt < 50; attempt++) {
    again = await RawClient.connected(limited.port, { clientId: uniqueName('max-d') }).then(({ client }) => client, async () => { await sleep(100); return undefined })
  }
  assert.ok(again !== undefined, 'a client connects in the freed place')
  t.after(() => again.destroy())
  assert.equal(again.isClosed, false)
})
