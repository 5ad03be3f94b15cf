import '../src/core/polyfill.js'
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { FORWARD_PROTOCOL } from '../network/constants.js'
import { nextEvent, numbered, RecordingLogger, startNode, NET_WAIT_MS } from './network-helpers.js'
import { waitUntil } from './helpers/wait.js'
import type { ClusterNetwork } from '../network/cluster.js'
import type { Message } from '../src/core/mqtt/message.js'

const A = 'a@127.0.0.1'
const B = 'b@127.0.0.1'

async function pair (t: TestContext): Promise<{ a: ClusterNetwork, b: ClusterNetwork, received: Message[], logger: RecordingLogger }> {
  const logger = new RecordingLogger()
  const a = await startNode(t, { name: A, logger })
  const b = await startNode(t, { name: B })
  const received: Message[] = []
  b.addEventListener('message', (event) => {
    assert.equal(event.detail.from, A)
    received.push(...event.detail.messages)
  })
  await b.join(a.addresses()[0]!)
  await waitUntil(() => a.isRunning(B), NET_WAIT_MS, 'a to see b up')
  return { a, b, received, logger }
}

function indexes (messages: Message[]): number[] {
  return messages.map(m => Number(m.payload.toString()))
}

/** Forwards `count` numbered messages from `start` in batches, yielding between batches. */
async function forwardRange (from: ClusterNetwork, start: number, count: number, qos: 0 | 1 | 2, between?: () => void): Promise<void> {
  for (let i = start; i < start + count; i += 50) {
    const batch: Message[] = []
    for (let j = i; j < Math.min(i + 50, start + count); j++) batch.push(numbered(j, qos, from.name))
    assert.deepStrictEqual(from.forward(B, batch), { queued: batch.length, dropped: 0 })
    await new Promise(resolve => setImmediate(resolve))
    between?.()
  }
}

test('forwarded messages arrive once, in order, with every field intact', async (t) => {
  const { a, received } = await pair(t)
  const message: Message = {
    topic: 'x/y',
    payload: Buffer.from('payload'),
    qos: 2,
    retain: true,
    publisher: 'p',
    origin: A,
    expiresAt: Date.now() + 60_000,
    properties: { contentType: 'text/plain', userProperties: [['k', 'v1'], ['k', 'v2']] }
  }
  a.forward(B, [message])
  await forwardRange(a, 0, 500, 1)
  await a.whenDelivered(B, { signal: AbortSignal.timeout(10_000) })
  assert.deepStrictEqual(received[0], message)
  assert.deepStrictEqual(indexes(received.slice(1)), [...Array(500).keys()])
  const stats = a.stats()
  assert.equal(stats.forward.acked, 501)
  const { connected, pending, inflight, bytes } = stats.links[B]!
  assert.deepStrictEqual({ connected, pending, inflight, bytes }, { connected: true, pending: 0, inflight: 0, bytes: 0 })
})

test('QoS 1 survives a forward stream reset mid-way: none lost, none duplicated', async (t) => {
  const { a, b, received } = await pair(t)
  let reset = false
  const resetWhileUnacked = (): void => {
    if (reset || (a.stats().links[B]?.inflight ?? 0) === 0) return
    const streams = a.libp2p.getConnections().flatMap(c => c.streams).filter(s => s.protocol === FORWARD_PROTOCOL && s.direction === 'outbound')
    assert.equal(streams.length, 1, 'one long-lived forward stream per peer')
    streams[0]!.abort(new Error('test: stream reset'))
    reset = true
  }
  await forwardRange(a, 0, 4_000, 1, resetWhileUnacked)
  assert.ok(reset, 'the stream was reset while messages were unacknowledged')
  await a.whenDelivered(B, { signal: AbortSignal.timeout(15_000) })

  assert.deepStrictEqual(indexes(received), [...Array(4_000).keys()])
  assert.ok(a.stats().forward.resent > 0, 'unacknowledged messages were resent')
  assert.equal(b.stats().forward.received, 4_000)
  assert.equal(a.isRunning(B), true, 'a stream reset is not a node failure')
})

test('QoS 1 survives a dropped connection; QoS 0 to the down node is dropped and counted', async (t) => {
  const { a, b, received, logger } = await pair(t)
  const healed = nextEvent(a, 'partition-healed', d => d.node === B)
  // QoS 0 forwarded at the moment b is marked down
  let whileDown: { queued: number, dropped: number } | undefined
  a.addEventListener('node-down', () => { whileDown ??= a.forward(B, [numbered(-1, 0, A), numbered(-2, 0, A)]) })
  await forwardRange(a, 0, 1_000, 1)
  for (const connection of a.libp2p.getConnections()) connection.abort(new Error('test: link failure'))
  await forwardRange(a, 1_000, 1_000, 1)
  await waitUntil(() => whileDown !== undefined, NET_WAIT_MS, 'a to see b down')
  assert.deepStrictEqual(whileDown, { queued: 0, dropped: 2 })
  assert.ok(a.stats().forward.droppedPeerDown >= 2)
  assert.ok(logger.has('message_dropped', { peer: B, reason: 'node_down', qos: 0 }), 'the network logs the QoS 0 it dropped for the down node')

  await healed
  assert.equal(a.isRunning(B), true)
  await a.whenDelivered(B, { signal: AbortSignal.timeout(15_000) })
  const qos1 = received.filter(m => m.qos === 1)
  assert.deepStrictEqual(indexes(qos1), [...Array(2_000).keys()])
  assert.equal(b.stats().forward.received, received.length)
  assert.ok(logger.has('node_down', { node: B }))
  assert.ok(logger.has('partition_healed', { node: B }))
})

test('forwarding to a node that is not a member drops and counts', async (t) => {
  const a = await startNode(t, { name: A })
  assert.deepStrictEqual(a.forward('ghost@127.0.0.1', [numbered(1, 1, A)]), { queued: 0, dropped: 1 })
  assert.equal(a.stats().forward.droppedUnknownNode, 1)
})

test('a link carrying only QoS 0 for longer than the peer timeout stays up: the receiver still acks now and then', async (t) => {
  const { a, received } = await pair(t)
  let downs = 0
  a.addEventListener('node-down', () => { downs++ })
  const until = Date.now() + 3_000 // FAST_TIMERS: peer timeout 2 s, heartbeat 200 ms
  let sent = 0
  while (Date.now() < until) {
    await forwardRange(a, sent, 200, 0)
    sent += 200
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  await waitUntil(() => received.length === sent, NET_WAIT_MS, 'every QoS 0 message to arrive')
  assert.deepStrictEqual(indexes(received), [...Array(sent).keys()])
  assert.equal(downs, 0, 'the sender never took the receiver for unresponsive')
  assert.equal(a.isRunning(B), true)
})
