import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decodeControl, encodeControl, type ControlMessage } from '../network/control-codec.js'
import { MalformedFrameError } from '../network/errors.js'
import { decodeForwardFrame, ForwardFrameEncoder } from '../network/forward-frames.js'
import { GossipEnvelope, openGossipEnvelope } from '../network/gossip-envelope.js'
import { MessageBatchReader, MessageBatchWriter } from '../network/message-codec.js'
import { BinaryReader, BinaryWriter } from '../network/wire.js'
import type { Message } from '../src/core/mqtt/message.js'

/** Encodes `messages` as one batch sent by `sender`. */
function encodeBatch (messages: Message[], sender = 'n9@elsewhere'): Uint8Array {
  const writer = new BinaryWriter(16)
  const batch = new MessageBatchWriter()
  batch.reset(sender)
  for (const message of messages) batch.write(writer, message)
  return writer.finish()
}

function decodeBatch (bytes: Uint8Array, count: number, sender = 'n9@elsewhere'): Message[] {
  const reader = new BinaryReader(bytes)
  const batch = new MessageBatchReader(sender)
  const messages = Array.from({ length: count }, () => batch.read(reader))
  reader.expectEnd()
  return messages
}

function roundTrip (message: Message, sender?: string): Message {
  return decodeBatch(encodeBatch([message], sender), 1, sender)[0]!
}

const minimal: Message = { topic: 'a/b', payload: Buffer.from('hello'), qos: 0, retain: false, publisher: 'client-1', origin: 'n1@10.0.0.1' }

test('message codec round-trips a minimal QoS 0 message', () => {
  assert.deepStrictEqual(roundTrip(minimal), minimal)
})

test('message codec round-trips every field, MQTT 5 properties included [MQTT-3.3.2-17, MQTT-3.3.2-18]', () => {
  const full: Message = {
    topic: 'sensors/température/°C',
    payload: Buffer.from([0, 1, 2, 255]),
    qos: 2,
    retain: true,
    expiresAt: 1_900_000_000_123,
    publisher: 'pub-ü',
    origin: 'meshmq2@host.example',
    properties: {
      payloadFormatIndicator: true,
      contentType: 'application/json',
      responseTopic: 'reply/here',
      correlationData: Buffer.from('corr'),
      userProperties: [['z', '1'], ['a', '2'], ['z', '3'], ['', ''], ['__proto__', 'kept as a key']]
    }
  }
  const decoded = roundTrip(full)
  assert.deepStrictEqual(decoded, full)
})

test('message codec keeps payloadFormatIndicator false distinct from absent', () => {
  const withFalse: Message = { ...minimal, qos: 1, properties: { payloadFormatIndicator: false } }
  assert.deepStrictEqual(roundTrip(withFalse), withFalse)
  assert.equal(roundTrip(minimal).properties, undefined)
})

test('message codec round-trips an empty and a 1 MiB payload', () => {
  const empty: Message = { ...minimal, payload: Buffer.alloc(0) }
  assert.deepStrictEqual(roundTrip(empty), empty)
  const big: Message = { ...minimal, payload: Buffer.alloc(1 << 20, 7) }
  assert.deepStrictEqual(roundTrip(big), big)
})

test('a truncated message fails with MalformedFrameError', () => {
  const bytes = encodeBatch([minimal])
  for (const cut of [1, 3, bytes.length - 1]) {
    assert.throws(() => decodeBatch(bytes.subarray(0, cut), 1), { name: 'MalformedFrameError' })
  }
})

test('unknown flag bits are refused', () => {
  const bytes = encodeBatch([minimal])
  bytes[0] = 0x80
  assert.throws(() => decodeBatch(bytes, 1), MalformedFrameError)
})

test('a batch sends a repeated topic or publisher once and restores every message', () => {
  const messages: Message[] = [
    minimal,
    { ...minimal, payload: Buffer.from('second') },
    { ...minimal, topic: 'other/topic', qos: 1 },
    { ...minimal, publisher: 'client-2', payload: Buffer.from('third') }
  ]
  const sender = minimal.origin
  const separately = messages.reduce((sum, message) => sum + encodeBatch([message], sender).byteLength, 0)
  const bytes = encodeBatch(messages, sender)
  // each repeat costs a one-byte reference instead of a 0 tag, a length byte and the string
  const saved = 2 * (1 + 'a/b'.length) + 2 * (1 + 'client-1'.length)
  assert.equal(separately - bytes.byteLength, saved)
  assert.deepStrictEqual(decodeBatch(bytes, messages.length, sender), messages)
})

test('the origin is left out when it is the sending node and restored from it', () => {
  const fromSender = encodeBatch([minimal], minimal.origin)
  const fromElsewhere = encodeBatch([minimal], 'n2@10.0.0.2')
  assert.equal(fromElsewhere.byteLength - fromSender.byteLength, 2 + minimal.origin.length)
  assert.deepStrictEqual(decodeBatch(fromSender, 1, minimal.origin), [minimal])
  assert.deepStrictEqual(decodeBatch(fromElsewhere, 1, 'n2@10.0.0.2'), [minimal])
})

test('a string reference beyond the batch table is malformed', () => {
  const bytes = new BinaryWriter().u8(0).varint(1).finish()
  assert.throws(() => decodeBatch(bytes, 1), { name: 'MalformedFrameError' })
})

test('non-ASCII and long strings round-trip through the writer', () => {
  const values = ['', 'a', 'ü', 'x'.repeat(40), 'y'.repeat(41), `${'z'.repeat(39)}é`, '€'.repeat(200)]
  const writer = new BinaryWriter(4)
  for (const value of values) writer.string(value)
  const reader = new BinaryReader(writer.finish())
  assert.deepStrictEqual(values.map(() => reader.string()), values)
  reader.expectEnd()
})

