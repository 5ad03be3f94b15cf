import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Backoff } from '../network/backoff.js'
import { MemberTable, type MemberInfo } from '../network/member-table.js'
import { encodedSizeBound } from '../network/message-codec.js'
import { OutboundQueue } from '../network/outbound-queue.js'
import type { Message, QoS } from '../src/core/mqtt/message.js'

function info (name: string, incarnation = 100, peerId = `peer-${name}`): MemberInfo {
  return { name, peerId, incarnation, addrs: [`/ip4/127.0.0.1/tcp/1/p2p/${peerId}`] }
}

test('membership: first hello is a join, a repeat changes nothing, status lists running and stopped', () => {
  const m = new MemberTable('n1@h')
  assert.deepStrictEqual(m.up(info('n2@h'), 0), { kind: 'joined' })
  assert.deepStrictEqual(m.up(info('n2@h'), 5), { kind: 'unchanged' })
  m.up(info('n3@h'), 0)
  m.down('n3@h', 10)
  assert.deepStrictEqual(m.running(), ['n2@h'])
  assert.deepStrictEqual(m.stopped(), ['n3@h'])
  assert.equal(m.nameOfPeer('peer-n2@h'), 'n2@h')
})

test('membership: back with the same incarnation is a healed partition, a new one a restart', () => {
  const m = new MemberTable('n1@h')
  m.up(info('n2@h', 100), 0)
  assert.equal(m.down('n2@h', 1_000), true)
  assert.equal(m.down('n2@h', 1_500), false, 'already down')
  assert.deepStrictEqual(m.up(info('n2@h', 100), 4_000), { kind: 'healed', downForMs: 3_000 })
  assert.deepStrictEqual(m.up(info('n2@h', 200, 'new-peer'), 5_000), { kind: 'restarted', previousIncarnation: 100 })
  assert.equal(m.nameOfPeer('new-peer'), 'n2@h')
  assert.equal(m.nameOfPeer('peer-n2@h'), undefined)
})

test('membership refuses its own name, an older incarnation and a second live peer under one name', () => {
  const m = new MemberTable('n1@h')
  assert.equal(m.up(info('n1@h'), 0).kind, 'rejected')
  m.up(info('n2@h', 200), 0)
  assert.deepStrictEqual(m.check(info('n2@h', 100)), { kind: 'rejected', reason: 'stale-incarnation', detail: 'n2@h runs incarnation 200, not 100' })
  const conflict = m.up(info('n2@h', 200, 'impostor'), 0)
  assert.equal(conflict.kind === 'rejected' && conflict.reason, 'name-conflict')
})

test('membership tombstones refuse a left node until it comes back with a new incarnation', () => {
  const m = new MemberTable('n1@h')
  m.up(info('n2@h', 100), 0)
  assert.equal(m.remove('n2@h', { incarnation: 100 })?.name, 'n2@h')
  const refused = m.up(info('n2@h', 100), 1)
  assert.equal(refused.kind === 'rejected' && refused.reason, 'removed')
  assert.equal(m.learn(info('n2@h', 100), 1), false)
  assert.deepStrictEqual(m.up(info('n2@h', 101), 2), { kind: 'joined' })
  assert.deepStrictEqual(m.tombstones(), [{ name: 'n2@h', incarnation: 100 }])
})

test('membership learns members it has not met as stopped, and autoclean finds those down too long', () => {
  const m = new MemberTable('n1@h')
  assert.equal(m.learn(info('n3@h'), 0), true)
  assert.equal(m.learn(info('n3@h'), 0), false)
  assert.equal(m.learn(info('n1@h'), 0), false, 'never itself')
  assert.deepStrictEqual(m.stopped(), ['n3@h'])
  assert.deepStrictEqual(m.up(info('n3@h'), 10), { kind: 'joined' }, 'a member only heard of joins on first contact')
  m.down('n3@h', 100)
  assert.deepStrictEqual(m.expired(1_099, 1_000), [])
  assert.deepStrictEqual(m.expired(1_100, 1_000), ['n3@h'])
  assert.equal(m.remove('n3@h', undefined)?.name, 'n3@h')
  assert.deepStrictEqual(m.tombstones(), [], 'autoclean leaves no tombstone')
})

test('backoff grows by the factor up to the maximum and resets', () => {
  const backoff = new Backoff({ minMs: 100, maxMs: 1_000, jitter: 0 })
  assert.deepStrictEqual([1, 2, 3, 4, 5].map(() => backoff.next()), [100, 200, 400, 800, 1_000])
  backoff.reset()
  assert.equal(backoff.next(), 100)
  const jittered = new Backoff({ minMs: 100, maxMs: 1_000, jitter: 0.5, random: () => 0 })
  assert.equal(jittered.next(), 50)
})

function message (id: number, qos: QoS): Message {
  return { topic: 't', payload: Buffer.from([id]), qos, retain: false, publisher: 'c', origin: 'n1@h' }
}

/** Every test message has the same size bound. */
const SIZE = encodedSizeBound(message(0, 0))

function ids (messages: Message[]): number[] {
  return messages.map(m => m.payload[0]!)
}

test('outbound queue numbers messages when first written, keeps QoS 1/2 until acked and resends them first after a lost stream', () => {
  const q = new OutboundQueue(100 * SIZE)
  let seq = 100
  const nextSeq = (): number => ++seq
  for (const [id, qos] of [[1, 1], [2, 0], [3, 2], [4, 1]] as Array<[number, QoS]>) q.enqueue(message(id, qos))
  const first = q.take(2 * SIZE, Infinity, nextSeq)
  assert.deepStrictEqual(ids(first.messages), [1, 2], 'bounded by bytes')
  assert.deepStrictEqual(first.seqs, [101, 102])
  const second = q.take(100 * SIZE, Infinity, nextSeq)
  assert.deepStrictEqual(second.seqs, [103, 104])
  assert.equal(q.inflightCount, 3, 'QoS 0 is not kept once written')
  assert.equal(q.ack(101), 1)
  q.enqueue(message(5, 0))
  assert.deepStrictEqual(q.rewind(5), { resend: 2, dropped: 0 })
  const resent = q.take(100 * SIZE, Infinity, nextSeq)
  assert.deepStrictEqual(ids(resent.messages), [3, 4, 5], 'resends in order, before new messages')
  assert.deepStrictEqual(resent.seqs, [103, 104, 105], 'a resend keeps its number')
  assert.equal(q.ack(105), 2)
  assert.equal(q.bytes, 0)
})

test('outbound queue drops pending QoS 0 when the peer goes down and refuses beyond its byte bound', () => {
  const q = new OutboundQueue(3 * SIZE + 1)
  assert.equal(q.enqueue(message(1, 0)), true)
  assert.equal(q.enqueue(message(2, 1)), true)
  assert.equal(q.enqueue(message(3, 0)), true)
  assert.equal(q.enqueue(message(4, 1)), false, 'over the bound')
  assert.equal(q.dropQos0(), 2)
  assert.deepStrictEqual(ids(q.take(100 * SIZE, Infinity, () => 1).messages), [2])
  assert.equal(q.bytes, SIZE)
  assert.equal(q.clear(), 1)
  assert.equal(q.bytes, 0)
})
