/**
 * What a client sees at the bounds of issue 8, over real sockets: the subscription quota, QoS 1
 * held back from a client that does not read (and delivered in order once it does), the close of
 * a connection whose unread replies pile up, and the backlog signal of a session that falls
 * behind (in `$SYS`), released when its client acks or stalls.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import type { IConnectPacket } from 'mqtt-packet'
import { startTestBroker } from './helpers/broker.js'
import { RawClient } from './helpers/raw-client.js'
import { connectClient, type Cleanup } from './helpers/mqtt-client.js'
import { pollUntil, sleep, uniqueName, waitUntil } from './helpers/wait.js'

const HIGH_WATER = 64 * 1024
const MAX_OUTGOING = 16 * 1024
const STALL_MS = 2000
/** Payload of the large test messages: four times the high-water mark. */
const LARGE = 4 * HIGH_WATER
const SYS_INTERVAL_MS = 100

const broker = await startTestBroker({ after }, {
  mqtt: { maxSubscriptionsPerClient: 3, outgoingHighWaterBytes: HIGH_WATER, maxOutgoingBytes: MAX_OUTGOING, backlogStallTimeoutMs: STALL_MS },
  sys: { intervalMs: SYS_INTERVAL_MS }
})

/** The latest value of each `$SYS/brokers/<node>/…` topic. */
const sysValues = new Map<string, number>()
const sys = await connectClient({ after }, broker.port)
sys.on('message', (topic, payload) => { sysValues.set(topic.slice(`$SYS/brokers/${broker.nodeName}/`.length), Number(payload.toString())) })
await sys.subscribeAsync(`$SYS/brokers/${broker.nodeName}/#`)

/** Waits until the `$SYS` value of `name` satisfies `accept` (missing counts as 0). */
async function sysValue (name: string, accept: (value: number) => boolean, what: string, timeoutMs = 5000): Promise<number> {
  return await pollUntil(() => sysValues.get(name) ?? 0, accept, timeoutMs, `$SYS ${name}: ${what}`)
}

async function rawClient (t: Cleanup, protocolVersion: 4 | 5 = 5, fields: Partial<IConnectPacket> = {}): Promise<RawClient> {
  const { client } = await RawClient.connected(broker.port, { clientId: uniqueName('bounds'), ...fields }, { protocolVersion })
  t.after(() => client.destroy())
  return client
}

let nextId = 1

async function subscribe (client: RawClient, topics: string[], qos: 0 | 1 = 1): Promise<number[]> {
  client.send({ cmd: 'subscribe', messageId: nextId++, subscriptions: topics.map(topic => ({ topic, qos })) })
  return (await client.expect('suback')).granted as number[]
}

test('subscriptions past mqtt.maxSubscriptionsPerClient get SUBACK 0x97 Quota exceeded (v5); a held one may be replaced, an unsubscribe frees a place', async t => {
  const base = uniqueName('quota')
  const client = await rawClient(t)
  assert.deepEqual(await subscribe(client, ['a', 'b', 'c', 'd', 'e'].map(n => `${base}/${n}`)), [1, 1, 1, 0x97, 0x97])
  assert.deepEqual(await subscribe(client, [`${base}/a`]), [1], 'replacing a held subscription is not a new one')
  const pub = await connectClient(t, broker.port)
  await pub.publishAsync(`${base}/d`, 'refused', { qos: 1 })
  await pub.publishAsync(`${base}/c`, 'granted', { qos: 1 })
  assert.equal((await client.expect('publish')).payload.toString(), 'granted', 'the refused filter delivers nothing')
  client.send({ cmd: 'unsubscribe', messageId: nextId++, unsubscriptions: [`${base}/a`] })
  await client.expect('unsuback')
  assert.deepEqual(await subscribe(client, [`${base}/d`, `${base}/e`]), [1, 0x97])
  await sysValue('subscriptions/refused', n => n >= 3, 'the refused filters counted')
})

