/**
 * Bad input over real TCP sockets: malformed bytes, protocol violations, invalid UTF-8 and wildcard
 * misuse in topics, oversize packets and sockets that never CONNECT. The offending client gets the
 * right reason code (MQTT 5) or is disconnected (MQTT 3.1.1), and every other client keeps working.
 */
import { test, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { connect as netConnect } from 'node:net'
import type { Packet } from 'mqtt-packet'
import { startTestBroker } from './helpers/broker.js'
import { startBystander } from './helpers/bystander.js'
import { RawClient, describePacket } from './helpers/raw-client.js'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import { sleep, uniqueName, withTimeout } from './helpers/wait.js'
import { encodeConnect, encodePublish, encodeSubscribe, encodeUnsubscribe, encodeProperties, lengthPrefixed, PropertyId, varint } from './helpers/wire.js'

const MAX_PACKET = 2048
const CONNECT_TIMEOUT_MS = 400
const broker = await startTestBroker({ after }, { mqtt: { maxPacketSize: MAX_PACKET, connectTimeoutMs: CONNECT_TIMEOUT_MS } })

type Cleanup = { after: (fn: () => void) => void }

const bystander = await startBystander({ after }, broker.port)
afterEach(async () => { await bystander.check() })

async function open (t: Cleanup, protocolVersion: 4 | 5 = 4): Promise<RawClient> {
  const client = await RawClient.open(broker.port, { protocolVersion })
  t.after(() => client.destroy())
  return client
}

/** Clients whose first received packet is the successful CONNACK of their handshake. */
const handshaken = new WeakSet<RawClient>()

async function connected (t: Cleanup, protocolVersion: 4 | 5): Promise<RawClient> {
  const { client } = await RawClient.connected(broker.port, { clientId: uniqueName('bad') }, { protocolVersion })
  t.after(() => client.destroy())
  handshaken.add(client)
  return client
}

/** The broker closes the connection without sending anything (after the handshake) but what `allowed` accepts. */
async function expectClosedSilently (client: RawClient, allowed: (p: Packet) => boolean = () => false): Promise<void> {
  await client.closed()
  const unexpected = client.history.slice(handshaken.has(client) ? 1 : 0).map(h => h.packet).filter(p => !allowed(p))
  assert.deepEqual(unexpected.map(describePacket), [], 'no packets before the close')
}

/** MQTT 5: the broker sends DISCONNECT with `reasonCode` and closes the connection. */
async function expectDisconnect (client: RawClient, reasonCode: number): Promise<void> {
  const disconnect = await client.waitFor('disconnect')
  assert.equal(disconnect.reasonCode, reasonCode, `DISCONNECT reason 0x${(disconnect.reasonCode ?? 0).toString(16)}, expected 0x${reasonCode.toString(16)}`)
  await client.closed()
}

/** A surrogate code point (U+D800) encoded as UTF-8 bytes: ill-formed UTF-8 [MQTT-1.5.4-1]. */
const SURROGATE = Buffer.from([0xed, 0xa0, 0x80])

test('[MQTT-3.1.0-1] a first packet that is not CONNECT closes the connection', async t => {
  const firsts: Buffer[] = [
    Buffer.from([0xc0, 0x00]), // PINGREQ
    encodePublish({ topic: 'a/b', payload: 'x' }),
    encodeSubscribe('a/b', 0, 1, false),
    Buffer.from([0xe0, 0x00]) // DISCONNECT
  ]
  for (const bytes of firsts) {
    const client = await open(t)
    client.sendBytes(bytes)
    await expectClosedSilently(client)
  }
})

test('malformed bytes: reserved packet type 0, reserved type 15 in MQTT 3.1.1, and a 5-byte Remaining Length close the connection', async t => {
  for (const bytes of [Buffer.from([0x00, 0x00]), Buffer.from([0xf0, 0x00]), Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])]) {
    const client = await connected(t, 4)
    client.sendBytes(bytes)
    await expectClosedSilently(client)
  }
})

test('[MQTT-4.13.1-1] MQTT 5: a malformed Remaining Length gets DISCONNECT 0x81 (Malformed Packet)', async t => {
  const client = await connected(t, 5)
  client.sendBytes(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]))
  await expectDisconnect(client, 0x81)
})

test('[MQTT-3.1.0-2] a second CONNECT is a protocol violation: MQTT 3.1.1 closes, MQTT 5 sends DISCONNECT 0x82', async t => {
  const v3 = await connected(t, 4)
  v3.send(v3.connectPacket({ clientId: uniqueName('again') }))
  await expectClosedSilently(v3)
  const v5 = await connected(t, 5)
  v5.send(v5.connectPacket({ clientId: uniqueName('again5') }))
  await expectDisconnect(v5, 0x82)
})

