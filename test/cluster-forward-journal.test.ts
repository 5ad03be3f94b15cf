/**
 * The forward journal (network/forward-journal.ts, src/cluster-forward-journal.ts): QoS 1/2
 * messages queued for a peer are records in the store until the peer acks them or they are
 * dropped (and counted); a node that stops keeps them, and the next start queues them again, in
 * order per peer. In-memory store, group commit mode `none`, the real network on loopback.
 */
import '../src/core/polyfill.js'
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { createClusterNetwork, type ClusterNetwork, type ClusterNetworkInit } from '../network/cluster.js'
import { OutboundQueue } from '../network/outbound-queue.js'
import { ClusterForwardJournal, type RestoredForward } from '../src/cluster-forward-journal.js'
import type { Message } from '../src/core/mqtt/message.js'
import { GroupCommit } from '../src/store/group-commit.js'
import { MemoryStore } from '../src/store/memory-store.js'
import { decodeForwarded, FORWARD_PREFIX, parseSequencedKey } from '../src/store/records.js'
import { FAST_TIMERS, NET_WAIT_MS, numbered, tempDir } from './network-helpers.js'
import { waitUntil } from './helpers/wait.js'

const A = 'a@127.0.0.1'
const B = 'b@127.0.0.1'
const GHOST = 'ghost@127.0.0.1'
const silent = pino({ level: 'silent' })

interface Persisted {
  store: MemoryStore
  commit: GroupCommit
  journal: ClusterForwardJournal
}

/** The journal over `store`, its numbering after `lastSeq` (the highest found, as store-contents.ts reads it). */
async function persisted (store = new MemoryStore(), lastSeq = 0): Promise<Persisted> {
  await store.open()
  const commit = new GroupCommit({ store, mode: 'none', batchMs: 1, commitBytes: 1 << 20, retryMs: 50, log: silent })
  let seq = lastSeq
  return { store, commit, journal: new ClusterForwardJournal(commit, () => ++seq, silent) }
}

/** The `f/` records as the broker reads them back at start (store-contents.ts). */
async function readForwards (store: MemoryStore): Promise<RestoredForward[]> {
  const forwards: RestoredForward[] = []
  for await (const [key, value] of store.entries(FORWARD_PREFIX)) {
    const { owner, seq } = parseSequencedKey(key)
    forwards.push({ peer: owner, seq, message: decodeForwarded(value) })
  }
  return forwards.sort((a, b) => a.seq - b.seq)
}

/** The `f/` records of the store, committed first: [peer, seq, payload]. */
async function records (p: Persisted): Promise<Array<[string, number, string]>> {
  await p.commit.flush()
  const found: Array<[string, number, string]> = []
  for await (const [key, value] of p.store.entries(FORWARD_PREFIX)) {
    const { owner, seq } = parseSequencedKey(key)
    found.push([owner, seq, decodeForwarded(value).payload.toString()])
  }
  return found
}

/** A network node on loopback, not started; stopped when the test ends. */
function node (t: TestContext, init: ClusterNetworkInit): ClusterNetwork {
  const net = createClusterNetwork({ listenHost: '127.0.0.1', port: 0, discovery: 'manual', secret: 'test-secret', ...FAST_TIMERS, ...init })
  t.after(async () => { await net.stop() })
  return net
}

function received (net: ClusterNetwork): Message[] {
  const messages: Message[] = []
  net.addEventListener('message', (event) => { messages.push(...event.detail.messages) })
  return messages
}

function batch (from: number, count: number, qos: 0 | 1 | 2): Message[] {
  return Array.from({ length: count }, (_, i) => numbered(from + i, qos, A))
}

