/**
 * MQTT 5: every "close the Network Connection" clause (a Malformed Packet or a Protocol Error,
 * §4.13) not covered elsewhere (see README, Conformance), one test per clause id, each sending
 * the offending bytes over a raw socket. The broker tells the reason code — in a DISCONNECT, or
 * in a CONNACK for a CONNECT [MQTT-3.1.4-1, MQTT-3.2.2-7] — and closes the connection.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTestBroker } from './helpers/broker.js'
import type { RawClient } from './helpers/raw-client.js'
import { connected, expectConnackRefusal, expectDisconnect, opened } from './helpers/violations.js'
import { uniqueName } from './helpers/wait.js'
import {
  encodeConnect, encodePacket, encodeProperties, encodePublish, encodeSubscribe, encodeUnsubscribe, lengthPrefixed,
  propertyBlock, PropertyId, rawUserProperty, varint, type RawConnect, ConnectFlag } from './helpers/wire.js'

const broker = await startTestBroker({ after })

const MALFORMED = 0x81
const PROTOCOL_ERROR = 0x82
const TOPIC_NAME_INVALID = 0x90

/** A surrogate code point (U+D800) as UTF-8 bytes: ill-formed [MQTT-1.5.4-1]. */
const SURROGATE = Buffer.from([0xed, 0xa0, 0x80])
/** A truncated 3-byte sequence. */
const TRUNCATED = Buffer.from([0x61, 0xe2, 0x82])
const NUL = Buffer.from('a\u0000b')
const EMPTY_PROPERTIES = varint(0)


type Cleanup = { after: (fn: () => void) => void }

const connect = (fields: Partial<RawConnect>): RawConnect => ({ level: 5, flags: ConnectFlag.cleanStart, clientId: uniqueName('m5'), properties: EMPTY_PROPERTIES, ...fields })

/** Each CONNECT gets CONNACK `reasonCode` and is closed. */
async function expectConnectsRefused (t: Cleanup, reasonCode: number, connects: Array<[string, RawConnect]>): Promise<void> {
  for (const [what, fields] of connects) {
    const client = await opened(t, broker.port, 5)
    client.sendBytes(encodeConnect(fields))
    await expectConnackRefusal(client, reasonCode, what)
  }
}

/** Each packet, sent after a successful handshake, gets DISCONNECT `reasonCode` and the close. */
async function expectPacketsDisconnect (t: Cleanup, reasonCode: number, packets: Array<[string, Buffer]>): Promise<void> {
  for (const [what, bytes] of packets) {
    const client = await connected(t, broker.port, 5)
    client.sendBytes(bytes)
    await expectDisconnect(client, reasonCode, what)
  }
}

const withSurrogate = (text: string): Buffer => Buffer.concat([Buffer.from(text), SURROGATE])

test('[MQTT-1.5.4-1] ill-formed UTF-8 — in an UNSUBSCRIBE topic filter [MQTT-3.10.3-1]: DISCONNECT 0x81; in a CONNECT client id [MQTT-3.1.3-4], Will Topic [MQTT-3.1.3-11], User Name [MQTT-3.1.3-12] or string property: CONNACK 0x81', async t => {
  await expectPacketsDisconnect(t, MALFORMED, [
    ['UNSUBSCRIBE surrogate', encodeUnsubscribe([withSurrogate('bad/')], 1, true)],
    ['UNSUBSCRIBE truncated', encodeUnsubscribe(['fine', TRUNCATED], 1, true)],
    ['PUBACK reason string', encodePacket(0x40, Buffer.from([0x00, 0x01, 0x00]), propertyBlock(Buffer.from([0x1f]), lengthPrefixed(SURROGATE)))]
  ])
  await expectConnectsRefused(t, MALFORMED, [
    ['client id', connect({ clientId: withSurrogate('id-') })],
    ['will topic', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.will, will: { properties: EMPTY_PROPERTIES, topic: withSurrogate('will/'), payload: 'x' } })],
    ['user name', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.username, username: TRUNCATED })],
    ['will content type', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.will, will: { properties: propertyBlock(Buffer.from([PropertyId.ContentType]), lengthPrefixed(SURROGATE)), topic: 'will/ok', payload: 'x' } })]
  ])
})

