/** MQTT 3.1.1 retained messages: set, replace, clear, delivery on subscribe, RETAIN flag on delivery. */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTestBroker } from './helpers/broker.js'
import { RawClient } from './helpers/raw-client.js'
import { connectClient } from './helpers/mqtt-client.js'
import { uniqueName } from './helpers/wait.js'

const broker = await startTestBroker({ after })

type Cleanup = { after: (fn: () => void) => void }

/** A raw client subscribed to `filter` at `qos`. */
async function subscriber (t: Cleanup, filter: string, qos: 0 | 1 | 2 = 1): Promise<RawClient> {
  const { client } = await RawClient.connected(broker.port, { clientId: uniqueName('ret') })
  t.after(() => client.destroy())
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] })
  await client.expect('suback')
  return client
}

test('[MQTT-3.3.1-5] a retained message is stored and sent to a new subscriber with RETAIN 1 [MQTT-3.3.1-6, MQTT-3.3.1-8]', async t => {
  const topic = uniqueName('set')
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(topic, 'kept', { qos: 1, retain: true })
  const sub = await subscriber(t, topic)
  const msg = await sub.expect('publish')
  assert.equal(msg.payload.toString(), 'kept')
  assert.equal(msg.retain, true)
})

test('[MQTT-3.3.1-9] a message matching an established subscription is delivered with RETAIN 0 even when published retained', async t => {
  const topic = uniqueName('live')
  const sub = await subscriber(t, topic)
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(topic, 'live-retained', { qos: 1, retain: true })
  const msg = await sub.expect('publish')
  assert.equal(msg.payload.toString(), 'live-retained')
  assert.equal(msg.retain, false)
})

test('[MQTT-3.3.1-7] a new retained message (QoS 0 too) replaces the previous one for the topic', async t => {
  const topic = uniqueName('replace')
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(topic, 'first', { qos: 1, retain: true })
  await pub.publishAsync(topic, 'second', { qos: 0, retain: true })
  await pub.publishAsync(uniqueName('barrier'), 'b', { qos: 1 })
  const sub = await subscriber(t, topic)
  const msg = await sub.expect('publish')
  assert.equal(msg.payload.toString(), 'second')
  await sub.expectSilence(300)
})

test('[MQTT-3.3.1-10] a retained PUBLISH with an empty payload clears the retained message [MQTT-3.3.1-11] and is delivered to current subscribers', async t => {
  const topic = uniqueName('clear')
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(topic, 'to-be-cleared', { qos: 1, retain: true })
  const current = await subscriber(t, topic)
  assert.equal((await current.expect('publish')).payload.toString(), 'to-be-cleared')
  await pub.publishAsync(topic, '', { qos: 1, retain: true })
  const clearing = await current.waitFor('publish')
  assert.equal(clearing.payload.length, 0, 'the empty message reaches the established subscriber')
  const late = await subscriber(t, topic)
  await late.expectSilence(400)
})

test('[MQTT-3.3.1-12] a PUBLISH with RETAIN 0 neither stores nor replaces the retained message', async t => {
  const topic = uniqueName('noreplace')
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(topic, 'retained', { qos: 1, retain: true })
  await pub.publishAsync(topic, 'not-retained', { qos: 1, retain: false })
  await pub.publishAsync(topic, '', { qos: 1, retain: false })
  const sub = await subscriber(t, topic)
  const msg = await sub.expect('publish')
  assert.equal(msg.payload.toString(), 'retained')
  assert.equal(msg.retain, true)
  await sub.expectSilence(300)
})

test('[MQTT-3.3.1-6] a wildcard subscription receives the retained message of every matching topic, at min(retained QoS, granted QoS)', async t => {
  const base = uniqueName('many')
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(`${base}/a`, 'A', { qos: 2, retain: true })
  await pub.publishAsync(`${base}/b/c`, 'BC', { qos: 1, retain: true })
  await pub.publishAsync(uniqueName('other'), 'X', { qos: 1, retain: true })
  const sub = await subscriber(t, `${base}/#`, 1)
  const got = [await sub.expect('publish'), await sub.expect('publish')]
  const byTopic = new Map(got.map(p => [p.topic, p]))
  assert.equal(byTopic.get(`${base}/a`)?.payload.toString(), 'A')
  assert.equal(byTopic.get(`${base}/a`)?.qos, 1)
  assert.equal(byTopic.get(`${base}/b/c`)?.payload.toString(), 'BC')
  for (const p of got) {
    assert.equal(p.retain, true)
    if (p.qos > 0) sub.send({ cmd: 'puback', messageId: p.messageId! })
  }
  await sub.expectSilence(300)
})

test('[MQTT-3.8.4-3] re-subscribing to an existing filter resends the retained messages', async t => {
  const topic = uniqueName('resub')
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(topic, 'again', { qos: 0, retain: true })
  const sub = await subscriber(t, topic, 0)
  assert.equal((await sub.expect('publish')).payload.toString(), 'again')
  sub.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic, qos: 0 }] })
  await sub.expect('suback')
  const again = await sub.expect('publish')
  assert.equal(again.payload.toString(), 'again')
  assert.equal(again.retain, true)
})
