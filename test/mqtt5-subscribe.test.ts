/**
 * MQTT 5 SUBSCRIBE/UNSUBSCRIBE: reason codes, subscription options (No Local, Retain As Published,
 * Retain Handling), subscription identifiers, shared subscriptions and reason strings.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import type { IConnectPacket, ISubscription } from 'mqtt-packet'
import { startTestBroker } from './helpers/broker.js'
import { RawClient } from './helpers/raw-client.js'
import { connectClient } from './helpers/mqtt-client.js'
import { uniqueName } from './helpers/wait.js'

const broker = await startTestBroker({ after })

type Cleanup = { after: (fn: () => void) => void }

async function connected (t: Cleanup, fields: Partial<IConnectPacket> = {}): Promise<RawClient> {
  const { client } = await RawClient.connected(broker.port, { clientId: uniqueName('s5'), ...fields }, { protocolVersion: 5 })
  t.after(() => client.destroy())
  return client
}

let nextId = 1

/** Sends one SUBSCRIBE and returns the SUBACK reason codes. */
async function subscribe (client: RawClient, subscriptions: ISubscription[], subscriptionIdentifier?: number): Promise<number[]> {
  const messageId = nextId++
  client.send({ cmd: 'subscribe', messageId, subscriptions, ...(subscriptionIdentifier !== undefined ? { properties: { subscriptionIdentifier } } : {}) })
  const suback = await client.expect('suback')
  assert.equal(suback.messageId, messageId)
  return suback.granted as number[]
}

async function publisher (t: Cleanup): Promise<Awaited<ReturnType<typeof connectClient>>> {
  return await connectClient(t, broker.port, { protocolVersion: 5 })
}

test('SUBACK reason codes: 0x00/0x01/0x02 granted QoS and 0x8F (Topic Filter invalid) per filter (§3.9.3), malformed shared filters included [MQTT-4.8.2-1, MQTT-4.8.2-2]', async t => {
  const base = uniqueName('codes')
  const client = await connected(t)
  const codes = await subscribe(client, [
    { topic: `${base}/0`, qos: 0 }, { topic: `${base}/1`, qos: 1 }, { topic: `${base}/2`, qos: 2 },
    { topic: `${base}/#/bad`, qos: 1 }, { topic: `${base}/x+`, qos: 1 }, { topic: '$share/g', qos: 1 }, { topic: '$share/g+/x', qos: 1 }
  ])
  assert.deepEqual(codes, [0x00, 0x01, 0x02, 0x8f, 0x8f, 0x8f, 0x8f])
})

test('UNSUBACK reason codes: 0x00 (Success) for an existing subscription, 0x11 (No subscription existed) otherwise (§3.11.3)', async t => {
  const topic = uniqueName('unsub5')
  const client = await connected(t)
  await subscribe(client, [{ topic, qos: 1 }])
  client.send({ cmd: 'unsubscribe', messageId: 99, unsubscriptions: [topic, uniqueName('never')] })
  const unsuback = await client.expect('unsuback')
  assert.equal(unsuback.messageId, 99)
  assert.deepEqual(unsuback.granted, [0x00, 0x11])
})

test('[MQTT-3.8.3-3] No Local: a client is not sent its own messages on a No Local subscription; others are', async t => {
  const topic = uniqueName('nolocal')
  const self = await connected(t)
  await subscribe(self, [{ topic, qos: 1, nl: true }])
  const other = await connected(t)
  await subscribe(other, [{ topic, qos: 1 }])
  self.send({ cmd: 'publish', topic, payload: Buffer.from('mine'), qos: 1, messageId: 1, retain: false, dup: false })
  await self.expect('puback')
  assert.equal((await other.expect('publish')).payload.toString(), 'mine')
  const outsider = await publisher(t)
  await outsider.publishAsync(topic, 'theirs', { qos: 1 })
  const msg = await self.expect('publish')
  assert.equal(msg.payload.toString(), 'theirs', 'the own message was skipped, the foreign one delivered')
})

