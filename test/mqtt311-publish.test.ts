/**
 * MQTT 3.1.1 PUBLISH flows: QoS 0/1/2 in both directions with packet identifiers, DUP redelivery
 * after reconnect, overlapping subscriptions, ordering and `$` topics.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import type { IPublishPacket } from 'mqtt-packet'
import { startTestBroker } from './helpers/broker.js'
import { RawClient } from './helpers/raw-client.js'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import { uniqueName } from './helpers/wait.js'

const broker = await startTestBroker({ after }, { sys: { intervalMs: 200 } })

type Cleanup = { after: (fn: () => void) => void }

/** A connected raw v3.1.1 client for one test. */
async function rawClient (t: Cleanup, fields: Parameters<typeof RawClient.connected>[1] = {}): Promise<RawClient> {
  const { client } = await RawClient.connected(broker.port, { clientId: uniqueName('raw'), ...fields })
  t.after(() => client.destroy())
  return client
}

/** Subscribes a raw client to `topic` at `qos` and waits for the SUBACK. */
async function subscribe (client: RawClient, topic: string, qos: 0 | 1 | 2, messageId = 1): Promise<number[]> {
  client.send({ cmd: 'subscribe', messageId, subscriptions: [{ topic, qos }] })
  const suback = await client.expect('suback')
  assert.equal(suback.messageId, messageId, '[MQTT-3.8.4-2] SUBACK carries the SUBSCRIBE packet identifier')
  return suback.granted as number[]
}

test('[MQTT-4.3.1-1] QoS 0 messages are delivered at QoS 0 without a packet identifier [MQTT-2.3.1-5]', async t => {
  const topic = uniqueName('q0')
  const sub = await rawClient(t)
  await subscribe(sub, topic, 2)
  const pub = await rawClient(t)
  pub.send({ cmd: 'publish', topic, payload: Buffer.from('zero'), qos: 0, retain: false, dup: false })
  const msg = await sub.expect('publish')
  assert.equal(msg.qos, 0)
  assert.equal(msg.messageId, undefined)
  assert.equal(msg.payload.toString(), 'zero')
  await pub.expectSilence(200)
})

test('[MQTT-4.3.2-2] a QoS 1 PUBLISH from a client is acknowledged with PUBACK carrying its packet identifier', async t => {
  const topic = uniqueName('q1in')
  const sub = await rawClient(t)
  await subscribe(sub, topic, 1)
  const pub = await rawClient(t)
  pub.send({ cmd: 'publish', topic, payload: Buffer.from('one'), qos: 1, messageId: 4242, retain: false, dup: false })
  const puback = await pub.expect('puback')
  assert.equal(puback.messageId, 4242)
  const msg = await sub.expect('publish')
  assert.equal(msg.payload.toString(), 'one')
})

test('[MQTT-4.3.3-2] a QoS 2 PUBLISH gets PUBREC, PUBREL gets PUBCOMP [MQTT-3.6.4-1], and a DUP resend before PUBREL is not delivered twice', async t => {
  const topic = uniqueName('q2in')
  const sub = await rawClient(t)
  await subscribe(sub, topic, 2)
  const pub = await rawClient(t)
  const publish: IPublishPacket = { cmd: 'publish', topic, payload: Buffer.from('two'), qos: 2, messageId: 77, retain: false, dup: false }
  pub.send(publish)
  assert.equal((await pub.expect('pubrec')).messageId, 77)
  pub.send({ ...publish, dup: true })
  assert.equal((await pub.expect('pubrec')).messageId, 77, 'the resent PUBLISH is acknowledged again')
  pub.send({ cmd: 'pubrel', messageId: 77 })
  assert.equal((await pub.expect('pubcomp')).messageId, 77)
  const first = await sub.expect('publish')
  assert.equal(first.payload.toString(), 'two')
  if (first.qos > 0) sub.send({ cmd: first.qos === 1 ? 'puback' : 'pubrec', messageId: first.messageId! })
  await sub.expectSilence(300, p => p.cmd === 'publish')
})