test('[MQTT-1.5.4-1] [MQTT-1.5.3-1 (3.1.1)] ill-formed UTF-8 in a PUBLISH topic: MQTT 3.1.1 closes, MQTT 5 sends DISCONNECT 0x81', async t => {
  const watcher = await connectClient(t, broker.port)
  const inbox = new Inbox(watcher)
  await watcher.subscribeAsync('#', { qos: 0 })
  const topic = Buffer.concat([Buffer.from('bad/'), SURROGATE])
  const v3 = await connected(t, 4)
  v3.sendBytes(encodePublish({ topic, payload: 'x' }))
  await expectClosedSilently(v3)
  const v5 = await connected(t, 5)
  v5.sendBytes(encodePublish({ topic, payload: 'x', properties: [] }))
  await expectDisconnect(v5, 0x81)
  await sleep(100)
  assert.deepEqual(inbox.messages.filter(m => m.topic.startsWith('bad/')).map(m => m.topic), [], 'nothing was published')
})

test('[MQTT-1.5.4-1] [MQTT-1.5.3-1 (3.1.1)] ill-formed UTF-8 in a SUBSCRIBE topic filter: MQTT 3.1.1 closes, MQTT 5 sends DISCONNECT 0x81', async t => {
  const filter = Buffer.concat([Buffer.from('bad/'), SURROGATE, Buffer.from('/#')])
  const v3 = await connected(t, 4)
  v3.sendBytes(encodeSubscribe(filter, 0, 1, false))
  await expectClosedSilently(v3)
  const v5 = await connected(t, 5)
  v5.sendBytes(encodeSubscribe(filter, 0, 1, true))
  await expectDisconnect(v5, 0x81)
})

test('[MQTT-1.5.4-2] [MQTT-1.5.3-2 (3.1.1)] a PUBLISH topic containing U+0000 is rejected: MQTT 3.1.1 closes, MQTT 5 sends DISCONNECT 0x81', async t => {
  const topic = Buffer.from('nul/\u0000/x')
  const v3 = await connected(t, 4)
  v3.sendBytes(encodePublish({ topic, payload: 'x' }))
  await expectClosedSilently(v3)
  const v5 = await connected(t, 5)
  v5.sendBytes(encodePublish({ topic, payload: 'x', properties: [] }))
  await expectDisconnect(v5, 0x81)
})

test('[MQTT-3.3.2-2] a wildcard in a PUBLISH topic name: MQTT 3.1.1 closes, MQTT 5 sends DISCONNECT 0x90 (Topic Name invalid)', async t => {
  for (const topic of ['wild/+', 'wild/#', '+']) {
    const v3 = await connected(t, 4)
    v3.sendBytes(encodePublish({ topic, qos: 1, packetId: 1, payload: 'x' }))
    await expectClosedSilently(v3)
    const v5 = await connected(t, 5)
    v5.sendBytes(encodePublish({ topic, qos: 1, packetId: 1, payload: 'x', properties: [] }))
    await expectDisconnect(v5, 0x90)
  }
})

test('[MQTT-3.3.1-4] a PUBLISH with both QoS bits set is malformed: MQTT 3.1.1 closes, MQTT 5 sends DISCONNECT 0x81', async t => {
  const body = Buffer.concat([lengthPrefixed('q/3'), Buffer.from([0, 1])])
  const v3 = await connected(t, 4)
  v3.sendBytes(Buffer.concat([Buffer.from([0x36]), varint(body.length), body]))
  await expectClosedSilently(v3)
  const v5 = await connected(t, 5)
  const body5 = Buffer.concat([body, varint(0)])
  v5.sendBytes(Buffer.concat([Buffer.from([0x36]), varint(body5.length), body5]))
  await expectDisconnect(v5, 0x81)
})

test('[MQTT-3.8.1-1] a SUBSCRIBE whose fixed-header flags are not 0010 closes the connection', async t => {
  const client = await connected(t, 4)
  const bytes = encodeSubscribe('a/b', 0, 1, false)
  bytes[0] = 0x80
  client.sendBytes(bytes)
  await expectClosedSilently(client)
})

test('[MQTT-3.8.3-3] a SUBSCRIBE without any topic filter closes the connection', async t => {
  const client = await connected(t, 4)
  client.sendBytes(Buffer.from([0x82, 0x02, 0x00, 0x01]))
  await expectClosedSilently(client)
})

test('[MQTT-3.8.3-4] a SUBSCRIBE requesting QoS 3, or with reserved bits set in its requested QoS byte, closes the connection', async t => {
  for (const options of [0x03, 0x04, 0x81]) {
    const client = await connected(t, 4)
    client.sendBytes(encodeSubscribe('a/b', options, 1, false))
    await expectClosedSilently(client)
  }
})

test('[MQTT-2.3.1-1] (3.1.1) a QoS 1/2 PUBLISH, SUBSCRIBE or UNSUBSCRIBE with packet identifier 0 closes the connection, unanswered', async t => {
  for (const bytes of [
    encodePublish({ topic: 'zero/id', qos: 1, packetId: 0, payload: 'x' }),
    encodePublish({ topic: 'zero/id', qos: 2, packetId: 0, payload: 'x' }),
    encodeSubscribe('zero/id', 1, 0, false),
    encodeUnsubscribe(['zero/id'], 0, false)
  ]) {
    const client = await connected(t, 4)
    client.sendBytes(bytes)
    await expectClosedSilently(client)
  }
})