test('[MQTT-3.3.1-12] Retain As Published 0 clears RETAIN on live deliveries; Retain As Published 1 keeps it [MQTT-3.3.1-13]', async t => {
  const topic = uniqueName('rap')
  const plain = await connected(t)
  await subscribe(plain, [{ topic, qos: 1, rap: false }])
  const asPublished = await connected(t)
  await subscribe(asPublished, [{ topic, qos: 1, rap: true }])
  const pub = await publisher(t)
  await pub.publishAsync(topic, 'r', { qos: 1, retain: true })
  await pub.publishAsync(topic, 'n', { qos: 1, retain: false })
  const a = [await plain.expect('publish'), await plain.expect('publish')]
  const b = [await asPublished.expect('publish'), await asPublished.expect('publish')]
  assert.deepEqual(a.map(p => [p.payload.toString(), p.retain]), [['r', false], ['n', false]])
  assert.deepEqual(b.map(p => [p.payload.toString(), p.retain]), [['r', true], ['n', false]])
})

test('[MQTT-3.3.1-9] Retain Handling 0 sends retained messages on every subscribe', async t => {
  const topic = uniqueName('rh0')
  const pub = await publisher(t)
  await pub.publishAsync(topic, 'kept', { qos: 1, retain: true })
  const client = await connected(t)
  await subscribe(client, [{ topic, qos: 0, rh: 0 }])
  assert.equal((await client.expect('publish')).retain, true)
  await subscribe(client, [{ topic, qos: 0, rh: 0 }])
  assert.equal((await client.expect('publish')).payload.toString(), 'kept')
})

test('[MQTT-3.3.1-10] Retain Handling 1 sends retained messages only when the subscription is new', async t => {
  const topic = uniqueName('rh1')
  const pub = await publisher(t)
  await pub.publishAsync(topic, 'kept', { qos: 1, retain: true })
  const client = await connected(t)
  await subscribe(client, [{ topic, qos: 0, rh: 1 }])
  assert.equal((await client.expect('publish')).payload.toString(), 'kept')
  await subscribe(client, [{ topic, qos: 0, rh: 1 }])
  await client.expectSilence(300)
})

test('[MQTT-3.3.1-11] Retain Handling 2 never sends retained messages on subscribe', async t => {
  const topic = uniqueName('rh2')
  const pub = await publisher(t)
  await pub.publishAsync(topic, 'kept', { qos: 1, retain: true })
  const client = await connected(t)
  await subscribe(client, [{ topic, qos: 0, rh: 2 }])
  await client.expectSilence(300)
  await pub.publishAsync(topic, 'live', { qos: 1 })
  assert.equal((await client.expect('publish')).payload.toString(), 'live', 'the subscription itself works')
})

test('[MQTT-3.3.4-3] a message matching a subscription with a Subscription Identifier carries that identifier', async t => {
  const topic = uniqueName('subid')
  const client = await connected(t)
  await subscribe(client, [{ topic, qos: 1 }], 7)
  const pub = await publisher(t)
  await pub.publishAsync(topic, 'x', { qos: 1 })
  const msg = await client.expect('publish')
  const ids = msg.properties?.subscriptionIdentifier
  assert.deepEqual(Array.isArray(ids) ? ids : [ids], [7])
})

test('[MQTT-3.3.4-4] overlapping subscriptions with different identifiers: every identifier reaches the client [MQTT-3.3.4-5]', async t => {
  const base = uniqueName('subids')
  const client = await connected(t)
  await subscribe(client, [{ topic: `${base}/#`, qos: 1 }], 11)
  await subscribe(client, [{ topic: `${base}/+`, qos: 1 }], 268_435_455)
  await subscribe(client, [{ topic: `${base}/a`, qos: 1 }])
  const pub = await publisher(t)
  await pub.publishAsync(`${base}/a`, 'x', { qos: 1 })
  const seen: number[] = []
  let copies = 0
  for (;;) {
    try {
      const msg = await client.waitFor('publish', undefined, 300)
      copies++
      const ids = msg.properties?.subscriptionIdentifier
      if (ids !== undefined) seen.push(...(Array.isArray(ids) ? ids : [ids]))
    } catch { break }
  }
  assert.equal(copies, 1, 'one copy for overlapping subscriptions')
  assert.deepEqual(seen.sort((x, y) => x - y), [11, 268_435_455])
})

test('re-subscribing without a Subscription Identifier removes the old identifier from the subscription (§3.8.2.1.2)', async t => {
  const topic = uniqueName('subid-replace')
  const client = await connected(t)
  await subscribe(client, [{ topic, qos: 1 }], 5)
  await subscribe(client, [{ topic, qos: 1 }])
  const pub = await publisher(t)
  await pub.publishAsync(topic, 'x', { qos: 1 })
  const msg = await client.expect('publish')
  assert.equal(msg.properties?.subscriptionIdentifier, undefined)
})

