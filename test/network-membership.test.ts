import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Backoff } from '../network/backoff.js'
import type { ControlMessage } from '../network/control-codec.js'
import { refusalOf } from '../network/control-trust.js'
import { MAX_INCARNATION_AHEAD_MS } from '../network/incarnation.js'
import { MAX_RETIRED_PINS, MemberTable, type MemberInfo } from '../network/member-table.js'
import { encodedSizeBound } from '../src/core/wire/message-codec.js'
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
  assert.deepStrictEqual(m.up(info('n2@h', 200), 5_000), { kind: 'restarted', previousIncarnation: 100 })
  assert.equal(m.nameOfPeer('peer-n2@h'), 'n2@h')
})

test('membership refuses its own name, an older incarnation and a second live peer under one name', () => {
  const m = new MemberTable('n1@h')
  assert.equal(m.up(info('n1@h'), 0).kind, 'rejected')
  m.up(info('n2@h', 200), 0)
  assert.deepStrictEqual(m.check(info('n2@h', 100), 0), { kind: 'rejected', reason: 'stale-incarnation', detail: 'n2@h runs incarnation 200, not 100' })
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

test('issue 8 pins: a name stays bound to the peer id of its first hello, up, down, left or cleaned, until a force-leave', () => {
  const m = new MemberTable('n1@h')
  assert.deepStrictEqual(m.up(info('n2@h', 100), 0), { kind: 'joined' })
  const takeover = (now: number): string | undefined => {
    const outcome = m.up(info('n2@h', now, 'impostor'), now)
    return outcome.kind === 'rejected' ? outcome.reason : outcome.kind
  }
  assert.equal(takeover(1_000), 'name-conflict', 'a higher incarnation from another peer id does not take the name')
  m.down('n2@h', 2_000)
  assert.equal(takeover(3_000), 'name-conflict', 'nor while the node is down')
  assert.equal(m.nameOfPeer('impostor'), undefined)
  m.remove('n2@h', undefined)
  assert.equal(takeover(4_000), 'name-conflict', 'nor once it was cleaned (or left): the pin outlives the membership')
  assert.deepStrictEqual(m.up(info('n2@h', 5_000), 5_000), { kind: 'joined' }, 'the node itself comes back')
  m.remove('n2@h', { incarnation: 5_000 }, true)
  assert.deepStrictEqual(m.up(info('n2@h', 6_000, 'new-key'), 6_000), { kind: 'joined' }, 'after a force-leave the name may come back under a new key')
  assert.equal(m.nameOfPeer('new-key'), 'n2@h')
})

test('issue 8 pins: a pinned peer id cannot take a second name, and hearsay never moves a pin', () => {
  const m = new MemberTable('n1@h')
  m.up(info('n2@h', 100), 0)
  const second = m.up(info('n9@h', 100, 'peer-n2@h'), 0)
  assert.equal(second.kind === 'rejected' && second.reason, 'name-conflict')
  m.down('n2@h', 10)
  assert.equal(m.learn(info('n2@h', 200, 'impostor'), 20), false)
  assert.equal(m.get('n2@h')?.peerId, 'peer-n2@h', 'a member list naming another peer id for a pinned name is ignored')
  assert.equal(m.learn(info('n7@h', 200, 'peer-n2@h'), 20), false, 'nor one giving a pinned peer id another name')
  assert.equal(m.get('n7@h'), undefined)
  m.learn(info('n2@h', 9_000), 20)
  assert.equal(m.get('n2@h')?.incarnation, 100, 'hearsay never raises a met member\'s incarnation')
  assert.deepStrictEqual(m.up(info('n2@h', 150), 30), { kind: 'restarted', previousIncarnation: 100 })
  const stranger = { ...info('n5@h'), addrs: ['/ip4/10.0.0.9/tcp/1/p2p/someone-else', '/ip4/10.0.0.5/tcp/1/p2p/peer-n5@h'] }
  m.learn(stranger, 40)
  assert.deepStrictEqual(m.get('n5@h')?.addrs, ['/ip4/10.0.0.5/tcp/1/p2p/peer-n5@h'], 'only addresses that name the peer id are kept')
})

test('issue 8 incarnations: one far ahead of the clock is refused in a hello and in hearsay', () => {
  const m = new MemberTable('n1@h')
  const now = 1_000_000
  const ahead = m.up(info('n2@h', now + MAX_INCARNATION_AHEAD_MS + 1), now)
  assert.equal(ahead.kind === 'rejected' && ahead.reason, 'future-incarnation')
  assert.equal(m.learn(info('n3@h', Number.MAX_SAFE_INTEGER), now), false)
  assert.deepStrictEqual(m.up(info('n2@h', now + MAX_INCARNATION_AHEAD_MS), now), { kind: 'joined' }, 'within the bound (clock skew) is accepted')
})

test('issue 8 pins: pins of names no longer members are bounded, the oldest dropped first', () => {
  const m = new MemberTable('n1@h')
  for (let i = 0; i <= MAX_RETIRED_PINS; i++) {
    m.up(info(`x${i}@h`, 100), 0)
    m.remove(`x${i}@h`, undefined)
  }
  assert.equal(m.pinOf('x0@h'), undefined, 'the oldest retired pin went')
  assert.equal(m.pinOf('x1@h')?.peerId, 'peer-x1@h')
  assert.equal(m.pinOf(`x${MAX_RETIRED_PINS}@h`)?.peerId, `peer-x${MAX_RETIRED_PINS}@h`)
})

test('issue 8 trust: a control message is accepted only from its author and with a plausible incarnation', () => {
  const now = 1_000_000
  const delta: ControlMessage = { type: 'delta', node: 'n2@h', incarnation: now, fromSeq: 1, ops: [{ op: 'add', filter: 'a' }] }
  assert.equal(refusalOf(delta, 'n2@h', now), undefined)
  assert.equal(refusalOf(delta, 'n3@h', now), 'not_author')
  assert.equal(refusalOf(delta, undefined, now), 'unknown_sender')
  assert.equal(refusalOf({ ...delta, incarnation: Number.MAX_SAFE_INTEGER }, 'n2@h', now), 'future_incarnation')
  assert.equal(refusalOf({ type: 'leave', node: 'n2@h', incarnation: now }, 'n3@h', now), 'not_author')
  const forced: ControlMessage = { type: 'force-leave', node: 'n2@h', incarnation: now, by: 'n3@h' }
  assert.equal(refusalOf(forced, 'n3@h', now), undefined, 'a force-leave comes from the member that asks it (an operator action)')
  assert.equal(refusalOf(forced, 'n4@h', now), 'not_author', 'not from one that claims another asked')
  assert.equal(refusalOf({ type: 'digest', node: 'n2@h', incarnation: now, seq: 0, checksum: '', peerId: 'p', addrs: [] }, 'n3@h', now), 'not_author')
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
