import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decodeControl, encodeControl, type ControlMessage } from '../network/control-codec.js'
import { MalformedFrameError } from '../network/errors.js'
import { decodeForwardFrame, ForwardFrameEncoder } from '../network/forward-frames.js'
import { GossipEnvelope, openGossipEnvelope } from '../network/gossip-envelope.js'
import { MessageBatchReader, MessageBatchWriter, RefusedMessage } from '../src/core/wire/message-codec.js'
import { BinaryReader, BinaryWriter } from '../src/core/wire/binary.js'
import type { Message } from '../src/core/mqtt/message.js'

/** Encodes `messages` as one batch sent by `sender`. */
function encodeBatch (messages: Message[], sender = 'n9@elsewhere'): Uint8Array {
  const writer = new BinaryWriter(16)
  const batch = new MessageBatchWriter()
  batch.reset(sender)
  for (const message of messages) batch.write(writer, message)
  return writer.finish()
}

function decodeBatch (bytes: Uint8Array, count: number, sender = 'n9@elsewhere'): Array<Message | RefusedMessage> {
  const reader = new BinaryReader(bytes)
  const batch = new MessageBatchReader(sender)
  const messages = Array.from({ length: count }, () => batch.read(reader))
  reader.expectEnd()
  return messages
}

/** The body of a length-prefixed frame. */
function frameBody (frame: Uint8Array): Uint8Array {
  const reader = new BinaryReader(frame)
  const length = reader.varint()
  return frame.subarray(frame.length - length)
}

function roundTrip (message: Message, sender?: string): Message | RefusedMessage {
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
  assert.equal((roundTrip(minimal) as Message).properties, undefined)
})

test('message codec carries the shared subscriptions a node was picked for, and a message without them costs no byte more (MQTT 5 §4.8.2)', () => {
  const picked: Message = { ...minimal, qos: 1, shared: { targets: [{ group: 'g1', filter: 'a/+' }, { group: 'g2', filter: 'a/b' }], redispatched: false }, origin: 'n9@elsewhere' }
  const again: Message = { ...picked, shared: { targets: [{ group: 'g1', filter: 'a/+' }], redispatched: true } }
  const plain: Message = { ...minimal, qos: 1, origin: 'n9@elsewhere' }
  assert.deepStrictEqual(decodeBatch(encodeBatch([picked, again, plain]), 3), [picked, again, plain])
  const withoutShared = { ...picked }
  delete withoutShared.shared
  assert.equal(encodeBatch([plain]).length, encodeBatch([withoutShared]).length)
  // The second message's group and filter are refs to the first's: two bytes each target, plus the count.
  assert.equal(encodeBatch([picked, again]).length - encodeBatch([picked]).length, encodeBatch([plain, plain]).length - encodeBatch([plain]).length + 3)
})

test('message codec round-trips an empty and a 1 MiB payload', () => {
  const empty: Message = { ...minimal, payload: Buffer.alloc(0) }
  assert.deepStrictEqual(roundTrip(empty), empty)
  const big: Message = { ...minimal, payload: Buffer.alloc(1 << 20, 7) }
  assert.deepStrictEqual(roundTrip(big), big)
})

test('a truncated message (its length beyond the bytes) fails with MalformedFrameError', () => {
  const bytes = encodeBatch([minimal])
  for (const cut of [1, 3, bytes.length - 1]) {
    assert.throws(() => decodeBatch(bytes.subarray(0, cut), 1), { name: 'MalformedFrameError' })
  }
})