test('[MQTT-1.5.4-2] U+0000 in a SUBSCRIBE or UNSUBSCRIBE topic filter gets DISCONNECT 0x81, in a CONNECT client id, Will Topic or User Name CONNACK 0x81', async t => {
  await expectPacketsDisconnect(t, MALFORMED, [
    ['SUBSCRIBE', encodeSubscribe(NUL, 0, 1, true)],
    ['UNSUBSCRIBE', encodeUnsubscribe([NUL], 1, true)]
  ])
  await expectConnectsRefused(t, MALFORMED, [
    ['client id', connect({ clientId: NUL })],
    ['will topic', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.will, will: { properties: EMPTY_PROPERTIES, topic: NUL, payload: 'x' } })],
    ['user name', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.username, username: NUL })]
  ])
})

test('[MQTT-1.5.7-1] a User Property whose name or value is ill-formed UTF-8 is malformed: DISCONNECT 0x81 (PUBLISH, SUBSCRIBE, UNSUBSCRIBE, PUBACK, DISCONNECT), CONNACK 0x81 (CONNECT)', async t => {
  const badName = propertyBlock(rawUserProperty(SURROGATE, 'v'))
  const badValue = propertyBlock(rawUserProperty('k', TRUNCATED))
  await expectPacketsDisconnect(t, MALFORMED, [
    ['PUBLISH', encodePacket(0x30, lengthPrefixed('up/topic'), badValue, Buffer.from('x'))],
    ['SUBSCRIBE', encodeSubscribe('up/filter', 0, 1, true, badName)],
    ['UNSUBSCRIBE', encodeUnsubscribe(['up/filter'], 1, true, badValue)],
    ['PUBACK', encodePacket(0x40, Buffer.from([0x00, 0x01, 0x00]), badName)],
    ['DISCONNECT', encodePacket(0xe0, Buffer.from([0x00]), badValue)]
  ])
  await expectConnectsRefused(t, MALFORMED, [['CONNECT', connect({ properties: badName })]])
})

test('[MQTT-2.1.3-1] reserved fixed-header flags other than listed on PUBACK, PUBREC, PUBCOMP or PINGREQ: DISCONNECT 0x81', async t => {
  await expectPacketsDisconnect(t, MALFORMED, [
    ['PUBACK 0x41', Buffer.from([0x41, 0x02, 0x00, 0x01])],
    ['PUBREC 0x58', Buffer.from([0x58, 0x02, 0x00, 0x01])],
    ['PUBCOMP 0x72', Buffer.from([0x72, 0x02, 0x00, 0x01])],
    ['PINGREQ 0xc2', Buffer.from([0xc2, 0x00])]
  ])
})

test('[MQTT-3.6.1-1] a PUBREL whose fixed-header flags are not 0010: DISCONNECT 0x81', async t => {
  await expectPacketsDisconnect(t, MALFORMED, [['PUBREL 0x60', Buffer.from([0x60, 0x02, 0x00, 0x01])]])
})

test('[MQTT-3.8.1-1] a SUBSCRIBE whose fixed-header flags are not 0010: DISCONNECT 0x81', async t => {
  const bytes = encodeSubscribe('a/b', 0, 1, true)
  bytes[0] = 0x80
  await expectPacketsDisconnect(t, MALFORMED, [['SUBSCRIBE 0x80', bytes]])
})

test('[MQTT-3.10.1-1] an UNSUBSCRIBE whose fixed-header flags are not 0010: DISCONNECT 0x81', async t => {
  const bytes = encodeUnsubscribe(['a/b'], 1, true)
  bytes[0] = 0xa3
  await expectPacketsDisconnect(t, MALFORMED, [['UNSUBSCRIBE 0xa3', bytes]])
})

