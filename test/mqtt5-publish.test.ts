/**
 * MQTT 5 PUBLISH: properties passed through unaltered (user properties in order), message expiry,
 * topic aliases in both directions, and reason codes on the acknowledgements.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import type { IConnectPacket, IPublishPacket } from 'mqtt-packet'
import { startTestBroker } from './helpers/broker.js'
import { RawClient } from './helpers/raw-client.js'
import { connectClient } from './helpers/mqtt-client.js'
import { uniqueName } from './helpers/wait.js'
import { ManualClock } from '../src/core/clock.js'
import { shardForTopic } from '../src/core/routing/shard-index.js'
import { encodePublish, PropertyId, publishPropertiesInOrder, type WireProperty } from './helpers/wire.js'

const TOPIC_ALIAS_MAXIMUM = 8
const broker = await startTestBroker({ after }, { mqtt: { topicAliasMaximum: TOPIC_ALIAS_MAXIMUM } })

type Cleanup = { after: (fn: () => void) => void }

async function connected (t: Cleanup, fields: Partial<IConnectPacket> = {}, port = broker.port): Promise<RawClient> {
  const { client } = await RawClient.connected(port, { clientId: uniqueName('p5'), ...fields }, { protocolVersion: 5 })
  t.after(() => client.destroy())
  return client
}

async function subscribed (t: Cleanup, filter: string, qos: 0 | 1 | 2 = 1, fields: Partial<IConnectPacket> = {}, port = broker.port): Promise<RawClient> {
  const client = await connected(t, fields, port)
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] })
  await client.expect('suback')
  return client
}

/** The wire bytes of a received packet, looked up in the client's history. */
function bytesOf (client: RawClient, packet: IPublishPacket): Buffer {
  const entry = client.history.find(h => h.packet === packet)
  assert.ok(entry !== undefined)
  return entry.bytes
}

test('[MQTT-3.3.2-17] user properties are forwarded unaltered and in order [MQTT-3.3.2-18], repeated names included', async t => {
  const topic = uniqueName('userprops')
  const sub = await subscribed(t, topic)
  const pub = await connected(t)
  const userProperties: WireProperty[] = [
    { id: PropertyId.UserProperty, value: ['z', '1'] },
    { id: PropertyId.UserProperty, value: ['a', '2'] },
    { id: PropertyId.UserProperty, value: ['z', '3'] },
    { id: PropertyId.UserProperty, value: ['', 'empty name'] },
    { id: PropertyId.UserProperty, value: ['ünï', 'cødé ✓'] }
  ]
  pub.sendBytes(encodePublish({ topic, qos: 1, packetId: 5, properties: userProperties, payload: 'p' }))
  await pub.expect('puback')
  const msg = await sub.expect('publish')
  const forwarded = publishPropertiesInOrder(bytesOf(sub, msg)).filter(p => p.id === PropertyId.UserProperty)
  assert.deepEqual(forwarded, userProperties)
})

test('[MQTT-3.3.2-15] response topic [MQTT-3.3.2-16] correlation data, [MQTT-3.3.2-20] content type and [MQTT-3.3.2-4] payload format indicator are forwarded unaltered', async t => {
  const topic = uniqueName('request')
  const sub = await subscribed(t, topic)
  const pub = await connected(t)
  const correlationData = Buffer.from([0x00, 0xff, 0x10, 0x80])
  pub.send({
    cmd: 'publish', topic, payload: Buffer.from('{"q":1}'), qos: 1, messageId: 9, retain: false, dup: false,
    properties: { responseTopic: `${topic}/reply`, correlationData, contentType: 'application/json; charset=utf-8', payloadFormatIndicator: true }
  })
  await pub.expect('puback')
  const msg = await sub.expect('publish')
  assert.equal(msg.properties?.responseTopic, `${topic}/reply`)
  assert.deepEqual(msg.properties.correlationData, correlationData)
  assert.equal(msg.properties.contentType, 'application/json; charset=utf-8')
  assert.equal(msg.properties.payloadFormatIndicator, true)
  assert.equal(msg.payload.toString(), '{"q":1}')
})