test('a message with unknown flag bits, QoS 3 or an invalid topic is refused alone; the next ones read', () => {
  const bytes = encodeBatch([minimal, minimal])
  bytes[2] = bytes[2]! | 0x80 // an unknown bit in the first message's flags, after its two-byte length
  const [first, second] = decodeBatch(bytes, 2)
  assert.ok(first instanceof RefusedMessage)
  assert.match(first.reason, /unknown message flags 0xa0/)
  assert.deepStrictEqual(second, minimal)

  const qos3 = { ...minimal, qos: 3 } as unknown as Message
  const refused = decodeBatch(encodeBatch([qos3, minimal, { ...minimal, topic: 'a/#' }, { ...minimal, topic: '' }, minimal]), 5)
  assert.deepStrictEqual(refused.map(m => m instanceof RefusedMessage ? m.reason : 'ok'), ['qos 3', 'ok', 'invalid topic name', 'invalid topic name', 'ok'])
  assert.equal((refused[0] as RefusedMessage).qosBits, 3)
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

test('a string reference beyond the batch table is malformed: the rest of the batch cannot be read', () => {
  const bytes = new BinaryWriter().varint(2).u8(0).varint(1).finish()
  assert.throws(() => decodeBatch(bytes, 1), { name: 'MalformedFrameError' })
})

test('lengths reserved before a message are filled in, moving the message when 2 bytes do not hold its length', () => {
  for (const size of [0, 127, 128, 16_383, 16_384, 2_097_152]) {
    const writer = new BinaryWriter(4)
    const mark = writer.reserveLength()
    writer.raw(Buffer.alloc(size, 9))
    assert.equal(writer.fillLength(mark), size)
    writer.u8(42)
    const reader = new BinaryReader(writer.finish())
    const outer = reader.limit(reader.varint())
    assert.equal(reader.remaining, size)
    reader.unlimit(outer)
    assert.equal(reader.u8(), 42)
    reader.expectEnd()
  }
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
    { bytes: encoder.messages('n1@10.0.0.1', [42, 43, 47], [minimal, second, minimal]), expected: { kind: 'messages', seqs: [42, 43, 47], messages: [minimal, second, minimal], reliable: 1 } },
    { bytes: encoder.ack(2 ** 40, 128, 1 << 20), expected: { kind: 'ack', seq: 2 ** 40, creditMessages: 128, creditBytes: 1 << 20 } },
    { bytes: encoder.ack(7), expected: { kind: 'ack', seq: 7, creditMessages: 0, creditBytes: 0 } },
    { bytes: encoder.refused([{ seq: 9, reason: 'qos 3' }, { seq: 2 ** 40, reason: '' }]), expected: { kind: 'refused', refusals: [{ seq: 9, reason: 'qos 3' }, { seq: 2 ** 40, reason: '' }] } },
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

test('a messages frame before the open frame, or with a header that cannot be read, is malformed', () => {
  const encoder = new ForwardFrameEncoder()
  const bytes = encoder.messages('n1@h', [1, 2], [minimal, minimal])
  const body = bytes.subarray(1)
  assert.throws(() => decodeForwardFrame(body), { name: 'MalformedFrameError' })
  const message = encodeBatch([minimal], 'n1@h')
  const zeroStep = new BinaryWriter().u8(2).varint(1).varint(2).varint(0).varint(0).finish()
  assert.throws(() => decodeForwardFrame(Uint8Array.of(...zeroStep, ...message, ...message), 'n1@h'), { name: 'MalformedFrameError' })
  const tooManyReliable = new BinaryWriter().u8(2).varint(1).varint(1).varint(2).finish()
  assert.throws(() => decodeForwardFrame(Uint8Array.of(...tooManyReliable, ...message), 'n1@h'), { name: 'MalformedFrameError' })
})

test('a messages frame refuses each message it cannot accept alone, and the rest of a batch it cannot read', () => {
  const encoder = new ForwardFrameEncoder()
  const qos3 = { ...minimal, qos: 3 } as unknown as Message
  const second: Message = { ...minimal, topic: 'c/d', qos: 1 }
  const frame = decodeForwardFrame(frameBody(encoder.messages('n1@h', [10, 11, 12], [minimal, qos3, second])), 'n1@h')
  assert.equal(frame.kind, 'messages')
  assert.deepStrictEqual(frame.seqs, [10, 11, 12])
  assert.equal(frame.reliable, 2, 'the sender counts QoS 3 as reliable: the credit it used')
  assert.deepStrictEqual(frame.messages[0], minimal)
  assert.ok(frame.messages[1] instanceof RefusedMessage)
  assert.deepStrictEqual(frame.messages[2], second)

  // The second message's topic ref points past the table: it and every later message are refused.
  const header = new BinaryWriter().u8(2).varint(20).varint(3).varint(0).varint(1).varint(1).finish()
  const good = encodeBatch([minimal], 'n1@h')
  const badRef = new BinaryWriter().varint(3).u8(0).varint(9).varint(1).finish()
  const broken = decodeForwardFrame(Uint8Array.of(...header, ...good, ...badRef, ...good), 'n1@h')
  if (broken.kind !== 'messages') assert.fail('a messages frame')
  assert.deepStrictEqual(broken.seqs, [20, 21, 22])
  assert.deepStrictEqual(broken.messages[0], minimal)
  assert.ok(broken.messages[1] instanceof RefusedMessage && broken.messages[2] instanceof RefusedMessage)
  assert.match(broken.messages[2].reason, /unreadable batch/)
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
    { type: 'delta', node: 'n1@h', incarnation: 3, fromSeq: 13, ops: [{ op: 'add', filter: 'y' }], changedAtMs: 1_764_550_000_123 },
    { type: 'digest', node: 'n1@h', incarnation: 3, seq: 12, checksum: '0123456789abcdef', peerId: 'p', addrs: ['/ip4/1.2.3.4/tcp/1'] },
    { type: 'snapshot-request', table: 'clients', node: 'n1@h' },
    { type: 'snapshot', table: 'clients', node: 'n1@h', incarnation: 3, seq: 2, filters: ['client-1', ''] },
    { type: 'delta', table: 'clients', node: 'n1@h', incarnation: 3, fromSeq: 3, ops: [{ op: 'remove', filter: 'client-1' }] },
    { type: 'digest', table: 'clients', node: 'n1@h', incarnation: 3, seq: 3, checksum: '0123456789abcdef', peerId: 'p', addrs: [] },
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
  const lying = new BinaryWriter().u8(4).u8(0).string('n').varint(1).varint(1).varint(2 ** 40).finish()
  assert.throws(() => decodeControl(lying), { name: 'MalformedFrameError' })
  // a delta of a replicated table no node knows
  const unknownTable = new BinaryWriter().u8(5).u8(9).string('n').varint(1).varint(1).varint(0).finish()
  assert.throws(() => decodeControl(unknownTable), { name: 'MalformedFrameError' })
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
