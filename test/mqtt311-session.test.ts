/**
 * MQTT 3.1.1 sessions: clean session 1 discards state, clean session 0 keeps subscriptions and
 * queues QoS 1/2 messages while offline, in a bounded queue.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTestBroker } from './helpers/broker.js'
import { RawClient } from './helpers/raw-client.js'
import { connectClient } from './helpers/mqtt-client.js'
import { uniqueName } from './helpers/wait.js'

const MAX_QUEUED = 5
const broker = await startTestBroker({ after }, { mqtt: { maxQueuedMessages: MAX_QUEUED, queueDropPolicy: 'drop_oldest' } })

type Cleanup = { after: (fn: () => void) => void }

/** Connects a raw client with `clientId`; returns it with its CONNACK's session-present flag. */
async function connect (t: Cleanup, clientId: string, clean: boolean): Promise<{ client: RawClient, sessionPresent: boolean }> {
  const { client, connack } = await RawClient.connected(broker.port, { clientId, clean })
  t.after(() => client.destroy())
  return { client, sessionPresent: connack.sessionPresent }
}

async function subscribe (client: RawClient, topic: string, qos: 0 | 1 | 2): Promise<void> {
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] })
  await client.expect('suback')
}

/** Ends the connection abruptly and waits until the broker saw the close. */
async function drop (client: RawClient): Promise<void> {
  client.destroy()
  await client.closed()
}

test('[MQTT-3.1.2-4] with clean session 0 the subscriptions survive a disconnect: messages arrive without re-subscribing', async t => {
  const clientId = uniqueName('keep-subs')
  const topic = uniqueName('kept')
  const { client: first } = await connect(t, clientId, false)
  await subscribe(first, topic, 1)
  first.send({ cmd: 'disconnect' })
  await first.closed()
  const { client: second, sessionPresent } = await connect(t, clientId, false)
  assert.equal(sessionPresent, true)
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(topic, 'still-subscribed', { qos: 1 })
  const msg = await second.expect('publish')
  assert.equal(msg.payload.toString(), 'still-subscribed')
})

test('[MQTT-3.1.2-5] QoS 1 and QoS 2 messages published while a clean-session-0 client is offline are delivered on reconnect, in order', async t => {
  const clientId = uniqueName('offline')
  const topic = uniqueName('queued')
  const { client: first } = await connect(t, clientId, false)
  await subscribe(first, topic, 2)
  await drop(first)
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(topic, 'q1', { qos: 1 })
  await pub.publishAsync(topic, 'q2', { qos: 2 })
  const { client: second, sessionPresent } = await connect(t, clientId, false)
  assert.equal(sessionPresent, true)
  const a = await second.expect('publish')
  const b = await second.expect('publish')
  assert.deepEqual([a.payload.toString(), a.qos, b.payload.toString(), b.qos], ['q1', 1, 'q2', 2])
})

test('[MQTT-3.1.2-6] clean session 1 discards the previous session: session present 0 and no old subscriptions', async t => {
  const clientId = uniqueName('discard')
  const topic = uniqueName('discarded')
  const { client: first } = await connect(t, clientId, false)
  await subscribe(first, topic, 1)
  await drop(first)
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(topic, 'while-offline', { qos: 1 })
  const { client: second, sessionPresent } = await connect(t, clientId, true)
  assert.equal(sessionPresent, false)
  await pub.publishAsync(topic, 'after-clean', { qos: 1 })
  await second.expectSilence(400)
})

test('[MQTT-3.1.2-7] the state of a clean-session-1 client is not kept after it disconnects', async t => {
  const clientId = uniqueName('ephemeral')
  const topic = uniqueName('ephemeral')
  const { client: first } = await connect(t, clientId, true)
  await subscribe(first, topic, 1)
  first.send({ cmd: 'disconnect' })
  await first.closed()
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(topic, 'nobody-home', { qos: 1 })
  const { client: second, sessionPresent } = await connect(t, clientId, false)
  assert.equal(sessionPresent, false)
  await second.expectSilence(400)
})

test(`the offline queue is bounded by mqtt.maxQueuedMessages (${MAX_QUEUED}) and drop_oldest keeps the newest`, async t => {
  const clientId = uniqueName('bounded')
  const topic = uniqueName('bounded')
  const { client: first } = await connect(t, clientId, false)
  await subscribe(first, topic, 1)
  await drop(first)
  const pub = await connectClient(t, broker.port)
  const published = 3 * MAX_QUEUED
  for (let i = 0; i < published; i++) await pub.publishAsync(topic, String(i), { qos: 1 })
  const { client: second } = await connect(t, clientId, false)
  const received: string[] = []
  for (;;) {
    try {
      const msg = await second.waitFor('publish', undefined, 500)
      received.push(msg.payload.toString())
      second.send({ cmd: 'puback', messageId: msg.messageId! })
    } catch { break }
  }
  assert.ok(received.length > 0, 'some queued messages are delivered')
  assert.ok(received.length <= MAX_QUEUED, `${received.length} delivered, more than the queue limit ${MAX_QUEUED}`)
  const newest = Array.from({ length: received.length }, (_, i) => String(published - received.length + i))
  assert.deepEqual(received, newest, 'drop_oldest keeps the newest messages, in order')
})