test('[MQTT-3.14.1-1] a DISCONNECT whose reserved flags are not 0: DISCONNECT 0x81', async t => {
  await expectPacketsDisconnect(t, MALFORMED, [['DISCONNECT 0xe2', Buffer.from([0xe2, 0x00])]])
})

test('[MQTT-3.15.1-1] an AUTH whose reserved flags are not 0: DISCONNECT 0x81', async t => {
  await expectPacketsDisconnect(t, MALFORMED, [['AUTH 0xf1', Buffer.from([0xf1, 0x00])]])
})

test('[MQTT-2.2.1-3] packet identifier 0 in SUBSCRIBE, UNSUBSCRIBE or a QoS 1/2 PUBLISH is malformed: DISCONNECT 0x81, no SUBACK, UNSUBACK or PUBACK', async t => {
  await expectPacketsDisconnect(t, MALFORMED, [
    ['SUBSCRIBE', encodeSubscribe('zero/id', 1, 0, true)],
    ['UNSUBSCRIBE', encodeUnsubscribe(['zero/id'], 0, true)],
    ['PUBLISH QoS 1', encodePublish({ topic: 'zero/id', qos: 1, packetId: 0, properties: [], payload: 'x' })],
    ['PUBLISH QoS 2', encodePublish({ topic: 'zero/id', qos: 2, packetId: 0, properties: [], payload: 'x' })]
  ])
})

test('§2.2.2.2: a property not allowed in its packet is malformed (0x81); one given twice is a protocol error (0x82), in a CONNECT told by CONNACK', async t => {
  const subscriptionId = (id: number): Buffer => Buffer.concat([Buffer.from([PropertyId.SubscriptionIdentifier]), varint(id)])
  const sessionExpiry = Buffer.from([0x11, 0, 0, 0, 10])
  await expectPacketsDisconnect(t, MALFORMED, [
    ['Topic Alias in SUBSCRIBE', encodeSubscribe('p/q', 0, 1, true, encodeProperties([{ id: PropertyId.TopicAlias, value: 1 }]))],
    ['Subscription Identifier in UNSUBSCRIBE', encodeUnsubscribe(['p/q'], 1, true, propertyBlock(subscriptionId(3)))],
    ['unknown identifier 0x7f in DISCONNECT', encodePacket(0xe0, Buffer.from([0x00]), propertyBlock(Buffer.from([0x7f, 0x00])))]
  ])
  await expectPacketsDisconnect(t, PROTOCOL_ERROR, [
    ['Subscription Identifier twice in SUBSCRIBE', encodeSubscribe('p/q', 0, 1, true, propertyBlock(subscriptionId(3), subscriptionId(4)))],
    ['Subscription Identifier 0', encodeSubscribe('p/q', 0, 1, true, propertyBlock(subscriptionId(0)))],
    ['Reason String twice in PUBACK', encodePacket(0x40, Buffer.from([0x00, 0x01, 0x00]), propertyBlock(Buffer.from([0x1f]), lengthPrefixed('a'), Buffer.from([0x1f]), lengthPrefixed('b')))]
  ])
  await expectConnectsRefused(t, PROTOCOL_ERROR, [
    ['Session Expiry Interval twice', connect({ properties: propertyBlock(sessionExpiry, sessionExpiry) })],
    ['Request Problem Information 2', connect({ properties: propertyBlock(Buffer.from([0x17, 2])) })]
  ])
  await expectConnectsRefused(t, MALFORMED, [['Topic Alias in CONNECT', connect({ properties: propertyBlock(Buffer.from([0x23, 0, 1])) })]])
})

test('[MQTT-3.1.2-1] a CONNECT with a protocol name other than MQTT is not accepted: the connection closes without a successful CONNACK', async t => {
  const client = await opened(t, broker.port, 5)
  client.sendBytes(encodeConnect(connect({ protocolName: 'MQTX' })))
  await client.closed()
  assert.ok(!client.history.some(h => h.packet.cmd === 'connack' && h.packet.reasonCode === 0), 'no successful CONNACK')
})

