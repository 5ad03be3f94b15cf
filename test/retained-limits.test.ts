/**
 * Retained messages within bounds, over real sockets: the store's count and byte limits (at the
 * limit a new topic is routed but not stored, replacing and clearing still work), a SUBSCRIBE that
 * names a filter many times gets its retained messages once, a SUBSCRIBE matching thousands of
 * retained messages gets each once, and message expiry beyond Node's timer range.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IPublishPacket } from 'mqtt-packet'
import { startTestBroker, type Broker } from './helpers/broker.js'
import { RawClient } from './helpers/raw-client.js'
import { encodePublish } from './helpers/wire.js'
import { pollUntil, uniqueName } from './helpers/wait.js'

type Cleanup = { after: (fn: () => void) => void }

const SYS_INTERVAL_MS = 100

async function connected (t: Cleanup, broker: Broker, protocolVersion: 4 | 5 = 4): Promise<RawClient> {
  const { client } = await RawClient.connected(broker.port, { clientId: uniqueName('ret') }, { protocolVersion })
  t.after(() => client.destroy())
  return client
}

let packetId = 0

/** Publishes retained at QoS 1 and waits for the PUBACK; returns its reason code (v5). */
async function publishRetained (client: RawClient, topic: string, payload: string | Buffer): Promise<number | undefined> {
  const messageId = ++packetId % 65535 + 1
  client.send({ cmd: 'publish', topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos: 1, retain: true, dup: false, messageId })
  const puback = await client.waitFor('puback', p => p.messageId === messageId)
  return puback.reasonCode
}

/** Publishes `count` retained messages `<base>/<i>` at QoS 0, then a QoS 1 one on `<base>/barrier`: all are stored once its PUBACK arrives. */
async function publishRetainedSet (pub: RawClient, base: string, count: number): Promise<void> {
  const topics = Array.from({ length: count }, (_, i) => `${base}/${i}`)
  pub.sendBytes(Buffer.concat(topics.map(topic => encodePublish({ topic, retain: true, payload: 'r' }))))
  await publishRetained(pub, `${base}/barrier`, 'b')
}

/** Subscribes a new raw client to `filters` (QoS 0, one SUBSCRIBE) and waits for the SUBACK. */
async function subscriber (t: Cleanup, broker: Broker, filters: string[], protocolVersion: 4 | 5 = 4): Promise<RawClient> {
  const client = await connected(t, broker, protocolVersion)
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: filters.map(topic => ({ topic, qos: 0 })) })
  const suback = await client.expect('suback', 5000)
  assert.equal(suback.granted.length, filters.length, 'one return code per filter [MQTT-3.8.4-6]')
  return client
}

/** The PUBLISH packets a subscriber receives: exactly `count` (nothing more for a while), as topic → payload. */
async function receivedExactly (client: RawClient, count: number, timeoutMs = 5000): Promise<Map<string, string>> {
  const got: IPublishPacket[] = []
  const deadline = Date.now() + timeoutMs
  while (got.length < count) got.push(await client.waitFor('publish', () => true, Math.max(1, deadline - Date.now())))
  await client.expectSilence(300, p => p.cmd === 'publish')
  return new Map(got.map(p => [p.topic, p.payload.toString()]))
}

/**
 * Waits until the retained value of `$SYS/brokers/<node>/<topic>` (a new subscriber's first
 * PUBLISH, with RETAIN 1) satisfies `accept`: the node's $SYS topics are stored whatever the bound.
 */
async function retainedSysValue (t: Cleanup, broker: Broker, topic: string, accept: (value: string) => boolean = () => true): Promise<string> {
  const { value } = await pollUntil(async () => {
    const watcher = await subscriber(t, broker, [`$SYS/brokers/${broker.nodeName}/${topic}`])
    try {
      const first = await watcher.expect('publish', 1000)
      return { retain: first.retain, value: first.payload.toString() }
    } finally {
      watcher.destroy()
    }
  }, found => found.retain && accept(found.value), 5000, `a retained $SYS ${topic}`, { intervalMs: SYS_INTERVAL_MS })
  return value
}

/** `$SYS/.../messages/retained/full` now; the counters are the process's, shared by the brokers of this file. */
async function retainedFull (t: Cleanup, broker: Broker): Promise<number> {
  return Number(await retainedSysValue(t, broker, 'messages/retained/full'))
}

