/**
 * Flow control and poison safety of the forward path (network/forward-credit.ts,
 * forward-receiver.ts, forward-link.ts): the receiver's pressure meters what a peer sends it, a
 * paused link stays up, and a message a peer cannot accept is refused alone.
 */
import '../src/core/polyfill.js'
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { FORWARD_PROTOCOL } from '../network/constants.js'
import { MIN_STREAM_WINDOW, ReceiveCredit, SendCredit, streamShare } from '../network/forward-credit.js'
import { ForwardFrameEncoder } from '../network/forward-frames.js'
import { encodedSizeBound } from '../src/core/wire/message-codec.js'
import { OutboundQueue } from '../network/outbound-queue.js'
import type { ClusterEvents, ClusterNetwork, ClusterNetworkInit } from '../network/cluster.js'
import { BinaryWriter } from '../src/core/wire/binary.js'
import { DeliveryBudget } from '../src/core/session/delivery-budget.js'
import type { Message, QoS } from '../src/core/mqtt/message.js'
import { collect, NET_WAIT_MS, nextEvent, numbered, RecordingLogger, startNode } from './network-helpers.js'
import { sleep, waitUntil } from './helpers/wait.js'

const A = 'a@127.0.0.1'
const B = 'b@127.0.0.1'

// ---- pure parts ------------------------------------------------------------------------------

test('receive credit tops the sender up to the window, says when a top-up is due, forgives one overdraw', () => {
  const credit = new ReceiveCredit(() => ({ messages: 4, bytes: 1000 }))
  assert.deepStrictEqual(credit.topUp(), { messages: 4, bytes: 1000 }, 'a new stream gets the whole window')
  assert.equal(credit.due, false)
  credit.use(3, 600)
  assert.equal(credit.due, true, 'the sender used more than half')
  assert.deepStrictEqual(credit.topUp(), { messages: 3, bytes: 600 })
  credit.use(0, 100)
  assert.equal(credit.due, false)
  credit.use(4, 1500)
  assert.deepStrictEqual(credit.outstanding, { messages: 0, bytes: -600 })
  assert.deepStrictEqual(credit.topUp(), { messages: 4, bytes: 1600 })
  assert.deepStrictEqual(credit.topUp(), { messages: 0, bytes: 0 })
})

test('the node window is shared by its inbound streams, down to a floor', () => {
  const node = { messages: 256, bytes: 2 << 20 }
  assert.deepStrictEqual(streamShare(node, 0), node)
  assert.deepStrictEqual(streamShare(node, 2), { messages: 128, bytes: 1 << 20 })
  assert.deepStrictEqual(streamShare(node, 1000), MIN_STREAM_WINDOW)
})

test('send credit: QoS 0 needs bytes, QoS 1/2 a message too', () => {
  const credit = new SendCredit()
  assert.equal(credit.allows(0), false, 'no credit before the first grant')
  credit.grant(1, 100)
  assert.equal(credit.allows(1), true)
  credit.spend(1, 50)
  assert.equal(credit.allows(1), false)
  assert.equal(credit.allows(0), true)
  credit.spend(0, 80)
  assert.equal(credit.allows(0), false, 'overdrawn')
})

function message (id: number, qos: QoS): Message {
  return { topic: 't', payload: Buffer.from([id]), qos, retain: false, publisher: 'c', origin: 'n1@h' }
}
const SIZE = encodedSizeBound(message(0, 0))

test('outbound queue takes within a QoS 1/2 budget, bounds messages by count, releases refused ones', () => {
  const q = new OutboundQueue(1000 * SIZE, 5)
  for (const [id, qos] of [[1, 1], [2, 0], [3, 1], [4, 2], [5, 0]] as Array<[number, QoS]>) assert.equal(q.enqueue(message(id, qos)), true)
  assert.equal(q.enqueue(message(6, 0)), false, 'the message bound')
  let seq = 0
  const nextSeq = (): number => ++seq
  const first = q.take(1000 * SIZE, 2, nextSeq)
  assert.deepStrictEqual(first.messages.map(m => m.payload[0]), [1, 2, 3], 'stops before a third QoS 1/2 message')
  assert.equal(first.reliable, 2)
  assert.equal(q.nextQos, 2)
  assert.equal(q.take(1000 * SIZE, 0, nextSeq).messages.length, 0, 'no QoS 1/2 credit: nothing')
  assert.equal(q.refuse([3, 99]), 1)
  assert.equal(q.inflightCount, 1)
  assert.equal(q.ack(3), 1)
  assert.equal(q.count, 2)
})

