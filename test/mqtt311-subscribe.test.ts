/** MQTT 3.1.1 SUBSCRIBE/SUBACK and UNSUBSCRIBE/UNSUBACK, observed over real TCP sockets. */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTestBroker } from './helpers/broker.js'
import { RawClient } from './helpers/raw-client.js'
import { connectClient } from './helpers/mqtt-client.js'
import { uniqueName } from './helpers/wait.js'

const broker = await startTestBroker({ after })

type Cleanup = { after: (fn: () => void) => void }

async function rawClient (t: Cleanup): Promise<RawClient> {
  const { client } = await RawClient.connected(broker.port, { clientId: uniqueName('sub') })
  t.after(() => client.destroy())
  return client
}

test('[MQTT-3.8.4-1] SUBSCRIBE is answered by SUBACK with the same packet id [MQTT-3.8.4-2] and one granted QoS per filter, in order [MQTT-3.8.4-5]', async t => {
  const base = uniqueName('granted')
  const client = await rawClient(t)
  client.send({ cmd: 'subscribe', messageId: 513, subscriptions: [{ topic: `${base}/2`, qos: 2 }, { topic: `${base}/0`, qos: 0 }, { topic: `${base}/1`, qos: 1 }] })
  const suback = await client.expect('suback')
  assert.equal(suback.messageId, 513)
  assert.deepEqual(suback.granted, [2, 0, 1])
})

test('[MQTT-3.8.4-5] an invalid topic filter gets 0x80 (failure) in SUBACK while the valid filters of the same SUBSCRIBE are granted', async t => {
  const base = uniqueName('invalid')
  const client = await rawClient(t)
  const filters = [`${base}/ok`, `${base}/#/x`, `${base}/a+`, `${base}#`, `${base}/+/ok`]
  client.send({ cmd: 'subscribe', messageId: 9, subscriptions: filters.map(topic => ({ topic, qos: 1 as const })) })
  const suback = await client.expect('suback')
  assert.deepEqual(suback.granted, [1, 0x80, 0x80, 0x80, 1])
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(`${base}/ok`, 'still-works', { qos: 1 })
  const msg = await client.expect('publish')
  assert.equal(msg.topic, `${base}/ok`)
})

test('[MQTT-3.8.4-3] subscribing again to the same filter replaces the subscription: new QoS applies and there is one copy', async t => {
  const topic = uniqueName('replace')
  const client = await rawClient(t)
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] })
  assert.deepEqual((await client.expect('suback')).granted, [0])
  client.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic, qos: 1 }] })
  assert.deepEqual((await client.expect('suback')).granted, [1])
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(topic, 'once', { qos: 1 })
  const msg = await client.expect('publish')
  assert.equal(msg.qos, 1)
  client.send({ cmd: 'puback', messageId: msg.messageId! })
  await client.expectSilence(300, p => p.cmd === 'publish')
})

test('[MQTT-3.10.4-4] UNSUBSCRIBE is answered by UNSUBACK with the same packet id, and messages stop [MQTT-3.10.4-2]', async t => {
  const topic = uniqueName('unsub')
  const client = await rawClient(t)
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] })
  await client.expect('suback')
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(topic, 'before', { qos: 1 })
  assert.equal((await client.expect('publish')).payload.toString(), 'before')
  client.send({ cmd: 'unsubscribe', messageId: 700, unsubscriptions: [topic] })
  assert.equal((await client.expect('unsuback')).messageId, 700)
  await pub.publishAsync(topic, 'after', { qos: 1 })
  await client.expectSilence(300)
})

test('[MQTT-3.10.4-5] UNSUBSCRIBE of a filter that was never subscribed still gets UNSUBACK', async t => {
  const client = await rawClient(t)
  client.send({ cmd: 'unsubscribe', messageId: 31, unsubscriptions: [uniqueName('never')] })
  assert.equal((await client.expect('unsuback')).messageId, 31)
})

test('[MQTT-3.10.4-1] UNSUBSCRIBE compares filters character by character: a/+ does not remove a/b', async t => {
  const base = uniqueName('exact')
  const client = await rawClient(t)
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${base}/b`, qos: 0 }] })
  await client.expect('suback')
  client.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: [`${base}/+`] })
  await client.expect('unsuback')
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(`${base}/b`, 'kept', { qos: 1 })
  assert.equal((await client.expect('publish')).payload.toString(), 'kept')
})

test('wildcard filters: + matches one level, # matches the parent and all descendants [MQTT-4.7.1-2, MQTT-4.7.1-3]', async t => {
  const base = uniqueName('wild')
  const plus = await rawClient(t)
  const hash = await rawClient(t)
  plus.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${base}/+/c`, qos: 0 }] })
  hash.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${base}/#`, qos: 0 }] })
  await plus.expect('suback')
  await hash.expect('suback')
  const pub = await connectClient(t, broker.port)
  for (const topic of [base, `${base}/b/c`, `${base}/b/c/d`, `${base}/b`, `${base}//c`]) {
    await pub.publishAsync(topic, topic, { qos: 1 })
  }
  const viaHash: string[] = []
  for (let i = 0; i < 5; i++) viaHash.push((await hash.expect('publish')).topic)
  // Order across different topics is not guaranteed [MQTT-4.6.0-6]: compare as sets.
  assert.deepEqual(viaHash.sort(), [base, `${base}/b/c`, `${base}/b/c/d`, `${base}/b`, `${base}//c`].sort())
  const viaPlus: string[] = [(await plus.expect('publish')).topic, (await plus.expect('publish')).topic]
  assert.deepEqual(viaPlus.sort(), [`${base}/b/c`, `${base}//c`].sort())
  await plus.expectSilence(200)
})