test('[MQTT-3.9.3-2] MQTT 3.1.1: a subscription past the quota gets the failure return code 0x80', async t => {
  const base = uniqueName('quota4')
  const client = await rawClient(t, 4)
  assert.deepEqual(await subscribe(client, ['a', 'b', 'c', 'd'].map(n => `${base}/${n}`)), [1, 1, 1, 0x80])
})

/**
 * Publishes large QoS 0 messages to `topic`, whose subscriber does not read, until the broker
 * reports a slow consumer (QoS 0 dropped for it): its socket buffers are then full.
 */
async function fillUntilSlowConsumer (t: Cleanup, topic: string): Promise<void> {
  const pub = await connectClient(t, broker.port)
  const before = sysValues.get('messages/dropped/slow_consumer') ?? 0
  for (let i = 0; i < 400 && (sysValues.get('messages/dropped/slow_consumer') ?? 0) === before; i++) {
    await pub.publishAsync(topic, Buffer.alloc(LARGE), { qos: 0 })
    if (i % 8 === 7) await sleep(SYS_INTERVAL_MS)
  }
  await sysValue('messages/dropped/slow_consumer', n => n > before, 'QoS 0 dropped for the slow consumer')
}

test('QoS 1 for a client that does not read waits in its session queue and arrives complete and in order when it reads again; others keep receiving', async t => {
  const topic = uniqueName('slow')
  const count = 48 // 12 MiB: within mqtt.maxQueuedBytes (16 MiB), so nothing is dropped
  const slow = await rawClient(t)
  await subscribe(slow, [topic])
  const fast = await connectClient(t, broker.port)
  const fastReceived: string[] = []
  fast.on('message', (_topic, payload) => { fastReceived.push(payload.subarray(0, 8).toString()) })
  await fast.subscribeAsync(topic, { qos: 1 })
  slow.socket.pause()
  const pub = await connectClient(t, broker.port)
  const started = Date.now()
  for (let i = 0; i < count; i++) {
    const payload = Buffer.alloc(LARGE)
    payload.write(String(i).padStart(8, '0'))
    await pub.publishAsync(topic, payload, { qos: 1 })
  }
  await waitUntil(() => fastReceived.length === count, 10_000, 'the reading subscriber to get every message')
  t.diagnostic(`reading subscriber got ${count} × 256 KiB in ${Date.now() - started} ms while another did not read`)
  await sysValue('messages/queued', n => n > 0, 'messages held back for the non-reading client')

  slow.socket.resume()
  const received: number[] = []
  while (received.length < count) {
    const msg = await slow.expect('publish', 5000)
    received.push(Number(Buffer.from(msg.payload).subarray(0, 8).toString()))
    slow.send({ cmd: 'puback', messageId: msg.messageId! })
  }
  assert.deepEqual(received, Array.from({ length: count }, (_, i) => i), 'every message once, in order')
  assert.equal(sysValues.get('messages/dropped/queue_full') ?? 0, 0)
})

test('QoS 1 held back while the connection is congested goes out once the socket drains, without waiting for an ack', async t => {
  const base = uniqueName('drain')
  const client = await rawClient(t)
  assert.deepEqual(await subscribe(client, [`${base}/zero`], 0), [0])
  assert.deepEqual(await subscribe(client, [`${base}/one`], 1), [1])
  client.socket.pause()
  await fillUntilSlowConsumer(t, `${base}/zero`)
  const pub = await connectClient(t, broker.port)
  for (let i = 0; i < 5; i++) await pub.publishAsync(`${base}/one`, `q1-${i}`, { qos: 1 })
  client.socket.resume()
  const received: string[] = []
  while (received.length < 5) {
    const msg = await client.waitFor('publish', p => p.qos === 1, 5000)
    received.push(msg.payload.toString())
  }
  assert.deepEqual(received, ['q1-0', 'q1-1', 'q1-2', 'q1-3', 'q1-4'])
})