test('varints round-trip up to 2^53 - 1', () => {
  const values = [0, 1, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]
  const writer = new BinaryWriter(4)
  for (const value of values) writer.varint(value)
  const reader = new BinaryReader(writer.finish())
  assert.deepStrictEqual(values.map(() => reader.varint()), values)
  assert.throws(() => writer.varint(-1), RangeError)
})

test('forward frames carry their length prefix and round-trip', () => {
  const encoder = new ForwardFrameEncoder()
  const second: Message = { ...minimal, topic: 'c/d', qos: 1, payload: Buffer.from('x') }
  const frames = [
    { bytes: encoder.open('n1@h', 1234, 'n2@h'), expected: { kind: 'open', sender: 'n1@h', senderIncarnation: 1234, receiver: 'n2@h' } },
    { bytes: encoder.messages('n1@10.0.0.1', [42, 43, 47], [minimal, second, minimal]), expected: { kind: 'messages', seqs: [42, 43, 47], messages: [minimal, second, minimal] } },
    { bytes: encoder.ack(2 ** 40), expected: { kind: 'ack', seq: 2 ** 40 } },
    { bytes: encoder.ping(), expected: { kind: 'ping' } }
  ]
  for (const { bytes, expected } of frames) {
    const reader = new BinaryReader(bytes)
    const length = reader.varint()
    assert.equal(length, reader.remaining)
    assert.deepStrictEqual(decodeForwardFrame(bytes.subarray(bytes.length - length), 'n1@10.0.0.1'), expected)
  }
  assert.throws(() => decodeForwardFrame(Uint8Array.of(99)), { name: 'MalformedFrameError' })
  assert.throws(() => encoder.messages('n1@h', [5, 5], [minimal, minimal]), RangeError, 'sequence numbers grow within a batch')
})

test('a messages frame before the open frame, or with a zero sequence step, is malformed', () => {
  const encoder = new ForwardFrameEncoder()
  const bytes = encoder.messages('n1@h', [1, 2], [minimal, minimal])
  const body = bytes.subarray(1)
  assert.throws(() => decodeForwardFrame(body), { name: 'MalformedFrameError' })
  const zeroStep = new BinaryWriter().u8(2).varint(1).varint(2).finish()
  const first = encodeBatch([minimal], 'n1@h')
  const tampered = Uint8Array.of(...zeroStep, ...first, 0, ...first)
  assert.throws(() => decodeForwardFrame(tampered, 'n1@h'), { name: 'MalformedFrameError' })
})

test('control messages round-trip', () => {
  const messages: ControlMessage[] = [
    {
      type: 'hello',
      name: 'n1@h',
      peerId: '12D3KooWabc',
      incarnation: 1_700_000_000_000,
      addrs: ['/ip4/127.0.0.1/tcp/4371/p2p/12D3KooWabc'],
      members: [{ name: 'n2@h', peerId: '12D3KooWdef', incarnation: 5, addrs: [] }],
      tombstones: [{ name: 'n9@h', incarnation: 9 }]
    },
    { type: 'hello-reject', reason: 'removed', detail: 'gone' },
    { type: 'snapshot-request', node: 'n1@h' },
    { type: 'snapshot', node: 'n1@h', incarnation: 3, seq: 10, filters: ['a/#', 'b/+/c', ''] },
    { type: 'delta', node: 'n1@h', incarnation: 3, fromSeq: 11, ops: [{ op: 'add', filter: 'x' }, { op: 'remove', filter: 'a/#' }] },
    { type: 'digest', node: 'n1@h', incarnation: 3, seq: 12, checksum: '0123456789abcdef', peerId: 'p', addrs: ['/ip4/1.2.3.4/tcp/1'] },
    { type: 'leave', node: 'n1@h', incarnation: 3 },
    { type: 'force-leave', node: 'n2@h', incarnation: 4, by: 'n1@h' },
    { type: 'notice-ack' }
  ]
  for (const message of messages) assert.deepStrictEqual(decodeControl(encodeControl(message)), message)
})

test('control decoding refuses trailing bytes and absurd counts', () => {
  const bytes = encodeControl({ type: 'leave', node: 'n1@h', incarnation: 3 })
  assert.throws(() => decodeControl(Uint8Array.of(...bytes, 0)), { name: 'MalformedFrameError' })
  // a snapshot claiming 2^40 filters in a 10-byte frame
  const lying = new BinaryWriter().u8(4).string('n').varint(1).varint(1).varint(2 ** 40).finish()
  assert.throws(() => decodeControl(lying), { name: 'MalformedFrameError' })
})

test('gossip envelopes of the same control message differ, so gossipsub does not drop a repeated digest', () => {
  const control = encodeControl({ type: 'digest', node: 'n1@h', incarnation: 7, seq: 3, checksum: 'abc', peerId: 'p', addrs: [] })
  const envelope = new GossipEnvelope()
  const first = envelope.wrap(control)
  const second = envelope.wrap(control)
  assert.notDeepEqual(first, second)
  assert.deepEqual(new Uint8Array(openGossipEnvelope(first)), new Uint8Array(control))
  assert.deepEqual(new Uint8Array(openGossipEnvelope(second)), new Uint8Array(control))
})

test('an empty or truncated gossip envelope is malformed', () => {
  assert.throws(() => openGossipEnvelope(new Uint8Array(0)), MalformedFrameError)
  assert.throws(() => openGossipEnvelope(Uint8Array.of(0x80)), MalformedFrameError)
})