for (const version of [4, 5] as const) {
  test(`[MQTT-3.3.1-5] mqtt.maxRetainedMessages, MQTT ${version === 5 ? '5' : '3.1.1'}: at the bound a retained PUBLISH on a new topic is acknowledged (0x00) and delivered but not stored, and counted in $SYS (itself stored past the bound); replacing and clearing stored topics still work`, async t => {
    const broker = await startTestBroker(t, { mqtt: { maxRetainedMessages: 3 }, sys: { intervalMs: SYS_INTERVAL_MS } })
    const base = uniqueName('count')
    const pub = await connected(t, broker, version)
    for (const i of [1, 2, 3]) await publishRetained(pub, `${base}/${i}`, `v${i}`)
    const fullBefore = await retainedFull(t, broker)
    const live = await subscriber(t, broker, [`${base}/4`], version)
    const reason = await publishRetained(pub, `${base}/4`, 'v4')
    if (version === 5) assert.equal(reason ?? 0, 0, 'PUBACK reports success: the message was accepted and routed')
    assert.equal((await live.expect('publish')).payload.toString(), 'v4', 'current subscribers get the message')

    const late = await subscriber(t, broker, [`${base}/#`], version)
    assert.deepEqual([...(await receivedExactly(late, 3))].sort(), [[`${base}/1`, 'v1'], [`${base}/2`, 'v2'], [`${base}/3`, 'v3']])
    await retainedSysValue(t, broker, 'messages/retained/full', value => Number(value) === fullBefore + 1)

    await publishRetained(pub, `${base}/2`, 'v2-new')
    await publishRetained(pub, `${base}/1`, '')
    await publishRetained(pub, `${base}/5`, 'v5')
    const later = await subscriber(t, broker, [`${base}/#`], version)
    assert.deepEqual([...(await receivedExactly(later, 3))].sort(), [[`${base}/2`, 'v2-new'], [`${base}/3`, 'v3'], [`${base}/5`, 'v5']])
  })
}

test('mqtt.maxRetainedBytes: a retained message that does not fit is not stored, and counted', async t => {
  const broker = await startTestBroker(t, { mqtt: { maxRetainedBytes: 4096 }, sys: { intervalMs: SYS_INTERVAL_MS } })
  const base = uniqueName('bytes')
  const pub = await connected(t, broker, 5)
  const fullBefore = await retainedFull(t, broker)
  await publishRetained(pub, `${base}/big`, Buffer.alloc(3000, 0x61))
  await publishRetained(pub, `${base}/second`, Buffer.alloc(1500, 0x62))
  await publishRetained(pub, `${base}/small`, 'fits')
  const late = await subscriber(t, broker, [`${base}/#`])
  const got = await receivedExactly(late, 2)
  assert.deepEqual([...got.keys()].sort(), [`${base}/big`, `${base}/small`])
  await retainedSysValue(t, broker, 'messages/retained/full', value => Number(value) === fullBefore + 1)
})

test('[MQTT-3.8.4-4] a filter named 1000 times in one SUBSCRIBE is matched against the retained messages once; distinct overlapping filters each get theirs [MQTT-3.3.1-6]', async t => {
  const broker = await startTestBroker(t)
  const base = uniqueName('dup')
  const pub = await connected(t, broker)
  await publishRetainedSet(pub, base, 50)

  const repeated = await subscriber(t, broker, Array.from({ length: 1000 }, () => `${base}/#`))
  const got = await receivedExactly(repeated, 51)
  assert.equal(got.size, 51, 'each retained message once')

  const overlapping = await subscriber(t, broker, [`${base}/#`, `${base}/+`, `${base}/#`])
  await receivedExactly(overlapping, 102)
})

test('a SUBSCRIBE matching 5000 retained messages gets each exactly once (sent in slices), and other clients are served meanwhile', async t => {
  const broker = await startTestBroker(t)
  const base = uniqueName('many')
  const pub = await connected(t, broker)
  await publishRetainedSet(pub, base, 5000)

  const other = await connected(t, broker)
  const many = await subscriber(t, broker, [`${base}/#`])
  other.send({ cmd: 'pingreq' })
  await other.expect('pingresp')
  const got = await receivedExactly(many, 5001, 10_000)
  assert.equal(got.size, 5001, 'no topic twice')
})

test('[MQTT-3.3.2-6] a retained message with a Message Expiry Interval of 2^32−1 s (past Node\'s 2^31 ms timer range) is kept and sent with the remaining interval', async t => {
  const broker = await startTestBroker(t)
  const topic = uniqueName('long-expiry')
  const pub = await connected(t, broker, 5)
  pub.send({ cmd: 'publish', topic, payload: Buffer.from('kept'), qos: 1, retain: true, dup: false, messageId: 7, properties: { messageExpiryInterval: 4_294_967_295 } })
  await pub.waitFor('puback', p => p.messageId === 7)
  const late = await subscriber(t, broker, [topic], 5)
  const message = await late.expect('publish')
  assert.equal(message.payload.toString(), 'kept')
  const expiry = message.properties?.messageExpiryInterval ?? 0
  assert.ok(expiry <= 4_294_967_295 && expiry >= 4_294_967_290, `remaining expiry ${expiry}`)
})