test('[MQTT-3.1.2-3] a CONNECT with the reserved flag set is malformed: CONNACK 0x81', async t => {
  await expectConnectsRefused(t, MALFORMED, [['reserved flag', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.reserved })]])
})

test('[MQTT-3.1.2-9] a CONNECT with the Will Flag but no Will Properties, Topic and Payload is malformed: CONNACK 0x81', async t => {
  await expectConnectsRefused(t, MALFORMED, [['will flag, no will fields', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.will })]])
})

test('[MQTT-3.1.2-11] a CONNECT with Will QoS 1 but no Will Flag is malformed: CONNACK 0x81', async t => {
  await expectConnectsRefused(t, MALFORMED, [['will QoS without will flag', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.willQos1 })]])
})

test('[MQTT-3.1.2-13] a CONNECT with Will Retain but no Will Flag is malformed: CONNACK 0x81', async t => {
  await expectConnectsRefused(t, MALFORMED, [['will retain without will flag', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.willRetain })]])
})

test('[MQTT-3.1.2-16] a CONNECT with a User Name in its payload but no User Name Flag is malformed: CONNACK 0x81', async t => {
  await expectConnectsRefused(t, MALFORMED, [['user name without flag', connect({ username: 'someone' })]])
})

test('[MQTT-3.1.2-17] a CONNECT with the User Name Flag but no User Name is malformed: CONNACK 0x81', async t => {
  await expectConnectsRefused(t, MALFORMED, [['user name flag without user name', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.username })]])
})

test('[MQTT-3.1.2-18] a CONNECT with a Password in its payload but no Password Flag is malformed: CONNACK 0x81', async t => {
  await expectConnectsRefused(t, MALFORMED, [['password without flag', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.username, username: 'someone', password: 'secret' })]])
})

test('[MQTT-3.1.2-19] a CONNECT with the Password Flag but no Password is malformed: CONNACK 0x81; a Password without User Name is allowed in MQTT 5', async t => {
  await expectConnectsRefused(t, MALFORMED, [['password flag without password', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.password })]])
  const client = await opened(t, broker.port, 5)
  client.sendBytes(encodeConnect(connect({ flags: ConnectFlag.cleanStart | ConnectFlag.password, password: 'secret' })))
  assert.equal((await client.expect('connack')).reasonCode, 0)
})

test('[MQTT-3.1.3-11] a Will Topic that is no valid topic name: empty or with a wildcard gets CONNACK 0x90 (Topic Name invalid); ill-formed UTF-8 CONNACK 0x81', async t => {
  await expectConnectsRefused(t, TOPIC_NAME_INVALID, ['', 'will/+', 'will/#', '+'].map(topic =>
    [`will topic '${topic}'`, connect({ flags: ConnectFlag.cleanStart | ConnectFlag.will, will: { properties: EMPTY_PROPERTIES, topic, payload: 'x' } })]))
  await expectConnectsRefused(t, MALFORMED, [['will topic with a surrogate', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.will, will: { properties: EMPTY_PROPERTIES, topic: withSurrogate('w/'), payload: 'x' } })]])
})

test('[MQTT-3.3.4-6] a PUBLISH from a client with a Subscription Identifier is a protocol error: DISCONNECT 0x82', async t => {
  await expectPacketsDisconnect(t, PROTOCOL_ERROR, [['PUBLISH', encodePublish({ topic: 'sub/id', properties: [{ id: PropertyId.SubscriptionIdentifier, value: 5 }], payload: 'x' })]])
})

test('§3.3.2.1: a PUBLISH with an empty Topic Name and no Topic Alias is a protocol error: DISCONNECT 0x82 [MQTT-4.7.3-1]', async t => {
  await expectPacketsDisconnect(t, PROTOCOL_ERROR, [['empty topic', encodePublish({ topic: '', qos: 1, packetId: 4, properties: [], payload: 'x' })]])
})