test('request/response round trip between an MQTT 5 requester and responder with correlation data', async t => {
  const requestTopic = uniqueName('svc')
  const responder = await connectClient(t, broker.port, { protocolVersion: 5 })
  await responder.subscribeAsync(requestTopic, { qos: 1 })
  responder.on('message', (_topic, payload, packet) => {
    const responseTopic = packet.properties?.responseTopic
    if (responseTopic === undefined) return
    const reply = packet.properties?.correlationData !== undefined ? { properties: { correlationData: packet.properties.correlationData } } : {}
    responder.publish(responseTopic, `echo:${payload.toString()}`, { qos: 1, ...reply })
  })
  const requester = await connected(t)
  const responseTopic = `${requestTopic}/reply/${uniqueName('r')}`
  requester.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: responseTopic, qos: 1 }] })
  await requester.expect('suback')
  requester.send({ cmd: 'publish', topic: requestTopic, payload: Buffer.from('ping'), qos: 1, messageId: 2, retain: false, dup: false, properties: { responseTopic, correlationData: Buffer.from('req-42') } })
  const response = await requester.waitFor('publish')
  assert.equal(response.topic, responseTopic)
  assert.equal(response.payload.toString(), 'echo:ping')
  assert.deepEqual(response.properties?.correlationData, Buffer.from('req-42'))
})

test('[MQTT-3.3.2-5] a message whose expiry interval passed while the subscriber was offline is not delivered; a live one arrives with a smaller remaining interval [MQTT-3.3.2-6]', async t => {
  const clock = new ManualClock()
  const own = await startTestBroker(t, { clock })
  const clientId = uniqueName('expiring')
  const topic = uniqueName('expiring')
  const first = await subscribed(t, topic, 1, { clientId, properties: { sessionExpiryInterval: 60 } }, own.port)
  first.destroy()
  await first.closed()
  const pub = await connected(t, {}, own.port)
  pub.send({ cmd: 'publish', topic, payload: Buffer.from('short'), qos: 1, messageId: 1, retain: false, dup: false, properties: { messageExpiryInterval: 1 } })
  await pub.expect('puback')
  pub.send({ cmd: 'publish', topic, payload: Buffer.from('long'), qos: 1, messageId: 2, retain: false, dup: false, properties: { messageExpiryInterval: 60 } })
  await pub.expect('puback')
  clock.advance(1000)
  const second = await connected(t, { clientId, clean: false, properties: { sessionExpiryInterval: 60 } }, own.port)
  const msg = await second.expect('publish')
  assert.equal(msg.payload.toString(), 'long', 'the expired message is skipped')
  assert.equal(msg.properties?.messageExpiryInterval, 59, 'the interval sent is what is left of 60 s after 1 s')
  second.send({ cmd: 'puback', messageId: msg.messageId! })
  await second.expectSilence(300)
})

test('[MQTT-3.3.2-6] a message delivered at once carries its Message Expiry Interval (never larger than sent)', async t => {
  const topic = uniqueName('expiry-live')
  const sub = await subscribed(t, topic)
  const pub = await connected(t)
  pub.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, messageId: 1, retain: false, dup: false, properties: { messageExpiryInterval: 100 } })
  const msg = await sub.expect('publish')
  const remaining = msg.properties?.messageExpiryInterval
  assert.ok(remaining !== undefined && remaining <= 100 && remaining >= 98, `remaining ${remaining}`)
})

test('a retained message with an expired Message Expiry Interval is no longer sent to new subscribers (§3.3.2.3.3)', async t => {
  const clock = new ManualClock()
  const own = await startTestBroker(t, { clock })
  const topic = uniqueName('retained-expiry')
  const pub = await connected(t, {}, own.port)
  pub.send({ cmd: 'publish', topic, payload: Buffer.from('soon-gone'), qos: 1, messageId: 1, retain: true, dup: false, properties: { messageExpiryInterval: 1 } })
  await pub.expect('puback')
  const early = await subscribed(t, topic, 1, {}, own.port)
  const retained = await early.expect('publish')
  assert.equal(retained.payload.toString(), 'soon-gone')
  assert.equal(retained.properties?.messageExpiryInterval, 1)
  clock.advance(999)
  const before = await subscribed(t, topic, 1, {}, own.port)
  assert.equal((await before.expect('publish')).properties?.messageExpiryInterval, 1, 'a retained message 1 ms before its expiry is sent, with 1 s left (rounded up)')
  clock.advance(1)
  const late = await subscribed(t, topic, 1, {}, own.port)
  await late.expectSilence(400)
})

