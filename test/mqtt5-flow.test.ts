/**
 * MQTT 5 flow control and size limits in both directions: Receive Maximum (client exceeding the
 * server's gets DISCONNECT 0x93; the server never exceeds the client's) and Maximum Packet Size
 * (oversize from the client gets DISCONNECT 0x95; the server never sends a client more than it allows).
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTestBroker } from './helpers/broker.js'
import { RawClient } from './helpers/raw-client.js'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import { uniqueName } from './helpers/wait.js'

const SERVER_RECEIVE_MAXIMUM = 3
const SERVER_MAX_PACKET = 1024
const broker = await startTestBroker({ after }, { mqtt: { receiveMaximum: SERVER_RECEIVE_MAXIMUM, maxPacketSize: SERVER_MAX_PACKET } })

type Cleanup = { after: (fn: () => void) => void }

async function connected (t: Cleanup, properties: Record<string, number> = {}): Promise<RawClient> {
  const { client } = await RawClient.connected(broker.port, { clientId: uniqueName('flow'), properties }, { protocolVersion: 5 })
  t.after(() => client.destroy())
  return client
}

/** A bystander that must keep receiving while other clients are disconnected for violations. */
async function bystander (t: Cleanup): Promise<() => Promise<void>> {
  const client = await connectClient(t, broker.port, { protocolVersion: 5 })
  const inbox = new Inbox(client)
  const topic = uniqueName('bystander')
  await client.subscribeAsync(topic, { qos: 1 })
  return async () => {
    await client.publishAsync(topic, 'alive', { qos: 1 })
    await inbox.waitForTopic(topic)
  }
}

test('CONNACK carries the configured Receive Maximum and Maximum Packet Size', async t => {
  const { connack, client } = await RawClient.connected(broker.port, { clientId: uniqueName('limits') }, { protocolVersion: 5 })
  t.after(() => client.destroy())
  assert.equal(connack.properties?.receiveMaximum, SERVER_RECEIVE_MAXIMUM)
  assert.equal(connack.properties.maximumPacketSize, SERVER_MAX_PACKET)
})

test('[MQTT-3.3.4-7] a client with more unacknowledged QoS 2 PUBLISH in flight than the server Receive Maximum gets DISCONNECT 0x93', async t => {
  const alive = await bystander(t)
  const client = await connected(t)
  const topic = uniqueName('too-many')
  for (let id = 1; id <= SERVER_RECEIVE_MAXIMUM; id++) {
    client.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 2, messageId: id, retain: false, dup: false })
    assert.equal((await client.expect('pubrec')).messageId, id)
  }
  // Every PUBLISH above is still in flight: no PUBREL was sent, so none has had its PUBCOMP.
  client.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 2, messageId: SERVER_RECEIVE_MAXIMUM + 1, retain: false, dup: false })
  const disconnect = await client.waitFor('disconnect')
  assert.equal(disconnect.reasonCode, 0x93)
  await client.closed()
  await alive()
})

test('the server Receive Maximum counts only unacknowledged PUBLISH: completing QoS 2 flows frees the window', async t => {
  const client = await connected(t)
  const topic = uniqueName('window')
  for (let id = 1; id <= 3 * SERVER_RECEIVE_MAXIMUM; id++) {
    client.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 2, messageId: id, retain: false, dup: false })
    await client.expect('pubrec')
    client.send({ cmd: 'pubrel', messageId: id })
    await client.expect('pubcomp')
  }
  assert.equal(client.isClosed, false)
})