test('outbound queue drops the first unacknowledged message after it was first on MAX lost streams', () => {
  const q = new OutboundQueue(1000 * SIZE)
  let seq = 0
  const nextSeq = (): number => ++seq
  q.enqueue(message(1, 1))
  q.enqueue(message(2, 1))
  for (let attempt = 1; attempt < 3; attempt++) {
    q.take(1000 * SIZE, 10, nextSeq)
    assert.deepStrictEqual(q.rewind(3), { resend: 2, dropped: 0 })
  }
  q.take(1000 * SIZE, 10, nextSeq)
  assert.deepStrictEqual(q.rewind(3), { resend: 1, dropped: 1 }, 'the culprit goes; the message after it does not inherit its count')
  assert.deepStrictEqual(q.take(1000 * SIZE, 10, nextSeq).messages.map(m => m.payload[0]), [2])
  assert.deepStrictEqual(q.rewind(3), { resend: 1, dropped: 0 })
  assert.equal(q.bytes, SIZE)
})

// ---- two networks ----------------------------------------------------------------------------

interface Pair {
  a: ClusterNetwork
  b: ClusterNetwork
  budget: DeliveryBudget
  received: Message[]
  aLog: RecordingLogger
  bLog: RecordingLogger
  downs: Array<ClusterEvents['node-down']>
}

async function pair (t: TestContext, aInit: ClusterNetworkInit = {}, bInit: ClusterNetworkInit = {}): Promise<Pair> {
  const aLog = new RecordingLogger()
  const bLog = new RecordingLogger()
  const budget = new DeliveryBudget({ limitBytes: 1 << 30 })
  const a = await startNode(t, { name: A, logger: aLog, ...aInit })
  const b = await startNode(t, { name: B, logger: bLog, pressure: budget, ...bInit })
  const received: Message[] = []
  b.addEventListener('message', (event) => { received.push(...event.detail.messages) })
  await b.join(a.addresses()[0]!)
  await waitUntil(() => a.isRunning(B) && (a.stats().links[B]?.credit.bytes ?? 0) > 0, NET_WAIT_MS, 'a to see b up and get its first credit')
  const downs = [...collect(a, 'node-down'), ...collect(b, 'node-down')]
  return { a, b, budget, received, aLog, bLog, downs }
}

function indexes (messages: Message[]): number[] {
  return messages.map(m => Number(m.payload.toString()))
}

function range (start: number, count: number, qos: QoS = 1): Message[] {
  return Array.from({ length: count }, (_unused, i) => numbered(start + i, qos, A))
}

test('a pressured receiver holds its peer to the window; the link stays up past the peer timeout, routes flow, a reconnect resends nothing; all arrive on relief', async (t) => {
  const window = 50
  const { a, b, budget, received, downs } = await pair(t, {}, { forwardWindowMessages: window })
  a.forward(B, range(0, 200))
  await a.whenDelivered(B, { signal: AbortSignal.timeout(NET_WAIT_MS) })
  assert.equal(received.length, 200)

  budget.setBacklogged('slow-session', true)
  a.forward(B, range(200, 1_000))
  await sleep(2_500) // FAST_TIMERS: peer timeout 2 s
  const duringPressure = received.length - 200
  assert.ok(duringPressure <= window, `at most the window arrived under pressure (${duringPressure})`)
  assert.equal(a.isRunning(B), true, 'a paused link is not a dead one')
  assert.equal(b.isRunning(A), true)
  assert.deepStrictEqual(downs, [])
  assert.ok(a.stats().forward.creditStalls >= 1)
  assert.equal(a.stats().links[B]?.pending, 1_000 - duringPressure, 'the rest waits at the sender')

  const routed = nextEvent(b, 'routes-changed', d => d.node === A && d.added.includes('during/pause/#'))
  a.addLocalRoute('during/pause/#')
  await routed

  // A new stream under pressure starts without credit: nothing is resent into the pressured node.
  const healed = nextEvent(a, 'partition-healed', d => d.node === B)
  for (const connection of a.libp2p.getConnections()) connection.abort(new Error('test: link failure'))
  await healed
  await sleep(500)
  assert.equal(received.length - 200, duringPressure, 'no resend burst while the receiver is pressured')

  budget.setBacklogged('slow-session', false)
  await a.whenDelivered(B, { signal: AbortSignal.timeout(NET_WAIT_MS) })
  const qos1 = indexes(received)
  assert.deepStrictEqual([...new Set(qos1)].sort((x, y) => x - y), [...Array(1_200).keys()], 'none lost')
  assert.equal(qos1.length, 1_200, 'none delivered twice')
  assert.deepStrictEqual(qos1, [...Array(1_200).keys()], 'in order')
})