test('[MQTT-3.1.2-22] a CONNECT with the password flag but no user name flag closes the connection without CONNACK, with or without a password', async t => {
  // 3.1.1 flags: password (0x40) without user name (0x80), clean session (0x02).
  for (const password of [undefined, 'secret']) {
    const client = await open(t)
    client.sendBytes(encodeConnect(password === undefined ? { level: 4, flags: 0x42, clientId: 'pw-no-user' } : { level: 4, flags: 0x42, clientId: 'pw-no-user', password }))
    await expectClosedSilently(client)
  }
})

test('MQTT 5: a property that may appear once, given twice, is a protocol error: DISCONNECT 0x82 (§2.2.2.2)', async t => {
  const client = await connected(t, 5)
  client.sendBytes(encodePublish({
    topic: 'twice/ct',
    properties: [{ id: PropertyId.ContentType, value: 'a' }, { id: PropertyId.ContentType, value: 'b' }],
    payload: 'x'
  }))
  await expectDisconnect(client, 0x82)
})

test('MQTT 5: an unknown property identifier is malformed: DISCONNECT 0x81', async t => {
  const client = await connected(t, 5)
  const props = Buffer.concat([varint(2), Buffer.from([0x7f, 0x00])])
  const body = Buffer.concat([lengthPrefixed('unknown/prop'), props, Buffer.from('x')])
  client.sendBytes(Buffer.concat([Buffer.from([0x30]), varint(body.length), body]))
  await expectDisconnect(client, 0x81)
})

test('[MQTT-4.13.1-1] MQTT 5: a property block longer than the packet is malformed: DISCONNECT 0x81', async t => {
  const client = await connected(t, 5)
  const body = Buffer.concat([lengthPrefixed('short/prop'), varint(50), encodeProperties([{ id: PropertyId.ContentType, value: 'x' }]).subarray(1)])
  client.sendBytes(Buffer.concat([Buffer.from([0x30]), varint(body.length), body]))
  await expectDisconnect(client, 0x81)
})

test('oversize packets: MQTT 3.1.1 is closed; MQTT 5 gets DISCONNECT 0x95 even before the whole packet arrived', async t => {
  const v3 = await connected(t, 4)
  v3.sendBytes(encodePublish({ topic: 'big', payload: Buffer.alloc(MAX_PACKET + 1, 0x61) }))
  await expectClosedSilently(v3)
  const v5 = await connected(t, 5)
  // Only the header of a 1 MB PUBLISH: the broker must refuse it from the Remaining Length alone.
  v5.sendBytes(Buffer.concat([Buffer.from([0x30]), varint(1_000_000), lengthPrefixed('big')]))
  await expectDisconnect(v5, 0x95)
})

test('an oversize CONNECT is refused and the connection closed', async t => {
  const client = await open(t)
  client.sendBytes(encodeConnect({ level: 4, flags: 0x02, clientId: 'x'.repeat(MAX_PACKET + 10) }))
  await expectClosedSilently(client, p => p.cmd === 'connack' && p.returnCode !== 0)
})

test(`sockets that never send CONNECT are closed after mqtt.connectTimeoutMs (${CONNECT_TIMEOUT_MS} ms)`, async t => {
  const idle = await open(t)
  const partial = await open(t)
  partial.sendBytes(encodeConnect({ level: 4, flags: 0x02, clientId: 'partial' }).subarray(0, 6))
  const start = Date.now()
  await Promise.all([idle.closed(CONNECT_TIMEOUT_MS + 2000), partial.closed(CONNECT_TIMEOUT_MS + 2000)])
  const elapsed = Date.now() - start
  assert.ok(elapsed >= CONNECT_TIMEOUT_MS - 100, `closed after ${elapsed} ms`)
  assert.deepEqual(idle.history, [])
  assert.deepEqual(partial.history, [])
})

test('a connected client is not closed by the connect timeout', async t => {
  const client = await connected(t, 4)
  await sleep(CONNECT_TIMEOUT_MS * 2)
  client.send({ cmd: 'pingreq' })
  await client.expect('pingresp')
})

test('many misbehaving sockets at once do not disturb a well-behaved client', async t => {
  const sockets = Array.from({ length: 50 }, (_, i) => {
    const socket = netConnect({ port: broker.port, host: '127.0.0.1' })
    socket.on('error', () => {})
    socket.on('connect', () => socket.write(i % 2 === 0 ? Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff]) : Buffer.from([0x30, 0x02, 0x00, 0x00])))
    return socket
  })
  t.after(() => { for (const s of sockets) s.destroy() })
  await withTimeout(Promise.all(sockets.map(async s => await new Promise<void>(resolve => {
    if (s.destroyed) resolve()
    else s.once('close', () => resolve())
  }))), 3000, 'all misbehaving sockets to be closed')
})
