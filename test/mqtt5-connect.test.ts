/**
 * MQTT 5 CONNECT/CONNACK: assigned client identifier, CONNACK properties, server keep alive,
 * session expiry, takeover with DISCONNECT 0x8E and enhanced authentication refusal.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import type { IConnectPacket } from 'mqtt-packet'
import { startTestBroker } from './helpers/broker.js'
import { RawClient } from './helpers/raw-client.js'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import { uniqueName, waitUntil } from './helpers/wait.js'
import { ManualClock } from '../src/core/clock.js'

const SERVER_KEEP_ALIVE = 30
const broker = await startTestBroker({ after }, { mqtt: { serverKeepAlive: SERVER_KEEP_ALIVE } })

type Cleanup = { after: (fn: () => void) => void }

async function open (t: Cleanup): Promise<RawClient> {
  const client = await RawClient.open(broker.port, { protocolVersion: 5 })
  t.after(() => client.destroy())
  return client
}

async function connected (t: Cleanup, fields: Partial<IConnectPacket>): Promise<{ client: RawClient, sessionPresent: boolean }> {
  const { client, connack } = await RawClient.connected(broker.port, fields, { protocolVersion: 5 })
  t.after(() => client.destroy())
  return { client, sessionPresent: connack.sessionPresent }
}

test('[MQTT-3.2.2-16] a zero-length client id is accepted and the CONNACK carries a unique Assigned Client Identifier', async t => {
  const a = await open(t)
  const b = await open(t)
  const ca = await a.handshake({ clientId: '' })
  const cb = await b.handshake({ clientId: '' })
  assert.equal(ca.reasonCode, 0)
  assert.equal(cb.reasonCode, 0)
  const ida = ca.properties?.assignedClientIdentifier
  const idb = cb.properties?.assignedClientIdentifier
  assert.ok(ida !== undefined && ida.length > 0, 'assigned client identifier present')
  assert.ok(idb !== undefined && idb.length > 0, 'assigned client identifier present')
  assert.notEqual(ida, idb)
  a.send({ cmd: 'pingreq' })
  b.send({ cmd: 'pingreq' })
  await a.expect('pingresp')
  await b.expect('pingresp')
})

test('a client that sent a client id gets no Assigned Client Identifier', async t => {
  const client = await open(t)
  const connack = await client.handshake({ clientId: uniqueName('named') })
  assert.equal(connack.properties?.assignedClientIdentifier, undefined)
})

test('CONNACK states the server limits: Receive Maximum, Maximum Packet Size, Topic Alias Maximum', async t => {
  const client = await open(t)
  const connack = await client.handshake({ clientId: uniqueName('limits') })
  assert.equal(connack.reasonCode, 0)
  assert.equal(connack.properties?.receiveMaximum ?? 65535, broker.config.mqtt.receiveMaximum)
  assert.equal(connack.properties?.maximumPacketSize, broker.config.mqtt.maxPacketSize)
  assert.equal(connack.properties.topicAliasMaximum ?? 0, broker.config.mqtt.topicAliasMaximum)
})

test('[MQTT-3.2.2-21] a Keep Alive above the server cap is answered with Server Keep Alive = the cap', async t => {
  const client = await open(t)
  const connack = await client.handshake({ clientId: uniqueName('ka-cap'), keepalive: 600 })
  assert.equal(connack.reasonCode, 0)
  assert.equal(connack.properties?.serverKeepAlive, SERVER_KEEP_ALIVE)
})

test('[MQTT-3.2.2-22] the server enforces its Server Keep Alive: a silent client is closed after 1.5 × the cap', async t => {
  const capped = await startTestBroker(t, { mqtt: { serverKeepAlive: 1 } })
  const client = await RawClient.open(capped.port, { protocolVersion: 5 })
  t.after(() => client.destroy())
  const connack = await client.handshake({ clientId: uniqueName('ka-enforced'), keepalive: 100 })
  assert.equal(connack.properties?.serverKeepAlive, 1)
  const start = Date.now()
  await client.closed(4000)
  const elapsed = Date.now() - start
  assert.ok(elapsed >= 1000 && elapsed <= 3000, `closed after ${elapsed} ms`)
  const disconnect = client.history.find(h => h.packet.cmd === 'disconnect')
  if (disconnect !== undefined && disconnect.packet.cmd === 'disconnect') {
    assert.equal(disconnect.packet.reasonCode, 0x8d, 'a DISCONNECT before the close says Keep Alive timeout')
  }
})

test('[MQTT-3.1.2-23] a session with Session Expiry Interval > 0 outlives the connection: Clean Start 0 resumes it [MQTT-3.2.2-3]', async t => {
  const clientId = uniqueName('expiry-kept')
  const topic = uniqueName('expiry-kept')
  const { client: first } = await connected(t, { clientId, clean: true, properties: { sessionExpiryInterval: 30 } })
  first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] })
  await first.expect('suback')
  first.destroy()
  await first.closed()
  const pub = await connectClient(t, broker.port, { protocolVersion: 5 })
  await pub.publishAsync(topic, 'queued', { qos: 1 })
  const { client: second, sessionPresent } = await connected(t, { clientId, clean: false, properties: { sessionExpiryInterval: 30 } })
  assert.equal(sessionPresent, true)
  assert.equal((await second.expect('publish')).payload.toString(), 'queued')
})

test('[MQTT-3.1.2-23] the session is discarded once the Session Expiry Interval has passed', async t => {
  const clock = new ManualClock()
  const own = await startTestBroker(t, { clock })
  const clientId = uniqueName('expiry-gone')
  const topic = uniqueName('expiry-gone')
  const { client: first } = await RawClient.connected(own.port, { clientId, properties: { sessionExpiryInterval: 1 } }, { protocolVersion: 5 })
  t.after(() => first.destroy())
  first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] })
  await first.expect('suback')
  first.destroy()
  await first.closed()
  await waitUntil(() => clock.pending === 1, 2000, 'the session to start its expiry timer')
  clock.advance(1000)
  const pub = await connectClient(t, own.port, { protocolVersion: 5 })
  await pub.publishAsync(topic, 'too-late', { qos: 1 })
  const { client: second, connack } = await RawClient.connected(own.port, { clientId, clean: false, properties: { sessionExpiryInterval: 30 } }, { protocolVersion: 5 })
  t.after(() => second.destroy())
  assert.equal(connack.sessionPresent, false)
  await second.expectSilence(400)
})

test('a session without Session Expiry Interval (0) ends when the connection closes', async t => {
  const clientId = uniqueName('expiry-zero')
  const { client: first } = await connected(t, { clientId })
  first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: uniqueName('z'), qos: 1 }] })
  await first.expect('suback')
  first.destroy()
  await first.closed()
  const { sessionPresent } = await connected(t, { clientId, clean: false })
  assert.equal(sessionPresent, false)
})

test('[MQTT-3.1.2-4] Clean Start 1 discards an existing session: session present 0 [MQTT-3.2.2-2]', async t => {
  const clientId = uniqueName('clean-start')
  const { client: first } = await connected(t, { clientId, properties: { sessionExpiryInterval: 30 } })
  first.send({ cmd: 'disconnect', reasonCode: 0 })
  await first.closed()
  const { sessionPresent } = await connected(t, { clientId, clean: true, properties: { sessionExpiryInterval: 30 } })
  assert.equal(sessionPresent, false)
})

test('a DISCONNECT with Session Expiry Interval 0 ends a session that would otherwise persist (§3.14.2.2.2)', async t => {
  const clientId = uniqueName('disconnect-expiry')
  const { client: first } = await connected(t, { clientId, properties: { sessionExpiryInterval: 30 } })
  first.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } })
  await first.closed()
  const { sessionPresent } = await connected(t, { clientId, clean: false, properties: { sessionExpiryInterval: 30 } })
  assert.equal(sessionPresent, false)
})

test('[MQTT-3.1.4-3] a second connection with the same client id takes over: the first gets DISCONNECT 0x8E (Session taken over) and is closed', async t => {
  const clientId = uniqueName('takeover5')
  const { client: first } = await connected(t, { clientId, properties: { sessionExpiryInterval: 30 } })
  const { client: second, sessionPresent } = await connected(t, { clientId, clean: false, properties: { sessionExpiryInterval: 30 } })
  assert.equal(sessionPresent, true)
  const disconnect = await first.expect('disconnect')
  assert.equal(disconnect.reasonCode, 0x8e)
  await first.closed()
  second.send({ cmd: 'pingreq' })
  await second.expect('pingresp')
})

test('[MQTT-4.12.0-1] an unsupported Authentication Method gets CONNACK 0x8C (Bad authentication method) and the connection is closed; others keep working', async t => {
  const bystander = await connectClient(t, broker.port, { protocolVersion: 5 })
  const inbox = new Inbox(bystander)
  const topic = uniqueName('bystander')
  await bystander.subscribeAsync(topic, { qos: 1 })
  for (const method of ['SCRAM-SHA-256', 'GS2-KRB5']) {
    const client = await open(t)
    const connack = await client.handshake({ clientId: uniqueName('auth'), properties: { authenticationMethod: method, authenticationData: Buffer.from('x') } })
    assert.equal(connack.reasonCode, 0x8c, method)
    assert.equal(connack.sessionPresent, false)
    await client.closed()
  }
  await bystander.publishAsync(topic, 'alive', { qos: 1 })
  assert.equal((await inbox.waitForTopic(topic)).payload.toString(), 'alive')
})

test('§4.12: an AUTH packet from a client that did not start enhanced authentication is a protocol error (DISCONNECT 0x82), not a crash', async t => {
  const { client } = await connected(t, { clientId: uniqueName('stray-auth') })
  client.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'SCRAM-SHA-1' } })
  const disconnect = await client.expect('disconnect')
  assert.equal(disconnect.reasonCode, 0x82)
  await client.closed()
  const { client: other } = await connected(t, { clientId: uniqueName('after-auth') })
  other.send({ cmd: 'pingreq' })
  await other.expect('pingresp')
})

test('with mqtt.retainAvailable false, CONNACK says Retain Available 0 and a retained PUBLISH gets DISCONNECT 0x9A (§3.2.2.3.5); a will with Will Retain gets CONNACK 0x9A and the close [MQTT-3.2.2-13]', async t => {
  const noRetain = await startTestBroker(t, { mqtt: { retainAvailable: false } })
  const { client, connack } = await RawClient.connected(noRetain.port, { clientId: uniqueName('no-retain') }, { protocolVersion: 5 })
  t.after(() => client.destroy())
  assert.equal(connack.properties?.retainAvailable, false)
  client.send({ cmd: 'publish', topic: uniqueName('r'), payload: Buffer.from('x'), qos: 1, messageId: 1, retain: true, dup: false })
  assert.equal((await client.expect('disconnect')).reasonCode, 0x9a)
  await client.closed()
  const willRetain = await RawClient.open(noRetain.port, { protocolVersion: 5 })
  t.after(() => willRetain.destroy())
  const refused = await willRetain.handshake({ clientId: uniqueName('will-retain'), will: { topic: 'w/r', payload: Buffer.from('x'), qos: 0, retain: true } })
  assert.equal(refused.reasonCode, 0x9a)
  await willRetain.closed()
})