test('[MQTT-3.3.2-12] the server accepts topic aliases up to its Topic Alias Maximum: set with a topic, then used with an empty topic', async t => {
  const topicA = uniqueName('alias-a')
  const topicB = uniqueName('alias-b')
  const sub = await connected(t)
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: topicA, qos: 1 }, { topic: topicB, qos: 1 }] })
  await sub.expect('suback')
  const pub = await connected(t)
  const send = (topic: string, alias: number, payload: string, id: number): void => {
    pub.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, messageId: id, retain: false, dup: false, properties: { topicAlias: alias } })
  }
  send(topicA, TOPIC_ALIAS_MAXIMUM, 'set', 1)
  send('', TOPIC_ALIAS_MAXIMUM, 'use', 2)
  send(topicB, TOPIC_ALIAS_MAXIMUM, 'remap', 3)
  send('', TOPIC_ALIAS_MAXIMUM, 'use-remapped', 4)
  for (let i = 0; i < 4; i++) assert.equal((await pub.expect('puback')).reasonCode ?? 0, 0)
  const got: Array<[string, string]> = []
  for (let i = 0; i < 4; i++) {
    const msg = await sub.expect('publish')
    got.push([msg.topic, msg.payload.toString()])
    assert.equal(msg.properties?.topicAlias, undefined, 'the subscriber did not allow aliases')
  }
  // Order is only guaranteed per topic [MQTT-4.6.0-6].
  assert.deepEqual(got.filter(([topic]) => topic === topicA).map(([, p]) => p), ['set', 'use'])
  assert.deepEqual(got.filter(([topic]) => topic === topicB).map(([, p]) => p), ['remap', 'use-remapped'])
})

test('[MQTT-3.3.2-8] a Topic Alias of 0 gets DISCONNECT 0x94 (Topic Alias invalid)', async t => {
  const pub = await connected(t)
  pub.sendBytes(encodePublish({ topic: uniqueName('zero'), qos: 0, properties: [{ id: PropertyId.TopicAlias, value: 0 }], payload: 'x' }))
  assert.equal((await pub.expect('disconnect')).reasonCode, 0x94)
  await pub.closed()
})

test('[MQTT-3.3.2-9] a Topic Alias above the server Topic Alias Maximum gets DISCONNECT 0x94', async t => {
  const pub = await connected(t)
  pub.send({ cmd: 'publish', topic: uniqueName('over'), payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: TOPIC_ALIAS_MAXIMUM + 1 } })
  assert.equal((await pub.expect('disconnect')).reasonCode, 0x94)
  await pub.closed()
})

test('[MQTT-3.3.2-7] topic alias mappings do not carry over to a new connection: an unknown alias with an empty topic is a protocol error (0x82)', async t => {
  const clientId = uniqueName('alias-scope')
  const first = await connected(t, { clientId })
  first.send({ cmd: 'publish', topic: uniqueName('scoped'), payload: Buffer.from('x'), qos: 1, messageId: 1, retain: false, dup: false, properties: { topicAlias: 1 } })
  await first.expect('puback')
  first.send({ cmd: 'disconnect', reasonCode: 0 })
  await first.closed()
  const second = await connected(t, { clientId })
  second.send({ cmd: 'publish', topic: '', payload: Buffer.from('x'), qos: 1, messageId: 2, retain: false, dup: false, properties: { topicAlias: 1 } })
  assert.equal((await second.expect('disconnect')).reasonCode, 0x82)
  await second.closed()
})

test('server-to-client topic aliases: used when the client allows them, never above its Topic Alias Maximum [MQTT-3.3.2-11]', async t => {
  const clientMaximum = 2
  const topics = [uniqueName('out-a'), uniqueName('out-b'), uniqueName('out-c')]
  const sub = await connected(t, { properties: { topicAliasMaximum: clientMaximum } })
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: topics.map(topic => ({ topic, qos: 0 as const })) })
  await sub.expect('suback')
  const pub = await connected(t)
  const sent: string[] = []
  for (let round = 0; round < 3; round++) {
    for (const topic of topics) {
      pub.send({ cmd: 'publish', topic, payload: Buffer.from(`${round}`), qos: 0, retain: false, dup: false })
      sent.push(topic)
    }
  }
  const aliases = new Map<number, string>()
  const resolved: Array<[string, string]> = []
  let aliasOnly = 0
  for (let i = 0; i < sent.length; i++) {
    const msg = await sub.expect('publish')
    const payload = msg.payload.toString()
    const alias = msg.properties?.topicAlias
    if (alias === undefined) {
      assert.ok(msg.topic.length > 0)
      resolved.push([msg.topic, payload])
      continue
    }
    assert.ok(alias >= 1 && alias <= clientMaximum, `alias ${alias} outside 1..${clientMaximum}`)
    if (msg.topic.length > 0) {
      aliases.set(alias, msg.topic)
      resolved.push([msg.topic, payload])
    } else {
      const topic = aliases.get(alias)
      assert.ok(topic !== undefined, `alias ${alias} used before it was set`)
      resolved.push([topic, payload])
      aliasOnly++
    }
  }
  // Order is only guaranteed per topic [MQTT-4.6.0-6]: compare each topic's payload sequence.
  for (const topic of topics) {
    assert.deepEqual(resolved.filter(([t]) => t === topic).map(([, p]) => p), ['0', '1', '2'], `messages resolved to ${topic}`)
  }
  assert.ok(aliasOnly > 0, 'the server never used a topic alias although the client allowed them')
})

