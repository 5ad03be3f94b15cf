/**
 * MQTT 3.1.1: every "close the Network Connection" clause not covered elsewhere (see README,
 * Conformance), one test per clause id, each sending the offending bytes over a raw socket. 3.1.1
 * has no packet to say why: the broker closes without a word, and a refused CONNECT gets no
 * CONNACK when no return code fits [MQTT-3.1.4-1, MQTT-3.2.2-6].
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTestBroker } from './helpers/broker.js'
import { connected, expectClosedSilently, opened } from './helpers/violations.js'
import { uniqueName } from './helpers/wait.js'
import { encodeConnect, encodePacket, encodePublish, encodeSubscribe, encodeUnsubscribe, type RawConnect, ConnectFlag } from './helpers/wire.js'

const broker = await startTestBroker({ after })

/** A surrogate code point (U+D800) as UTF-8 bytes: ill-formed [MQTT-1.5.3-1]. */
const SURROGATE = Buffer.from([0xed, 0xa0, 0x80])
/** An overlong encoding of '/' (C0 AF): ill-formed. */
const OVERLONG = Buffer.from([0xc0, 0xaf])
const NUL = Buffer.from('a\u0000b')


/** Each CONNECT is closed without a CONNACK. */
async function expectConnectsClosed (t: { after: (fn: () => void) => void }, connects: Array<[string, RawConnect]>): Promise<void> {
  for (const [what, connect] of connects) {
    const client = await opened(t, broker.port, 4)
    client.sendBytes(encodeConnect(connect))
    await expectClosedSilently(client, what)
  }
}

/** Each packet, sent after a successful handshake, closes the connection. */
async function expectPacketsClose (t: { after: (fn: () => void) => void }, packets: Array<[string, Buffer]>): Promise<void> {
  for (const [what, bytes] of packets) {
    const client = await connected(t, broker.port, 4)
    client.sendBytes(bytes)
    await expectClosedSilently(client, what)
  }
}

const connect = (fields: Partial<RawConnect>): RawConnect => ({ level: 4, flags: ConnectFlag.cleanStart, clientId: uniqueName('m311'), ...fields })

test('[MQTT-1.5.3-1] ill-formed UTF-8 in an UNSUBSCRIBE topic filter [MQTT-3.10.3-1] or a CONNECT client id, will topic [MQTT-3.1.3-10] or user name [MQTT-3.1.3-11] closes the connection, without CONNACK for the CONNECT', async t => {
  await expectPacketsClose(t, [
    ['UNSUBSCRIBE with a surrogate', encodeUnsubscribe([Buffer.concat([Buffer.from('bad/'), SURROGATE])], 1, false)],
    ['UNSUBSCRIBE with an overlong encoding', encodeUnsubscribe(['fine', OVERLONG], 1, false)]
  ])
  await expectConnectsClosed(t, [
    ['client id', connect({ clientId: Buffer.concat([Buffer.from('id-'), SURROGATE]) })],
    ['will topic', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.will, will: { topic: Buffer.concat([Buffer.from('will/'), SURROGATE]), payload: 'x' } })],
    ['user name', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.username, username: Buffer.concat([Buffer.from('user-'), OVERLONG]) })]
  ])
})

test('[MQTT-1.5.3-2] U+0000 in a SUBSCRIBE or UNSUBSCRIBE topic filter or a CONNECT client id, will topic or user name closes the connection [MQTT-4.7.3-2]', async t => {
  await expectPacketsClose(t, [
    ['SUBSCRIBE', encodeSubscribe(NUL, 0, 1, false)],
    ['UNSUBSCRIBE', encodeUnsubscribe([NUL], 1, false)]
  ])
  await expectConnectsClosed(t, [
    ['client id', connect({ clientId: NUL })],
    ['will topic', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.will, will: { topic: NUL, payload: 'x' } })],
    ['user name', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.username, username: NUL })]
  ])
})

test('[MQTT-2.2.2-2] invalid fixed-header flags on PUBACK, PUBREC, PUBCOMP and PINGREQ close the connection', async t => {
  await expectPacketsClose(t, [
    ['PUBACK 0x41', Buffer.from([0x41, 0x02, 0x00, 0x01])],
    ['PUBREC 0x58', Buffer.from([0x58, 0x02, 0x00, 0x01])],
    ['PUBCOMP 0x72', Buffer.from([0x72, 0x02, 0x00, 0x01])],
    ['PINGREQ 0xc2', Buffer.from([0xc2, 0x00])]
  ])
})

test('[MQTT-3.6.1-1] a PUBREL whose fixed-header flags are not 0010 closes the connection', async t => {
  await expectPacketsClose(t, [['PUBREL 0x60', Buffer.from([0x60, 0x02, 0x00, 0x01])], ['PUBREL 0x63', Buffer.from([0x63, 0x02, 0x00, 0x01])]])
})

test('[MQTT-3.10.1-1] an UNSUBSCRIBE whose fixed-header flags are not 0010 closes the connection', async t => {
  const bytes = encodeUnsubscribe(['a/b'], 1, false)
  bytes[0] = 0xa0
  await expectPacketsClose(t, [['UNSUBSCRIBE 0xa0', bytes]])
})

test('[MQTT-3.14.1-1] a DISCONNECT whose reserved flags are not 0 closes the connection', async t => {
  await expectPacketsClose(t, [['DISCONNECT 0xe1', Buffer.from([0xe1, 0x00])]])
})

test('[MQTT-3.1.2-1] a CONNECT with a protocol name other than MQTT is not accepted: the connection closes', async t => {
  await expectConnectsClosed(t, [['protocol name MQTX', connect({ protocolName: 'MQTX' })]])
})