test('§4.8.2 shared subscriptions: each message goes to exactly one member of the group; a plain subscriber gets all', async t => {
  const topic = uniqueName('shared')
  const group = uniqueName('g')
  const members = await Promise.all([connected(t), connected(t), connected(t)])
  for (const m of members) assert.deepEqual(await subscribe(m, [{ topic: `$share/${group}/${topic}`, qos: 1 }]), [1])
  const plain = await connected(t)
  await subscribe(plain, [{ topic, qos: 1 }])
  const pub = await publisher(t)
  const total = 30
  for (let i = 0; i < total; i++) await pub.publishAsync(topic, String(i), { qos: 1 })
  const received: string[] = []
  await Promise.all(members.map(async m => {
    for (;;) {
      try {
        const msg = await m.waitFor('publish', undefined, 500)
        assert.equal(msg.topic, topic, 'shared deliveries carry the published topic')
        received.push(msg.payload.toString())
        m.send({ cmd: 'puback', messageId: msg.messageId! })
      } catch { return }
    }
  }))
  assert.equal(received.length, total, 'each message delivered to exactly one member, none lost or duplicated')
  assert.deepEqual(new Set(received).size, total)
  const plainCount = await (async () => {
    let n = 0
    for (;;) {
      try { await plain.waitFor('publish', undefined, 300); n++ } catch { return n }
    }
  })()
  assert.equal(plainCount, total)
})

test('shared subscriptions of different groups each get every message once', async t => {
  const topic = uniqueName('groups')
  const a = await connected(t)
  const b = await connected(t)
  await subscribe(a, [{ topic: `$share/ga/${topic}`, qos: 0 }])
  await subscribe(b, [{ topic: `$share/gb/${topic}`, qos: 0 }])
  const pub = await publisher(t)
  await pub.publishAsync(topic, 'both', { qos: 1 })
  assert.equal((await a.expect('publish')).payload.toString(), 'both')
  assert.equal((await b.expect('publish')).payload.toString(), 'both')
})

test('retained messages are not sent on a new shared subscription (§4.8.2)', async t => {
  const topic = uniqueName('shared-retained')
  const pub = await publisher(t)
  await pub.publishAsync(topic, 'retained', { qos: 1, retain: true })
  const client = await connected(t)
  await subscribe(client, [{ topic: `$share/g/${topic}`, qos: 1 }])
  await client.expectSilence(300)
})

test('unsubscribing from a shared subscription stops its deliveries', async t => {
  const topic = uniqueName('shared-unsub')
  const client = await connected(t)
  await subscribe(client, [{ topic: `$share/g/${topic}`, qos: 0 }])
  client.send({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: [`$share/g/${topic}`] })
  assert.deepEqual((await client.expect('unsuback')).granted, [0])
  const pub = await publisher(t)
  await pub.publishAsync(topic, 'x', { qos: 1 })
  await client.expectSilence(300)
})

test('[MQTT-3.8.3-4] No Local on a shared subscription is a protocol error: DISCONNECT 0x82', async t => {
  const client = await connected(t)
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `$share/g/${uniqueName('nl')}`, qos: 0, nl: true }] })
  assert.equal((await client.expect('disconnect')).reasonCode, 0x82)
  await client.closed()
})

test('[MQTT-3.1.2-29] with Request Problem Information 0 the server sends no Reason String on SUBACK, UNSUBACK or PUBACK', async t => {
  const client = await connected(t, { properties: { requestProblemInformation: false } })
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#/b', qos: 1 }] })
  const suback = await client.expect('suback')
  assert.deepEqual(suback.granted, [0x8f])
  assert.equal(suback.properties?.reasonString, undefined)
  client.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: [uniqueName('never')] })
  assert.equal((await client.expect('unsuback')).properties?.reasonString, undefined)
  client.send({ cmd: 'publish', topic: uniqueName('nobody'), payload: Buffer.from('x'), qos: 1, messageId: 3, retain: false, dup: false })
  assert.equal((await client.expect('puback')).properties?.reasonString, undefined)
})

test('reason strings: a DISCONNECT the server sends for a protocol error explains itself in a Reason String (§3.14.2.2.3)', async t => {
  const client = await connected(t)
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `$share/g/${uniqueName('why')}`, qos: 0, nl: true }] })
  const disconnect = await client.expect('disconnect')
  assert.equal(disconnect.reasonCode, 0x82)
  const reason = disconnect.properties?.reasonString
  assert.ok(reason !== undefined && reason.length > 0, 'the DISCONNECT carries a human-readable reason string')
})