test('[MQTT-3.3.2-11] the server sends no topic alias to a client that did not set a Topic Alias Maximum', async t => {
  const topic = uniqueName('no-alias')
  const sub = await subscribed(t, topic, 0)
  const pub = await connected(t)
  for (let i = 0; i < 5; i++) pub.send({ cmd: 'publish', topic, payload: Buffer.from(String(i)), qos: 0, retain: false, dup: false })
  for (let i = 0; i < 5; i++) {
    const msg = await sub.expect('publish')
    assert.equal(msg.topic, topic)
    assert.equal(msg.properties?.topicAlias, undefined)
  }
})

test('PUBACK and PUBREC say 0x10 (No matching subscribers) for a message no subscription matched, 0x00 (Success) once one does (§3.4.2.1, §3.5.2.1)', async t => {
  const prefix = uniqueName('acks')
  const topic = `${prefix}/t`
  const pub = await connected(t)
  pub.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, messageId: 1, retain: false, dup: false })
  assert.equal((await pub.expect('puback')).reasonCode, 0x10, 'PUBACK without a matching subscriber')
  pub.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 2, messageId: 2, retain: false, dup: false })
  assert.equal((await pub.expect('pubrec')).reasonCode, 0x10, 'PUBREC without a matching subscriber')
  // 0x10 is a success code: the QoS 2 flow goes on [MQTT-4.3.3-4].
  pub.send({ cmd: 'pubrel', messageId: 2, reasonCode: 0 })
  assert.equal((await pub.expect('pubcomp')).reasonCode ?? 0, 0x00)
  // A wildcard filter that matches the topic.
  const sub = await subscribed(t, `${prefix}/+`)
  pub.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, messageId: 3, retain: false, dup: false })
  assert.equal((await pub.expect('puback')).reasonCode ?? 0, 0x00, 'PUBACK with a matching subscriber')
  pub.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 2, messageId: 4, retain: false, dup: false })
  assert.equal((await pub.expect('pubrec')).reasonCode ?? 0, 0x00, 'PUBREC with a matching subscriber')
  assert.equal((await sub.expect('publish')).topic, topic)
})

test('PUBACK 0x10 counts deliveries: a message only the publisher\'s own No Local subscription matches gets 0x10; a retained one without subscribers too, and is still retained', async t => {
  const topic = uniqueName('nolocal')
  const pub = await connected(t)
  pub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1, nl: true }] })
  await pub.expect('suback')
  pub.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, messageId: 2, retain: false, dup: false })
  assert.equal((await pub.expect('puback')).reasonCode, 0x10)
  const retainedTopic = uniqueName('kept')
  pub.send({ cmd: 'publish', topic: retainedTopic, payload: Buffer.from('kept'), qos: 1, messageId: 3, retain: true, dup: false })
  assert.equal((await pub.expect('puback')).reasonCode, 0x10)
  const late = await subscribed(t, retainedTopic)
  assert.equal((await late.expect('publish')).payload.toString(), 'kept')
})