test('[MQTT-3.3.4-1] delivery QoS is the minimum of the published QoS and the granted QoS [MQTT-3.8.4-6]', async t => {
  const cases: Array<{ sub: 0 | 1 | 2, pub: 0 | 1 | 2, expected: number }> = [
    { sub: 0, pub: 2, expected: 0 }, { sub: 1, pub: 2, expected: 1 }, { sub: 2, pub: 1, expected: 1 }, { sub: 2, pub: 2, expected: 2 }
  ]
  const pub = await connectClient(t, broker.port)
  for (const c of cases) {
    const topic = uniqueName(`min-${c.sub}-${c.pub}`)
    const sub = await rawClient(t)
    await subscribe(sub, topic, c.sub)
    await pub.publishAsync(topic, 'x', { qos: c.pub })
    const msg = await sub.expect('publish')
    assert.equal(msg.qos, c.expected, `sub ${c.sub}, pub ${c.pub}`)
  }
})

test('[MQTT-2.3.1-1] the server sends QoS 1 messages with distinct non-zero packet ids and stops after PUBACK [MQTT-4.3.2-1]', async t => {
  const topic = uniqueName('q1out')
  const sub = await rawClient(t)
  await subscribe(sub, topic, 1)
  const pub = await connectClient(t, broker.port)
  for (let i = 0; i < 5; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 })
  const ids = new Set<number>()
  for (let i = 0; i < 5; i++) {
    const msg = await sub.expect('publish')
    assert.equal(msg.qos, 1)
    assert.equal(msg.dup, false, '[MQTT-3.3.1-3] a first delivery has DUP 0')
    assert.ok(msg.messageId !== undefined && msg.messageId > 0, '[MQTT-2.3.1-1] non-zero packet identifier')
    ids.add(msg.messageId)
    assert.equal(msg.payload.toString(), `m${i}`)
  }
  assert.equal(ids.size, 5, '[MQTT-2.3.1-4] unacknowledged messages use distinct packet identifiers')
  for (const id of ids) sub.send({ cmd: 'puback', messageId: id })
  await sub.expectSilence(300)
})

test('[MQTT-4.3.3-1] the server sends QoS 2 as PUBLISH, answers PUBREC with PUBREL of the same id, and completes on PUBCOMP', async t => {
  const topic = uniqueName('q2out')
  const sub = await rawClient(t)
  await subscribe(sub, topic, 2)
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(topic, 'exactly-once', { qos: 2 })
  const msg = await sub.expect('publish')
  assert.equal(msg.qos, 2)
  assert.ok(msg.messageId !== undefined && msg.messageId > 0)
  sub.send({ cmd: 'pubrec', messageId: msg.messageId })
  const pubrel = await sub.expect('pubrel')
  assert.equal(pubrel.messageId, msg.messageId)
  sub.send({ cmd: 'pubcomp', messageId: msg.messageId })
  await sub.expectSilence(300)
})

test('[MQTT-4.6.0-6] messages on one topic from one client are delivered in the order they were published', async t => {
  const topic = uniqueName('order')
  const sub = await connectClient(t, broker.port)
  const inbox = new Inbox(sub)
  await sub.subscribeAsync(topic, { qos: 1 })
  const pub = await connectClient(t, broker.port)
  const count = 100
  await Promise.all(Array.from({ length: count }, async (_, i) => await pub.publishAsync(topic, String(i), { qos: 1 })))
  const messages = await inbox.waitForCount(count)
  assert.deepEqual(messages.map(m => m.payload.toString()), Array.from({ length: count }, (_, i) => String(i)))
})

test('[MQTT-4.4.0-1] unacknowledged QoS 1 messages are resent with DUP 1 [MQTT-3.3.1-1] and the same packet id after reconnecting with clean session 0', async t => {
  const clientId = uniqueName('dup1')
  const topic = uniqueName('dup1')
  const first = await rawClient(t, { clientId, clean: false })
  await subscribe(first, topic, 1)
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(topic, 'unacked', { qos: 1 })
  const original = await first.expect('publish')
  assert.equal(original.dup, false)
  first.destroy()
  await first.closed()
  const second = await RawClient.open(broker.port)
  t.after(() => second.destroy())
  const connack = await second.handshake({ clientId, clean: false })
  assert.equal(connack.sessionPresent, true)
  const resent = await second.expect('publish')
  assert.equal(resent.dup, true)
  assert.equal(resent.messageId, original.messageId)
  assert.equal(resent.qos, 1)
  assert.equal(resent.payload.toString(), 'unacked')
  second.send({ cmd: 'puback', messageId: resent.messageId! })
  await second.expectSilence(300)
})