test('the queue tells the journal of every kept message that leaves it: acked, refused, undeliverable, cleared; not when the node stops', () => {
  const released: number[] = []
  const q = new OutboundQueue(1 << 20, Number.POSITIVE_INFINITY, (id) => { released.push(id) })
  for (let i = 1; i <= 6; i++) q.enqueue(numbered(i, 1, A), undefined, i)
  q.enqueue(numbered(7, 0, A))
  let seq = 0
  const taken = q.take(1 << 20, 10, () => ++seq)
  assert.deepStrictEqual(taken.seqs, [1, 2, 3, 4, 5, 6, 7])
  q.ack(2)
  assert.deepStrictEqual(released, [1, 2])
  q.refuse([4])
  assert.deepStrictEqual(released, [1, 2, 4])
  assert.deepStrictEqual(q.rewind(1), { resend: 2, dropped: 1 }, 'the head unacked on its only allowed stream is dropped')
  assert.deepStrictEqual(released, [1, 2, 4, 3])
  assert.equal(q.clear(true), 2, 'a stopping node drops the messages from memory')
  assert.deepStrictEqual(released, [1, 2, 4, 3], 'and keeps their records for the next start')
  q.enqueue(numbered(8, 2, A), undefined, 8)
  q.enqueue(numbered(9, 0, A))
  assert.equal(q.clear(), 2)
  assert.deepStrictEqual(released, [1, 2, 4, 3, 8], 'a QoS 0 message has no record')
})

test('restore gives each peer its messages in the order they were queued', async () => {
  const { journal } = await persisted()
  const C = 'c@127.0.0.1'
  const given: Array<[string, number[]]> = []
  const forwards: RestoredForward[] = [[B, 7], [C, 3], [B, 2], [C, 9], [B, 12]].map(([peer, seq]) => ({ peer: peer as string, seq: seq as number, message: numbered(seq as number, 1, A) }))
  const peers = journal.restore(forwards, { restoreForwarded: (peer, entries) => { given.push([peer, entries.map(entry => entry.id)]) } })
  assert.equal(peers, 2)
  assert.deepStrictEqual(given, [[B, [2, 7, 12]], [C, [3, 9]]])
})

test('QoS 1/2 forwarded to a peer are recorded as queued and deleted as the peer acks them; QoS 0 never', async (t) => {
  const p = await persisted()
  const a = node(t, { name: A, journal: p.journal })
  const b = node(t, { name: B })
  const got = received(b)
  await a.start()
  await b.start()
  await b.join(a.addresses()[0]!)
  await waitUntil(() => a.isRunning(B), NET_WAIT_MS, 'a to see b up')

  const writesBefore = p.commit.appended
  for (let i = 0; i < 600; i += 60) {
    assert.deepStrictEqual(a.forward(B, [...batch(i, 20, 1), ...batch(i + 20, 20, 0), ...batch(i + 40, 20, 2)]), { queued: 60, dropped: 0 })
    // Appended in the call, before anything could be acked: the publisher's ack would cover it.
    assert.equal(p.commit.appended - writesBefore >= (i / 60 + 1) * 40, true)
    await new Promise(resolve => setImmediate(resolve))
  }
  await a.whenDelivered(B, { signal: AbortSignal.timeout(15_000) })
  assert.equal(got.length, 600)
  assert.deepStrictEqual(await records(p), [], 'every record is deleted once acked')
  assert.equal(p.commit.appended - writesBefore, 2 * 400, 'one put and one delete per QoS 1/2 message, nothing for QoS 0')
})

test('messages queued for a peer that is removed are dropped, counted as removed, and their records deleted', async (t) => {
  const p = await persisted()
  const a = node(t, { name: A, journal: p.journal })
  const b = node(t, { name: B })
  await a.start()
  await b.start()
  await b.join(a.addresses()[0]!)
  await waitUntil(() => a.isRunning(B), NET_WAIT_MS, 'a to see b up')
  await b.stop()
  await waitUntil(() => !a.isRunning(B), NET_WAIT_MS, 'a to see b down')
  const dropped: number[] = []
  a.addEventListener('messages-dropped', (e) => { if (e.detail.reason === 'removed') dropped.push(e.detail.count) })

  assert.deepStrictEqual(a.forward(B, [...batch(0, 50, 1), ...batch(50, 5, 0)]), { queued: 50, dropped: 5 })
  assert.equal((await records(p)).length, 50, 'kept while the peer is down')
  await a.forceLeave(B)
  assert.deepStrictEqual(dropped, [50])
  assert.equal(a.stats().forward.droppedRemoved, 50)
  assert.deepStrictEqual(await records(p), [], 'a dropped message leaves no record')
})

