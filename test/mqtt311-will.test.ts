/** MQTT 3.1.1 will messages: published on abnormal close and keepalive expiry, not after DISCONNECT. */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTestBroker } from './helpers/broker.js'
import { RawClient } from './helpers/raw-client.js'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import { pollUntil, uniqueName } from './helpers/wait.js'

const broker = await startTestBroker({ after })

type Cleanup = { after: (fn: () => void) => void }

/** An MQTT.js client listening on `topic`, and its inbox. */
async function listen (t: Cleanup, topic: string): Promise<Inbox> {
  const client = await connectClient(t, broker.port)
  const inbox = new Inbox(client)
  await client.subscribeAsync(topic, { qos: 1 })
  return inbox
}

/** A raw client with a will on `willTopic`. */
async function withWill (t: Cleanup, willTopic: string, extra: { keepalive?: number, retain?: boolean } = {}): Promise<RawClient> {
  const { client } = await RawClient.connected(broker.port, {
    clientId: uniqueName('will'),
    keepalive: extra.keepalive ?? 0,
    will: { topic: willTopic, payload: Buffer.from('gone'), qos: 1, retain: extra.retain ?? false }
  })
  t.after(() => client.destroy())
  return client
}

test('[MQTT-3.1.2-8] the will message is published when the network connection closes without DISCONNECT', async t => {
  const topic = uniqueName('abnormal')
  const inbox = await listen(t, topic)
  const client = await withWill(t, topic)
  client.destroy()
  const will = await inbox.waitForTopic(topic)
  assert.equal(will.payload.toString(), 'gone')
  assert.equal(will.packet.qos, 1)
})

test('[MQTT-3.14.4-3] the will message is discarded, not published, after DISCONNECT [MQTT-3.1.2-10]', async t => {
  const topic = uniqueName('graceful')
  const inbox = await listen(t, topic)
  const client = await withWill(t, topic)
  client.send({ cmd: 'disconnect' })
  await client.closed()
  await inbox.expectNoMoreThan(0, 700)
})

test('[MQTT-3.1.2-8] the will message is published when the server closes the connection for keepalive expiry [MQTT-3.1.2-24]', async t => {
  const topic = uniqueName('keepalive')
  const inbox = await listen(t, topic)
  const client = await withWill(t, topic, { keepalive: 1 })
  const will = await inbox.waitForTopic(topic, 4000)
  assert.equal(will.payload.toString(), 'gone')
  await client.closed()
})

test('[MQTT-3.1.2-8] the will message is published when the server closes the connection for a protocol violation', async t => {
  const topic = uniqueName('violation')
  const inbox = await listen(t, topic)
  const client = await withWill(t, topic)
  client.send(client.connectPacket({ clientId: uniqueName('second-connect') }))
  await client.closed()
  const will = await inbox.waitForTopic(topic)
  assert.equal(will.payload.toString(), 'gone')
})

test('[MQTT-3.1.2-17] a will with Will Retain 1 is published as a retained message', async t => {
  const topic = uniqueName('will-retain')
  const client = await withWill(t, topic, { retain: true })
  client.destroy()
  await client.closed()
  const { client: late } = await RawClient.connected(broker.port, { clientId: uniqueName('late') })
  t.after(() => late.destroy())
  // The will is published asynchronously after the close: subscribe until the retained will shows up.
  let id = 0
  const will = await pollUntil(async () => {
    late.send({ cmd: 'subscribe', messageId: ++id, subscriptions: [{ topic, qos: 1 }] })
    await late.expect('suback')
    return await late.waitFor('publish', undefined, 200)
  }, () => true, 2000, 'the retained will', { intervalMs: 0 })
  assert.equal(will.payload.toString(), 'gone')
  assert.equal(will.retain, true)
})