test('MQTT 5 acks leave in PUBLISH order while their routing is reported, a re-sent QoS 2 PUBLISH included; MQTT 3.1.1 acks carry no reason code', async t => {
  // Topics in two different trie shards, each reporting its own routing.
  const matched = uniqueName('order-m')
  let unmatched = uniqueName('order-u')
  while (shardForTopic(unmatched, broker.config.shards) === shardForTopic(matched, broker.config.shards)) unmatched = uniqueName('order-u')
  await subscribed(t, matched)
  const pub = await connected(t)
  const publish = (topic: string, qos: 1 | 2, packetId: number, dup = false): Buffer =>
    encodePublish({ topic, qos, packetId, dup, properties: [], payload: String(packetId) })
  const sent = [publish(matched, 1, 10), publish(unmatched, 2, 11), publish(matched, 2, 12), publish(unmatched, 1, 13), publish(unmatched, 2, 11, true), publish(matched, 1, 14)]
  // One write: the broker handles them in one turn, the topics in different trie shards.
  pub.sendBytes(Buffer.concat(sent))
  const acks: string[] = []
  for (let i = 0; i < sent.length; i++) {
    const ack = await pub.next()
    assert.ok(ack.cmd === 'puback' || ack.cmd === 'pubrec', ack.cmd)
    acks.push(`${ack.cmd} ${ack.messageId ?? 0} 0x${(ack.reasonCode ?? 0).toString(16)}`)
  }
  assert.deepEqual(acks, ['puback 10 0x0', 'pubrec 11 0x10', 'pubrec 12 0x0', 'puback 13 0x10', 'pubrec 11 0x0', 'puback 14 0x0'])

  const { client: v3 } = await RawClient.connected(broker.port, { clientId: uniqueName('p3') }, { protocolVersion: 4 })
  t.after(() => v3.destroy())
  v3.send({ cmd: 'publish', topic: unmatched, payload: Buffer.from('x'), qos: 1, messageId: 7, retain: false, dup: false })
  await v3.expect('puback')
  assert.deepEqual([...v3.history.at(-1)!.bytes], [0x40, 0x02, 0x00, 0x07], 'a 3.1.1 PUBACK is the packet id only')
})

test('a PUBREL for an unknown packet identifier gets PUBCOMP 0x92 (Packet Identifier not found) (§3.7.2.1)', async t => {
  const pub = await connected(t)
  pub.send({ cmd: 'pubrel', messageId: 4321, reasonCode: 0 })
  const pubcomp = await pub.expect('pubcomp')
  assert.equal(pubcomp.messageId, 4321)
  assert.equal(pubcomp.reasonCode, 0x92)
})

test('properties on every packet type are accepted: CONNECT, SUBSCRIBE, UNSUBSCRIBE, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, DISCONNECT (§2.2.2)', async t => {
  const userProperties = { origin: 'props-everywhere' }
  const topic = uniqueName('props-everywhere')
  const client = await connected(t, { properties: { userProperties, requestProblemInformation: true, requestResponseInformation: false } })
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 2 }], properties: { userProperties } })
  assert.deepEqual((await client.expect('suback')).granted, [2])
  client.send({ cmd: 'publish', topic, payload: Buffer.from('q1'), qos: 1, messageId: 2, retain: false, dup: false, properties: { userProperties } })
  await client.waitFor('puback')
  const q1 = await client.waitFor('publish')
  client.send({ cmd: 'puback', messageId: q1.messageId!, reasonCode: 0, properties: { reasonString: 'ok', userProperties } })
  client.send({ cmd: 'publish', topic, payload: Buffer.from('q2'), qos: 2, messageId: 3, retain: false, dup: false, properties: { userProperties } })
  await client.waitFor('pubrec')
  client.send({ cmd: 'pubrel', messageId: 3, reasonCode: 0, properties: { reasonString: 'release', userProperties } })
  await client.waitFor('pubcomp')
  const q2 = await client.waitFor('publish', p => p.payload.toString() === 'q2')
  client.send({ cmd: 'pubrec', messageId: q2.messageId!, reasonCode: 0, properties: { userProperties } })
  await client.waitFor('pubrel')
  client.send({ cmd: 'pubcomp', messageId: q2.messageId!, reasonCode: 0, properties: { userProperties } })
  client.send({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: [topic], properties: { userProperties } })
  assert.deepEqual((await client.waitFor('unsuback')).granted, [0])
  client.send({ cmd: 'pingreq' })
  await client.waitFor('pingresp')
  client.send({ cmd: 'disconnect', reasonCode: 0, properties: { reasonString: 'bye', userProperties } })
  await client.closed()
  assert.deepEqual(client.history.filter(h => h.packet.cmd === 'disconnect').map(h => h.packet), [], 'the server never had to disconnect the client')
})