test('[MQTT-3.8.3-2] a SUBSCRIBE without a topic filter is a protocol error: DISCONNECT 0x82, no SUBACK', async t => {
  await expectPacketsDisconnect(t, PROTOCOL_ERROR, [['SUBSCRIBE with no payload', encodePacket(0x82, Buffer.from([0x00, 0x07]), EMPTY_PROPERTIES)]])
})

test('[MQTT-3.8.3-5] reserved bits in subscription options or QoS 3 are malformed (0x81); Retain Handling 3 is a protocol error (0x82, §3.8.3.1)', async t => {
  await expectPacketsDisconnect(t, MALFORMED, [
    ['options 0x40', encodeSubscribe('a/b', 0x40, 1, true)],
    ['options 0x80', encodeSubscribe('a/b', 0x80, 1, true)],
    ['QoS 3', encodeSubscribe('a/b', 0x03, 1, true)]
  ])
  await expectPacketsDisconnect(t, PROTOCOL_ERROR, [['Retain Handling 3', encodeSubscribe('a/b', 0x30, 1, true)]])
})

test('[MQTT-3.10.3-2] an UNSUBSCRIBE without a topic filter is a protocol error: DISCONNECT 0x82, no UNSUBACK', async t => {
  await expectPacketsDisconnect(t, PROTOCOL_ERROR, [['UNSUBSCRIBE with no payload', encodePacket(0xa2, Buffer.from([0x00, 0x07]), EMPTY_PROPERTIES)]])
})

test('§3.14.2.2.2: a DISCONNECT setting a Session Expiry Interval after CONNECT set 0 is a protocol error: DISCONNECT 0x82', async t => {
  await expectPacketsDisconnect(t, PROTOCOL_ERROR, [['DISCONNECT with expiry', encodePacket(0xe0, Buffer.from([0x00]), propertyBlock(Buffer.from([0x11, 0, 0, 0, 30])))]])
})

test('[MQTT-4.13.1-1] packets only a server sends are a protocol error: DISCONNECT 0x82', async t => {
  await expectPacketsDisconnect(t, PROTOCOL_ERROR, [
    ['SUBACK from a client', encodePacket(0x90, Buffer.from([0x00, 0x01]), EMPTY_PROPERTIES, Buffer.from([0x00]))],
    ['PINGRESP from a client', Buffer.from([0xd0, 0x00])]
  ])
})

test('well-formed properties pass the checks: user properties repeated, reason strings, will properties, non-ASCII strings', async t => {
  const userProperties = propertyBlock(rawUserProperty('k', 'v1'), rawUserProperty('k', 'v2'), rawUserProperty('ünï', 'cödé'))
  const client = await opened(t, broker.port, 5)
  const willProperties = propertyBlock(Buffer.from([PropertyId.ContentType]), lengthPrefixed('text/plain'), Buffer.from([0x18, 0, 0, 0, 0]), rawUserProperty('a', 'b'))
  client.sendBytes(encodeConnect(connect({ flags: ConnectFlag.cleanStart | ConnectFlag.will | ConnectFlag.username, properties: userProperties, will: { properties: willProperties, topic: 'will/ünï', payload: 'x' }, username: 'ünï' })))
  assert.equal((await client.expect('connack')).reasonCode, 0)
  client.sendBytes(encodeSubscribe('ok/ünï', 1, 5, true, propertyBlock(Buffer.from([PropertyId.SubscriptionIdentifier, 7]), rawUserProperty('k', 'v'))))
  assert.deepEqual((await client.expect('suback')).granted, [1])
  client.sendBytes(encodeUnsubscribe(['ok/ünï'], 6, true, userProperties))
  assert.equal((await client.expect('unsuback')).messageId, 6)
  client.sendBytes(encodePacket(0x40, Buffer.from([0x12, 0x34, 0x00]), propertyBlock(Buffer.from([0x1f]), lengthPrefixed('fine'), rawUserProperty('k', 'v'))))
  client.send({ cmd: 'pingreq' })
  await client.expect('pingresp')
  await expectOpen(client)
})

async function expectOpen (client: RawClient): Promise<void> {
  await client.expectSilence(50)
  assert.equal(client.isClosed, false)
}