test('a node that stops keeps the records; the next start queues them again, in order per peer, and resends them to the peer', async (t) => {
  const store = new MemoryStore()
  const dataA = await tempDir(t)
  const dataB = await tempDir(t)
  const p1 = await persisted(store)
  const a1 = node(t, { name: A, dataDir: dataA, journal: p1.journal })
  const b1 = node(t, { name: B, dataDir: dataB })
  await a1.start()
  await b1.start()
  await b1.join(a1.addresses()[0]!)
  await waitUntil(() => a1.isRunning(B), NET_WAIT_MS, 'a to see b up')
  await b1.stop()
  await waitUntil(() => !a1.isRunning(B), NET_WAIT_MS, 'a to see b down')
  for (let i = 0; i < 300; i += 30) a1.forward(B, batch(i, 30, i % 60 === 0 ? 1 : 2))
  await a1.stop()
  const kept = await records(p1)
  assert.equal(kept.length, 300, 'what was queued at the stop is still recorded')
  await p1.commit.close()

  // The next run: the same store, a new incarnation, and the peer back.
  const forwards = await readForwards(store)
  const p2 = await persisted(store, Math.max(...forwards.map(f => f.seq)))
  const a2 = node(t, { name: A, dataDir: dataA, journal: p2.journal })
  assert.equal(p2.journal.restore(forwards, a2), 1)
  assert.equal(a2.stats().links[B]?.pending, 300, 'queued again before the network starts')
  const b2 = node(t, { name: B, dataDir: dataB })
  const got = received(b2)
  await a2.start()
  await b2.start()
  // Alone after its restart, the node joins the peer: the restored messages stay queued through the join.
  await a2.join(b2.addresses()[0]!)
  await waitUntil(() => a2.isRunning(B), NET_WAIT_MS, 'a to see b up again')
  await a2.whenDelivered(B, { signal: AbortSignal.timeout(15_000) })
  assert.deepStrictEqual(got.map(m => Number(m.payload.toString())), [...Array(300).keys()], 'resent once, in the order they were queued')
  assert.deepStrictEqual(got.map(m => m.qos), [...Array(300).keys()].map(i => Math.floor(i / 30) % 2 === 0 ? 1 : 2))
  assert.deepStrictEqual(await records(p2), [])
})

test('messages restored for a node that does not come back as a member are dropped as removed after autocleanMs', async (t) => {
  const store = new MemoryStore()
  const p1 = await persisted(store)
  for (let i = 0; i < 10; i++) p1.journal.kept(GHOST, numbered(i, 1, A))
  await p1.commit.close()
  const p2 = await persisted(store, 10)
  const a = node(t, { name: A, journal: p2.journal, autocleanMs: 1_000 })
  p2.journal.restore(await readForwards(store), a)
  const dropped: number[] = []
  a.addEventListener('messages-dropped', (e) => { if (e.detail.reason === 'removed' && e.detail.node === GHOST) dropped.push(e.detail.count) })
  await a.start()
  await waitUntil(() => dropped.length > 0, 5_000, 'the ghost link to be removed')
  assert.deepStrictEqual(dropped, [10])
  assert.deepStrictEqual(await records(p2), [])
})

test('the receiver acks only once the node settled (with persistence: committed), and keeps the link up meanwhile', async (t) => {
  let hold = false
  const held: Array<() => void> = []
  const a = node(t, { name: A })
  const b = node(t, {
    name: B,
    settle: (done) => {
      if (hold) held.push(done)
      else setImmediate(done)
    }
  })
  const got = received(b)
  let downs = 0
  a.addEventListener('node-down', () => { downs++ })
  await a.start()
  await b.start()
  await b.join(a.addresses()[0]!)
  await waitUntil(() => (a.stats().links[B]?.credit.messages ?? 0) > 0, NET_WAIT_MS, 'b to grant a credit')

  hold = true
  a.forward(B, batch(0, 100, 1))
  await waitUntil(() => got.length === 100, NET_WAIT_MS, 'b to take the messages in')
  // Longer than the peer timeout (FAST_TIMERS: 2 s): the receiver's keepalive acks hold the link.
  await new Promise(resolve => setTimeout(resolve, 3_000))
  assert.equal(a.stats().links[B]?.inflight, 100, 'nothing is acked before the settle covering it is done')
  assert.equal(downs, 0, 'a slow settle does not make the receiver look dead')
  assert.equal(a.isRunning(B), true)

  hold = false
  for (const done of held.splice(0)) done()
  await a.whenDelivered(B, { signal: AbortSignal.timeout(10_000) })
  assert.equal(a.stats().forward.acked, 100)
  assert.equal(b.stats().forward.duplicates, 0)
})