test('[MQTT-3.3.4-9] the server never has more QoS 1 PUBLISH in flight to a client than the client Receive Maximum', async t => {
  const receiveMaximum = 2
  const client = await connected(t, { receiveMaximum })
  const topic = uniqueName('client-window')
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] })
  await client.expect('suback')
  const pub = await connectClient(t, broker.port, { protocolVersion: 5 })
  const total = 7
  for (let i = 0; i < total; i++) await pub.publishAsync(topic, String(i), { qos: 1 })
  const received: string[] = []
  const inFlight: number[] = []
  while (received.length < total) {
    const msg = await client.waitFor('publish', undefined, 2000)
    received.push(msg.payload.toString())
    inFlight.push(msg.messageId!)
    assert.ok(inFlight.length <= receiveMaximum, `${inFlight.length} unacknowledged PUBLISH in flight, client Receive Maximum is ${receiveMaximum}`)
    if (inFlight.length === receiveMaximum) {
      await client.expectSilence(200, p => p.cmd === 'publish')
      client.send({ cmd: 'puback', messageId: inFlight.shift()! })
    }
  }
  assert.deepEqual(received, Array.from({ length: total }, (_, i) => String(i)))
})

test('[MQTT-3.3.4-9] QoS 2 deliveries hold a slot of the client Receive Maximum until PUBCOMP', async t => {
  const client = await connected(t, { receiveMaximum: 1 })
  const topic = uniqueName('client-window-2')
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 2 }] })
  await client.expect('suback')
  const pub = await connectClient(t, broker.port, { protocolVersion: 5 })
  await pub.publishAsync(topic, 'first', { qos: 2 })
  await pub.publishAsync(topic, 'second', { qos: 2 })
  const first = await client.expect('publish')
  client.send({ cmd: 'pubrec', messageId: first.messageId! })
  await client.expect('pubrel')
  await client.expectSilence(300, p => p.cmd === 'publish')
  client.send({ cmd: 'pubcomp', messageId: first.messageId! })
  const second = await client.expect('publish')
  assert.equal(second.payload.toString(), 'second')
})

test('[MQTT-3.2.2-15] a packet larger than the server Maximum Packet Size gets DISCONNECT 0x95 (Packet too large) and the connection is closed', async t => {
  const alive = await bystander(t)
  const client = await connected(t)
  client.send({ cmd: 'publish', topic: uniqueName('big'), payload: Buffer.alloc(SERVER_MAX_PACKET * 2, 0x61), qos: 0, retain: false, dup: false })
  const disconnect = await client.waitFor('disconnect')
  assert.equal(disconnect.reasonCode, 0x95)
  await client.closed()
  await alive()
})

test('a packet of exactly the server Maximum Packet Size is accepted', async t => {
  const client = await connected(t)
  const topic = uniqueName('edge')
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] })
  await client.expect('suback')
  // PUBLISH QoS 0: 1 byte type + 2 length bytes + 2 + topic + 1 (empty properties) + payload.
  const payloadLength = SERVER_MAX_PACKET - (1 + 2 + 2 + Buffer.byteLength(topic) + 1)
  client.send({ cmd: 'publish', topic, payload: Buffer.alloc(payloadLength, 0x62), qos: 0, retain: false, dup: false })
  const echo = await client.expect('publish')
  assert.equal(echo.payload.length, payloadLength)
})

test('[MQTT-3.1.2-24] the server never sends a packet larger than the client Maximum Packet Size; such messages are dropped [MQTT-3.1.2-25]', async t => {
  const limit = 128
  const client = await connected(t, { maximumPacketSize: limit })
  const topic = uniqueName('small')
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] })
  await client.expect('suback')
  const pub = await connectClient(t, broker.port, { protocolVersion: 5 })
  await pub.publishAsync(topic, Buffer.alloc(500, 0x63), { qos: 1 })
  await pub.publishAsync(topic, 'small-enough', { qos: 1 })
  const msg = await client.expect('publish')
  assert.equal(msg.payload.toString(), 'small-enough', 'the oversize message is skipped, the next one delivered')
  client.send({ cmd: 'puback', messageId: msg.messageId! })
  await client.expectSilence(300)
  for (const { packet, bytes } of client.history) assert.ok(bytes.length <= limit, `${packet.cmd} of ${bytes.length} bytes exceeds ${limit}`)
})
