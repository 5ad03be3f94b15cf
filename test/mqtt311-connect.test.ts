/**
 * MQTT 3.1.1 (and 3.1) CONNECT/CONNACK, client identifier rules, keepalive, PINGREQ and session
 * takeover, observed over real TCP sockets.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTestBroker } from './helpers/broker.js'
import { RawClient } from './helpers/raw-client.js'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import { sleep, uniqueName } from './helpers/wait.js'
import { encodeConnect } from './helpers/wire.js'

const broker = await startTestBroker({ after })

/** A raw client for one test, destroyed when the test ends. */
async function open (t: { after: (fn: () => void) => void }, protocolVersion: 3 | 4 = 4): Promise<RawClient> {
  const client = await RawClient.open(broker.port, { protocolVersion })
  t.after(() => client.destroy())
  return client
}

test('[MQTT-3.2.0-1] a valid CONNECT is answered with CONNACK return code 0x00 (Accepted)', async t => {
  const client = await open(t)
  const connack = await client.handshake({ clientId: uniqueName('c') })
  assert.equal(connack.returnCode, 0)
  assert.equal(connack.sessionPresent, false)
})

test('MQTT 3.1 (protocol name MQIsdp, level 3) clients are accepted', async t => {
  const client = await open(t, 3)
  const connack = await client.handshake({ clientId: uniqueName('v31') })
  assert.equal(connack.returnCode, 0)
  client.send({ cmd: 'pingreq' })
  await client.expect('pingresp')
})

test('[MQTT-3.1.2-2] an unsupported protocol level gets CONNACK 0x01 (unacceptable protocol level) and the connection is closed', async t => {
  const client = await open(t)
  client.sendBytes(encodeConnect({ level: 7, flags: 0x02, clientId: 'bad-level' }))
  const connack = await client.expect('connack')
  assert.ok(connack.returnCode === 0x01 || connack.returnCode === 0x84, `returnCode ${connack.returnCode}`)
  assert.equal(connack.sessionPresent, false, '[MQTT-3.2.2-4] session present is 0 with a non-zero return code')
  await client.closed()
})

test('§2.1 packets arrive whole whatever the TCP segmentation: a CONNECT written one byte at a time, then three PINGREQs with the last split across two writes', async t => {
  const client = await open(t)
  client.socket.setNoDelay(true)
  for (const byte of encodeConnect({ level: 4, flags: 0x02, clientId: uniqueName('split') })) {
    client.sendBytes(Buffer.from([byte]))
    await sleep(2)
  }
  assert.equal((await client.expect('connack')).returnCode, 0)
  const pingreq = Buffer.from([0xc0, 0x00])
  client.sendBytes(Buffer.concat([pingreq, pingreq, pingreq.subarray(0, 1)]))
  await sleep(20)
  client.sendBytes(pingreq.subarray(1))
  for (let i = 0; i < 3; i++) await client.expect('pingresp')
})

test('[MQTT-3.1.2-3] a CONNECT with the reserved connect flag set closes the connection without accepting it', async t => {
  const client = await open(t)
  client.sendBytes(encodeConnect({ level: 4, flags: 0x03, clientId: 'reserved-flag' }))
  await client.closed()
  assert.ok(!client.history.some(h => h.packet.cmd === 'connack' && h.packet.returnCode === 0), 'no successful CONNACK')
})

test('[MQTT-3.1.3-8] a zero-length client id with clean session 0 gets CONNACK 0x02 (identifier rejected) and is closed [MQTT-3.2.2-5]', async t => {
  const client = await open(t)
  client.sendBytes(encodeConnect({ level: 4, flags: 0x00, clientId: '' }))
  const connack = await client.expect('connack')
  assert.equal(connack.returnCode, 0x02)
  assert.equal(connack.sessionPresent, false)
  await client.closed()
})

test('[MQTT-3.1.3-6] a zero-length client id with clean session 1 is accepted and each such client gets its own identity', async t => {
  const a = await open(t)
  const b = await open(t)
  assert.equal((await a.handshake({ clientId: '', clean: true })).returnCode, 0)
  assert.equal((await b.handshake({ clientId: '', clean: true })).returnCode, 0)
  // Two anonymous clients must not take each other over: both stay usable.
  a.send({ cmd: 'pingreq' })
  b.send({ cmd: 'pingreq' })
  await a.expect('pingresp')
  await b.expect('pingresp')
  assert.equal(a.isClosed, false)
  assert.equal(b.isClosed, false)
})

test('[MQTT-3.1.3-5] client ids of 1 to 23 characters from 0-9a-zA-Z are accepted', async t => {
  for (const clientId of ['a', 'Z9', 'abcdefghijklmnopqrstuvw']) {
    const client = await open(t)
    assert.equal((await client.handshake({ clientId })).returnCode, 0, clientId)
    client.destroy()
  }
})