test('[MQTT-3.1.2-2] protocol levels 131 and 132 (mosquitto bridges, not supported) get CONNACK 0x01 and the close', async t => {
  for (const level of [0x83, 0x84]) {
    const client = await opened(t, broker.port, 4)
    client.sendBytes(encodeConnect(connect({ level })))
    assert.equal((await client.expect('connack')).returnCode, 0x01, `level ${level}`)
    await client.closed()
  }
})

test('[MQTT-3.1.2-9] a CONNECT with the Will Flag but without Will Topic and Will Message is closed without CONNACK [MQTT-3.1.4-1]', async t => {
  await expectConnectsClosed(t, [['will flag, no will fields', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.will })]])
})

test('[MQTT-3.1.2-11] a CONNECT without the Will Flag but with Will Topic and Will Message in its payload is closed without CONNACK', async t => {
  await expectConnectsClosed(t, [['will fields without will flag', connect({ will: { topic: 'will/topic', payload: 'x' } })]])
})

test('[MQTT-3.1.2-13] a CONNECT with Will QoS 1 but no Will Flag is closed without CONNACK', async t => {
  await expectConnectsClosed(t, [['will QoS without will flag', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.willQos1 })]])
})

test('[MQTT-3.1.2-15] a CONNECT with Will Retain but no Will Flag is closed without CONNACK', async t => {
  await expectConnectsClosed(t, [['will retain without will flag', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.willRetain })]])
})

test('[MQTT-3.1.2-18] a CONNECT with a user name in its payload but no User Name Flag is closed without CONNACK', async t => {
  await expectConnectsClosed(t, [['user name without flag', connect({ username: 'someone' })]])
})

test('[MQTT-3.1.2-19] a CONNECT with the User Name Flag but no user name is closed without CONNACK', async t => {
  await expectConnectsClosed(t, [['user name flag without user name', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.username })]])
})

test('[MQTT-3.1.2-20] a CONNECT with a password in its payload but no Password Flag is closed without CONNACK', async t => {
  await expectConnectsClosed(t, [['password without flag', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.username, username: 'someone', password: 'secret' })]])
})

test('[MQTT-3.1.2-21] a CONNECT with the Password Flag but no password is closed without CONNACK', async t => {
  await expectConnectsClosed(t, [['password flag without password', connect({ flags: ConnectFlag.cleanStart | ConnectFlag.username | ConnectFlag.password, username: 'someone' })]])
})

test('[MQTT-3.1.3-10] a Will Topic that is no valid topic name — empty [MQTT-4.7.3-1], with a wildcard [MQTT-4.7.1-1] — is closed without CONNACK [MQTT-3.2.2-6]', async t => {
  await expectConnectsClosed(t, ['', 'will/+', 'will/#', '#'].map(topic => [`will topic '${topic}'`, connect({ flags: ConnectFlag.cleanStart | ConnectFlag.will, will: { topic, payload: 'x' } })]))
})

test('[MQTT-3.10.3-2] an UNSUBSCRIBE without a topic filter closes the connection, without UNSUBACK', async t => {
  await expectPacketsClose(t, [['UNSUBSCRIBE with only a packet id', encodePacket(0xa2, Buffer.from([0x00, 0x07]))]])
})

test('[MQTT-4.7.3-1] a PUBLISH with an empty topic name closes the connection', async t => {
  await expectPacketsClose(t, [['QoS 0', encodePublish({ topic: '', payload: 'x' })], ['QoS 1', encodePublish({ topic: '', qos: 1, packetId: 3, payload: 'x' })]])
})

test('[MQTT-4.8.0-1] protocol violations close the connection: packets only a server sends, and acks, PINGREQ or DISCONNECT of the wrong length', async t => {
  await expectPacketsClose(t, [
    ['CONNACK from a client', Buffer.from([0x20, 0x02, 0x00, 0x00])],
    ['SUBACK from a client', Buffer.from([0x90, 0x03, 0x00, 0x01, 0x00])],
    ['UNSUBACK from a client', Buffer.from([0xb0, 0x02, 0x00, 0x01])],
    ['PINGRESP from a client', Buffer.from([0xd0, 0x00])],
    ['PUBACK without a packet id', Buffer.from([0x40, 0x00])],
    ['PUBACK with a reason code (v5 only)', Buffer.from([0x40, 0x03, 0x00, 0x01, 0x00])],
    ['PINGREQ with a body', Buffer.from([0xc0, 0x01, 0x00])],
    ['DISCONNECT with a body', Buffer.from([0xe0, 0x01, 0x00])]
  ])
})

test('a well-formed client is not caught by these checks: non-ASCII filters, user name and password, will and 3.1 (MQIsdp) CONNECT are accepted', async t => {
  const client = await connected(t, broker.port, 4)
  client.sendBytes(encodeSubscribe('héllo/wörld/😀', 1, 9, false))
  assert.deepEqual((await client.expect('suback')).granted, [1])
  client.sendBytes(encodeUnsubscribe(['héllo/wörld/😀', 'other'], 10, false))
  assert.equal((await client.expect('unsuback')).messageId, 10)
  for (const [level, protocolName] of [[4, 'MQTT'], [3, 'MQIsdp']] as const) {
    const full = await opened(t, broker.port, level)
    full.sendBytes(encodeConnect({ level, protocolName, flags: ConnectFlag.cleanStart | ConnectFlag.will | ConnectFlag.willQos1 | ConnectFlag.username | ConnectFlag.password, clientId: `f${level}${Math.random().toString(36).slice(2, 12)}`, will: { topic: 'will/ünïcode', payload: 'bye' }, username: 'ünïcode', password: Buffer.from([0, 1, 2, 0xff]) }))
    assert.equal((await full.expect('connack')).returnCode, 0, `level ${level}`)
  }
})
