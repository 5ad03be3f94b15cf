/**
 * Overlapping subscriptions of one client, over real sockets: one copy of a message at the
 * highest granted QoS carrying every matching subscription identifier (MQTT 5 [MQTT-3.3.4-2] ..
 * [MQTT-3.3.4-4], MQTT 3.1.1 [MQTT-3.3.5-1]); a shared subscription delivers its own copy.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import type { IPublishPacket, ISubscription } from 'mqtt-packet'
import { startTestBroker } from './helpers/broker.js'
import { RawClient, type ProtocolVersion } from './helpers/raw-client.js'
import { connectClient } from './helpers/mqtt-client.js'
import { uniqueName } from './helpers/wait.js'

const broker = await startTestBroker({ after })

type Cleanup = { after: (fn: () => void) => void }

/** How long a client must stay silent to show that no further copy comes. */
const NO_COPY_MS = 300

async function connected (t: Cleanup, protocolVersion: ProtocolVersion = 5): Promise<RawClient> {
  const { client } = await RawClient.connected(broker.port, { clientId: uniqueName('overlap') }, { protocolVersion })
  t.after(() => client.destroy())
  return client
}

let nextId = 1

async function subscribe (client: RawClient, subscriptions: ISubscription[], subscriptionIdentifier?: number): Promise<number[]> {
  client.send({ cmd: 'subscribe', messageId: nextId++, subscriptions, ...(subscriptionIdentifier !== undefined ? { properties: { subscriptionIdentifier } } : {}) })
  return (await client.expect('suback')).granted as number[]
}

async function publish (t: Cleanup, topic: string, payload: string, qos: 0 | 1 | 2, retain = false): Promise<void> {
  const pub = await connectClient(t, broker.port, { protocolVersion: 5 })
  await pub.publishAsync(topic, payload, { qos, retain })
}

/** The one PUBLISH the client gets; fails if a second copy follows. */
async function onlyCopy (client: RawClient): Promise<IPublishPacket> {
  const msg = await client.expect('publish')
  await client.expectSilence(NO_COPY_MS, p => p.cmd === 'publish')
  return msg
}

function subscriptionIds (msg: IPublishPacket): number[] {
  const ids = msg.properties?.subscriptionIdentifier
  if (ids === undefined) return []
  return (Array.isArray(ids) ? ids : [ids]).sort((a, b) => a - b)
}

test('[MQTT-3.3.4-2] overlapping subscriptions get one copy at the highest granted QoS, with every identifier [MQTT-3.3.4-3] [MQTT-3.3.4-4]', async t => {
  const base = uniqueName('v5')
  const client = await connected(t)
  await subscribe(client, [{ topic: `${base}/#`, qos: 0 }], 1)
  await subscribe(client, [{ topic: `${base}/+`, qos: 2 }], 2)
  await subscribe(client, [{ topic: `${base}/a`, qos: 1 }])
  await subscribe(client, [{ topic: `+/a`, qos: 1 }], 1)
  await publish(t, `${base}/a`, 'x', 2)
  const msg = await onlyCopy(client)
  assert.equal(msg.qos, 2)
  assert.deepEqual(subscriptionIds(msg), [1, 1, 2], 'the identifier used by two matching subscriptions comes twice')
  client.send({ cmd: 'pubrec', messageId: msg.messageId! })
  await client.expect('pubrel')
})

test('the QoS of the one copy never exceeds the published QoS [MQTT-3.3.4-2]', async t => {
  const base = uniqueName('cap')
  const client = await connected(t)
  await subscribe(client, [{ topic: `${base}/#`, qos: 2 }, { topic: `${base}/+`, qos: 0 }])
  await publish(t, `${base}/a`, 'x', 1)
  const msg = await onlyCopy(client)
  assert.equal(msg.qos, 1)
})

test('[MQTT-3.3.5-1] MQTT 3.1.1: overlapping subscriptions deliver one copy at the highest QoS granted', async t => {
  const base = uniqueName('v4')
  const client = await connected(t, 4)
  assert.deepEqual(await subscribe(client, [{ topic: `${base}/+/c`, qos: 1 }, { topic: `${base}/#`, qos: 0 }, { topic: `${base}/b/c`, qos: 0 }]), [1, 0, 0])
  await publish(t, `${base}/b/c`, 'x', 2)
  const msg = await onlyCopy(client)
  assert.equal(msg.qos, 1)
  assert.equal(msg.payload.toString(), 'x')
})

test('[MQTT-3.8.3-3] a No Local subscription overlapping a plain one: the plain one still delivers one copy of the own message', async t => {
  const base = uniqueName('nl')
  const client = await connected(t)
  await subscribe(client, [{ topic: `${base}/#`, qos: 1, nl: true }], 3)
  await subscribe(client, [{ topic: `${base}/a`, qos: 0 }], 4)
  client.send({ cmd: 'publish', topic: `${base}/a`, payload: Buffer.from('own'), qos: 1, messageId: 77, retain: false, dup: false })
  const msg = await client.waitFor('publish')
  await client.expectSilence(NO_COPY_MS, p => p.cmd === 'publish')
  assert.equal(msg.qos, 0, 'only the plain subscription matched the own message')
  assert.deepEqual(subscriptionIds(msg), [4])
})

test('§4.8.2 a shared subscription overlapping a plain one of the same client delivers its own copy', async t => {
  const base = uniqueName('shared')
  const client = await connected(t)
  await subscribe(client, [{ topic: `${base}/#`, qos: 1 }], 5)
  await subscribe(client, [{ topic: `$share/${uniqueName('g')}/${base}/a`, qos: 1 }], 6)
  await publish(t, `${base}/a`, 'x', 1)
  const copies = [await client.expect('publish'), await client.expect('publish')]
  await client.expectSilence(NO_COPY_MS, p => p.cmd === 'publish')
  assert.deepEqual(copies.map(subscriptionIds).sort(), [[5], [6]])
})

test('[MQTT-3.3.1-12] [MQTT-3.3.1-13] the one copy keeps RETAIN when any matching subscription has Retain As Published', async t => {
  const base = uniqueName('rap')
  const client = await connected(t)
  await subscribe(client, [{ topic: `${base}/#`, qos: 1, rap: false, rh: 2 }, { topic: `${base}/a`, qos: 1, rap: true, rh: 2 }])
  await publish(t, `${base}/a`, 'r', 1, true)
  const msg = await onlyCopy(client)
  assert.equal(msg.retain, true)
})