test('[MQTT-3.2.2-1] clean session 1 yields session present 0, even after a previous persistent session', async t => {
  const clientId = uniqueName('clean')
  const first = await open(t)
  assert.equal((await first.handshake({ clientId, clean: false })).sessionPresent, false, '[MQTT-3.2.2-3] no session stored yet')
  first.send({ cmd: 'disconnect' })
  await first.closed()
  const second = await open(t)
  const connack = await second.handshake({ clientId, clean: true })
  assert.equal(connack.returnCode, 0)
  assert.equal(connack.sessionPresent, false)
})

test('[MQTT-3.2.2-2] clean session 0 with a stored session yields session present 1', async t => {
  const clientId = uniqueName('persist')
  const first = await open(t)
  assert.equal((await first.handshake({ clientId, clean: false })).sessionPresent, false)
  first.send({ cmd: 'disconnect' })
  await first.closed()
  const second = await open(t)
  const connack = await second.handshake({ clientId, clean: false })
  assert.equal(connack.returnCode, 0)
  assert.equal(connack.sessionPresent, true)
})

test('[MQTT-3.12.4-1] PINGREQ is answered with PINGRESP', async t => {
  const { client } = await RawClient.connected(broker.port, { clientId: uniqueName('ping') })
  t.after(() => client.destroy())
  for (let i = 0; i < 3; i++) {
    client.send({ cmd: 'pingreq' })
    await client.expect('pingresp')
  }
})

test('[MQTT-3.1.2-24] a client silent for 1.5 × keepalive is disconnected', async t => {
  const { client } = await RawClient.connected(broker.port, { clientId: uniqueName('ka'), keepalive: 1 })
  t.after(() => client.destroy())
  const start = Date.now()
  await client.closed(4000)
  const elapsed = Date.now() - start
  assert.ok(elapsed >= 1000, `closed after ${elapsed} ms, before the keepalive allowance of 1.5 s`)
  assert.ok(elapsed <= 3000, `closed after ${elapsed} ms, well past 1.5 × keepalive`)
})

test('[MQTT-3.1.2-23] control packets within the keepalive keep the connection open past 1.5 × keepalive', async t => {
  const { client } = await RawClient.connected(broker.port, { clientId: uniqueName('ka-alive'), keepalive: 1 })
  t.after(() => client.destroy())
  for (let i = 0; i < 6; i++) {
    await sleep(500)
    client.send({ cmd: 'pingreq' })
    await client.expect('pingresp')
  }
  assert.equal(client.isClosed, false, 'connection open after 3 s of pings with keepalive 1')
})

test('keepalive 0 turns the keepalive mechanism off [MQTT-3.1.2-10 (3.1.1 §3.1.2.10)]', async t => {
  const { client } = await RawClient.connected(broker.port, { clientId: uniqueName('ka0'), keepalive: 0 })
  t.after(() => client.destroy())
  await sleep(2000)
  assert.equal(client.isClosed, false)
  client.send({ cmd: 'pingreq' })
  await client.expect('pingresp')
})

test('[MQTT-3.1.4-2] a second CONNECT with the same client id closes the first connection', async t => {
  const clientId = uniqueName('takeover')
  const { client: first } = await RawClient.connected(broker.port, { clientId })
  t.after(() => first.destroy())
  const { client: second } = await RawClient.connected(broker.port, { clientId })
  t.after(() => second.destroy())
  await first.closed()
  second.send({ cmd: 'pingreq' })
  await second.expect('pingresp')
})

test('[MQTT-3.1.4-2] takeover with clean session 0 keeps the session: subscriptions survive and session present is 1', async t => {
  const clientId = uniqueName('takeover-session')
  const topic = uniqueName('tk')
  const { client: first } = await RawClient.connected(broker.port, { clientId, clean: false })
  t.after(() => first.destroy())
  first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] })
  await first.expect('suback')
  const second = await open(t)
  const connack = await second.handshake({ clientId, clean: false })
  assert.equal(connack.returnCode, 0)
  assert.equal(connack.sessionPresent, true)
  await first.closed()
  const publisher = await connectClient(t, broker.port)
  await publisher.publishAsync(topic, 'after-takeover', { qos: 1 })
  const message = await second.waitFor('publish')
  assert.equal(message.topic, topic)
  assert.equal(message.payload.toString(), 'after-takeover')
})

test('an MQTT.js 3.1.1 client connects, subscribes and receives its own publish', async t => {
  const client = await connectClient(t, broker.port, { clientId: uniqueName('mqttjs') })
  const inbox = new Inbox(client)
  const topic = uniqueName('smoke')
  await client.subscribeAsync(topic, { qos: 0 })
  await client.publishAsync(topic, 'hello')
  const message = await inbox.waitForTopic(topic)
  assert.equal(message.payload.toString(), 'hello')
})