test('[MQTT-4.4.0-1] an unacknowledged QoS 2 PUBLISH is resent with DUP 1, and after PUBREC the PUBREL is resent, on reconnect', async t => {
  const clientId = uniqueName('dup2')
  const topic = uniqueName('dup2')
  const first = await rawClient(t, { clientId, clean: false })
  await subscribe(first, topic, 2)
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(topic, 'q2-a', { qos: 2 })
  const a = await first.expect('publish')
  first.destroy()
  await first.closed()

  const second = await RawClient.open(broker.port)
  t.after(() => second.destroy())
  assert.equal((await second.handshake({ clientId, clean: false })).sessionPresent, true)
  const resent = await second.expect('publish')
  assert.equal(resent.dup, true)
  assert.equal(resent.messageId, a.messageId)
  second.send({ cmd: 'pubrec', messageId: resent.messageId! })
  assert.equal((await second.expect('pubrel')).messageId, a.messageId)
  second.destroy()
  await second.closed()

  const third = await RawClient.open(broker.port)
  t.after(() => third.destroy())
  assert.equal((await third.handshake({ clientId, clean: false })).sessionPresent, true)
  const pubrel = await third.expect('pubrel')
  assert.equal(pubrel.messageId, a.messageId, 'the PUBREL is resent, not the PUBLISH')
  third.send({ cmd: 'pubcomp', messageId: pubrel.messageId! })
  await third.expectSilence(300)
})

test('[MQTT-3.3.5-1] overlapping subscriptions: the client gets the message at the maximum QoS of the matching subscriptions', async t => {
  const base = uniqueName('overlap')
  const sub = await rawClient(t)
  sub.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: `${base}/#`, qos: 0 }, { topic: `${base}/a`, qos: 2 }, { topic: `${base}/+`, qos: 1 }] })
  assert.deepEqual((await sub.expect('suback')).granted, [0, 2, 1])
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(`${base}/a`, 'overlap', { qos: 2 })
  const copies: IPublishPacket[] = []
  copies.push(await sub.expect('publish'))
  for (;;) {
    try {
      const p = await sub.waitFor('publish', undefined, 300)
      copies.push(p)
    } catch { break }
  }
  assert.ok(copies.length >= 1 && copies.length <= 3, `${copies.length} copies`)
  assert.ok(copies.some(c => c.qos === 2), `copies at QoS ${copies.map(c => c.qos).join(',')}: none at QoS 2`)
  for (const c of copies) assert.equal(c.payload.toString(), 'overlap')
})

test('[MQTT-4.7.2-1] topic filters starting with # or + do not match topics beginning with $', async t => {
  const node = broker.nodeName
  const wildcard = await connectClient(t, broker.port)
  const wildcardInbox = new Inbox(wildcard)
  await wildcard.subscribeAsync(['#', '+/brokers/#'], { qos: 0 })
  const sys = await connectClient(t, broker.port)
  const sysInbox = new Inbox(sys)
  await sys.subscribeAsync('$SYS/#', { qos: 0 })
  const message = await sysInbox.waitForCount(1, 3000)
  assert.ok(message[0]!.topic.startsWith(`$SYS/brokers/${node}/`), message[0]!.topic)
  const topic = uniqueName('plain')
  await wildcard.publishAsync(topic, 'control', { qos: 1 })
  await wildcardInbox.waitForTopic(topic)
  const leaked = wildcardInbox.messages.filter(m => m.topic.startsWith('$'))
  assert.deepEqual(leaked.map(m => m.topic), [])
})

test('the server keeps at most mqtt.maxInflight unacknowledged QoS 1 messages in flight to an MQTT 3.1.1 client, then sends the rest in order', async t => {
  const maxInflight = 2
  const small = await startTestBroker(t, { mqtt: { maxInflight } })
  const topic = uniqueName('window')
  const { client: sub } = await RawClient.connected(small.port, { clientId: uniqueName('window') })
  t.after(() => sub.destroy())
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] })
  await sub.expect('suback')
  const pub = await connectClient(t, small.port)
  const total = 6
  for (let i = 0; i < total; i++) await pub.publishAsync(topic, String(i), { qos: 1 })
  const received: string[] = []
  const unacked: number[] = []
  while (received.length < total) {
    const msg = await sub.expect('publish')
    received.push(msg.payload.toString())
    unacked.push(msg.messageId!)
    assert.ok(unacked.length <= maxInflight, `${unacked.length} in flight, mqtt.maxInflight is ${maxInflight}`)
    if (unacked.length === maxInflight) {
      await sub.expectSilence(200, p => p.cmd === 'publish')
      sub.send({ cmd: 'puback', messageId: unacked.shift()! })
    }
  }
  assert.deepEqual(received, Array.from({ length: total }, (_, i) => String(i)))
})