test('a subscriber that reads gets a burst larger than mqtt.outgoingHighWaterBytes complete: bytes of one event-loop turn do not count as a slow consumer', async t => {
  const topic = uniqueName('burst')
  const sub = await rawClient(t)
  await subscribe(sub, [topic], 0)
  const publishers = await Promise.all([0, 1, 2].map(async () => await rawClient(t)))
  const slowBefore = sysValues.get('messages/dropped/slow_consumer') ?? 0
  // Six messages of four times the high-water mark, sent at once: the broker handles them in one
  // or few turns, while the subscriber's socket takes them as fast as it reads.
  publishers.forEach((pub, p) => {
    for (let i = 0; i < 2; i++) {
      pub.send({ cmd: 'publish', topic, payload: Buffer.alloc(LARGE, 10 * p + i), qos: 0, retain: false, dup: false })
    }
  })
  const received: number[] = []
  for (let i = 0; i < 6; i++) {
    const { payload } = await sub.expect('publish', 5000)
    received.push(typeof payload === 'string' ? -1 : payload[0] ?? -1)
  }
  for (const p of [0, 1, 2]) assert.deepEqual(received.filter(x => Math.floor(x / 10) === p), [10 * p, 10 * p + 1], `publisher ${String(p)}'s messages, in order`)
  assert.equal(sysValues.get('messages/dropped/slow_consumer') ?? 0, slowBefore)
})

test('a client that does not read while its replies pile up past mqtt.maxOutgoingBytes is disconnected with 0x97 Quota exceeded', async t => {
  const topic = uniqueName('unread')
  const client = await rawClient(t)
  await subscribe(client, [topic], 0)
  client.socket.pause()
  await fillUntilSlowConsumer(t, topic)
  // Each QoS 1 PUBLISH is answered by a 4-byte PUBACK the client never reads.
  for (let id = 1; id <= 2 * MAX_OUTGOING / 4; id++) {
    client.send({ cmd: 'publish', topic: uniqueName('nobody'), payload: Buffer.alloc(0), qos: 1, messageId: (id % 65535) + 1, retain: false, dup: false })
  }
  await sysValue('clients/closed/outgoing_buffer_full', n => n >= 1, 'the connection closed for its unread replies')
  client.socket.resume()
  const disconnect = await client.waitFor('disconnect', undefined, 5000)
  assert.equal(disconnect.reasonCode, 0x97)
  await client.closed(5000)
})

test('a session that falls behind is backlogged in $SYS until its client acks; one that stops acking stalls after mqtt.backlogStallTimeoutMs', async t => {
  const burst = 600 // past half of mqtt.maxQueuedMessages (1000)
  const acking = await rawClient(t, 5, { properties: { receiveMaximum: 10 } })
  const ackingTopic = uniqueName('behind')
  await subscribe(acking, [ackingTopic])
  const pub = await connectClient(t, broker.port)
  await Promise.all(Array.from({ length: burst }, async (_, i) => await pub.publishAsync(ackingTopic, String(i), { qos: 1 })))
  await sysValue('sessions/backlogged', n => n === 1, 'the session past its high-water mark')
  const received: number[] = []
  while (received.length < burst) {
    const msg = await acking.expect('publish', 5000)
    received.push(Number(msg.payload.toString()))
    acking.send({ cmd: 'puback', messageId: msg.messageId! })
  }
  assert.equal(new Set(received).size, burst, 'every message of the burst arrived once')
  await sysValue('sessions/backlogged', n => n === 0, 'relief once the client caught up')

  const stalledBefore = sysValues.get('sessions/stalled') ?? 0
  const silent = await rawClient(t, 5, { properties: { receiveMaximum: 10 } })
  const silentTopic = uniqueName('silent')
  await subscribe(silent, [silentTopic])
  await Promise.all(Array.from({ length: burst }, async (_, i) => await pub.publishAsync(silentTopic, String(i), { qos: 1 })))
  await sysValue('sessions/backlogged', n => n === 1, 'the silent session past its high-water mark')
  const markedAt = Date.now()
  await sysValue('sessions/stalled', n => n === stalledBefore + 1, 'the silent session stalled', STALL_MS + 5000)
  assert.ok(Date.now() - markedAt >= STALL_MS - 2 * SYS_INTERVAL_MS, 'not before the stall timeout')
  await sysValue('sessions/backlogged', n => n === 0, 'a stalled session no longer holds the node back')
})