test('a sender queue over its message bound drops and counts overflow exactly, in stats, events and the log', async (t) => {
  const { a, budget, aLog } = await pair(t, { maxQueuedMessagesPerPeer: 100 })
  budget.setBacklogged('slow-session', true)
  await sleep(50)
  const dropped = collect(a, 'messages-dropped')
  const result = a.forward(B, range(0, 150))
  assert.deepStrictEqual(result, { queued: 100, dropped: 50 })
  assert.equal(a.stats().forward.droppedOverflow, 50)
  assert.deepStrictEqual(dropped, [{ node: B, reason: 'overflow', count: 50 }])
  assert.ok(aLog.has('forward_failed', { peer: B, overflow: 50 }))
  budget.setBacklogged('slow-session', false)
  await a.whenDelivered(B, { signal: AbortSignal.timeout(NET_WAIT_MS) })
})

test('a message the receiver cannot accept (QoS 3, an invalid topic) is refused alone: counted on both sides, the rest delivered, the link kept', async (t) => {
  const { a, b, received, aLog, bLog, downs } = await pair(t)
  const aDrops = collect(a, 'messages-dropped')
  const bDrops = collect(b, 'messages-dropped')
  const qos3 = { ...numbered(-1, 1, A), qos: 3 } as unknown as Message
  const wildcard: Message = { ...numbered(-2, 1, A), topic: 'a/#' }
  a.forward(B, [...range(0, 10), qos3, ...range(10, 10), wildcard, ...range(20, 10)])
  await a.whenDelivered(B, { signal: AbortSignal.timeout(NET_WAIT_MS) })
  assert.deepStrictEqual(indexes(received), [...Array(30).keys()])
  assert.equal(a.stats().forward.rejectedByPeer, 2)
  assert.equal(b.stats().forward.malformedFromPeer, 2)
  assert.deepStrictEqual(aDrops, [{ node: B, reason: 'rejected_by_peer', count: 2 }])
  assert.deepStrictEqual(bDrops, [{ node: A, reason: 'malformed_from_peer', count: 2 }])
  assert.ok(aLog.lines.some(line => line.msg === 'message_dropped' && line.fields.reason === 'rejected_by_peer'))
  assert.ok(bLog.lines.some(line => line.msg === 'message_dropped' && line.fields.reason === 'malformed_from_peer'))
  const counted = (log: RecordingLogger, reason: string): number => log.lines
    .filter(line => line.msg === 'message_dropped' && line.fields.reason === reason)
    .reduce((sum, line) => sum + (line.fields.count as number), 0)
  await waitUntil(() => counted(aLog, 'rejected_by_peer') === 2 && counted(bLog, 'malformed_from_peer') === 2, 3_000, 'throttled lines to carry every drop')

  a.forward(B, range(30, 100))
  await a.whenDelivered(B, { signal: AbortSignal.timeout(NET_WAIT_MS) })
  assert.equal(received.length, 130)
  assert.deepStrictEqual(downs, [])
  assert.equal(a.stats().forward.resent, 0, 'no stream was aborted')
})

test('a frame whose header cannot be read ends only its stream: what came before is acked, the link comes back and forwards', async (t) => {
  const { a, b, received, bLog } = await pair(t)
  a.forward(B, range(0, 20))
  await a.whenDelivered(B, { signal: AbortSignal.timeout(NET_WAIT_MS) })
  // A rogue stream of a's libp2p node (same identity) takes over the link and sends a broken header.
  const rogue = await a.libp2p.dialProtocol(b.libp2p.peerId, FORWARD_PROTOCOL)
  const encoder = new ForwardFrameEncoder()
  const acks: Uint8Array[] = []
  rogue.addEventListener('message', (event) => { acks.push(event.data.subarray()) })
  rogue.send(encoder.open(A, a.incarnation, B))
  rogue.send(new BinaryWriter().resetFrame().u8(2).u8(0x80).finishFrame())
  await waitUntil(() => bLog.has('forward_frame_unreadable', { peer: A }), NET_WAIT_MS, 'b to refuse the frame')
  await waitUntil(() => rogue.status !== 'open', NET_WAIT_MS, 'b to end the rogue stream')
  assert.ok(acks.length > 0, 'b acked before closing')

  a.forward(B, range(20, 20))
  await a.whenDelivered(B, { signal: AbortSignal.timeout(NET_WAIT_MS) })
  assert.deepStrictEqual(indexes(received), [...Array(40).keys()])
  assert.equal(a.isRunning(B), true)
})
