/**
 * The pure parts of cluster-wide retained messages: the hybrid logical clock, the last-writer-wins
 * versions with bounded tombstones and their digest, the replica (store + versions) and the sync
 * codec. Replicas are merged here by hand, in every order, as the cluster merges them.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { compareStamps, HybridLogicalClock, MAX_CLOCK_DRIFT_MS, type Stamp } from '../src/core/hlc.js'
import { RetainedVersions, digestsEqual } from '../src/core/routing/retained-versions.js'
import { RetainedReplica, type RetainedEntry } from '../src/core/routing/retained-replica.js'
import type { Message } from '../src/core/mqtt/message.js'
import { decodeRetainedEntries, encodeRetainedChunk, SYNC_CHUNK_ITEMS } from '../src/cluster-sync-codec.js'

const NOW = 1_700_000_000_000
const ROOMY = { maxMessages: 1_000_000, maxBytes: 2 ** 40 }
const TOMBSTONES = { maxTombstones: 1000, tombstoneMs: 60_000 }

function retained (topic: string, payload: string, origin = 'n1@h'): Message {
  return { topic, payload: Buffer.from(payload), qos: 1, retain: true, publisher: 'p', origin }
}

/** The replica's set as topic → payload, for comparing nodes. */
function contents (replica: RetainedReplica): Record<string, string> {
  const pairs = replica.store.match('#', NOW).map((m): [string, string] => [m.topic, m.payload.toString()])
  return Object.fromEntries(pairs.sort(([a], [b]) => a.localeCompare(b)))
}

describe('hybrid logical clock', () => {
  it('never goes backwards when the wall clock does, and orders after what it observed', () => {
    let wall = NOW
    const clock = new HybridLogicalClock(() => wall)
    const a = clock.now()
    wall -= 5000
    const b = clock.now()
    assert.deepEqual(b, { wall: NOW, logical: a.logical + 1 })
    assert.equal(clock.observe({ wall: NOW + 1000, logical: 7 }), true)
    assert.deepEqual(clock.now(), { wall: NOW + 1000, logical: 8 })
  })

  it('refuses a remote timestamp far in the future or malformed, without moving', () => {
    const clock = new HybridLogicalClock(() => NOW)
    assert.equal(clock.observe({ wall: NOW + MAX_CLOCK_DRIFT_MS + 1, logical: 0 }), false)
    assert.equal(clock.observe({ wall: NOW, logical: -1 }), false)
    assert.deepEqual(clock.now(), { wall: NOW, logical: 0 })
  })

  it('breaks ties of equal timestamps by node name', () => {
    const a: Stamp = { wall: NOW, logical: 3, node: 'a@h' }
    const b: Stamp = { wall: NOW, logical: 3, node: 'b@h' }
    assert.equal(compareStamps(a, b), -1)
    assert.equal(compareStamps(b, a), 1)
    assert.equal(compareStamps({ ...a, logical: 4 }, b), 1)
  })
})

describe('retained versions', () => {
  it('keeps the newest write per topic; a tombstone beats an older message', () => {
    const versions = new RetainedVersions(TOMBSTONES)
    const old: Stamp = { wall: NOW, logical: 0, node: 'a@h' }
    const newer: Stamp = { wall: NOW + 1, logical: 0, node: 'a@h' }
    versions.setTombstone('t', newer, NOW)
    assert.equal(versions.wins('t', old), false)
    assert.equal(versions.wins('t', { ...newer, node: 'b@h' }), true)
  })

  it('drops the oldest tombstones past the count and those past their age', () => {
    const versions = new RetainedVersions({ maxTombstones: 2, tombstoneMs: 1000 })
    for (let i = 0; i < 3; i++) versions.setTombstone(`t${i}`, { wall: NOW + i, logical: 0, node: 'a@h' }, NOW)
    assert.equal(versions.tombstoneCount, 2)
    assert.equal(versions.stampOf('t0'), undefined)
    versions.prune(NOW + 1003)
    assert.equal(versions.tombstoneCount, 0)
  })

  it('has a digest that depends on the set only, not on the order of the writes', () => {
    const stamps = Array.from({ length: 50 }, (_, i): [string, Stamp] => [`t/${i}`, { wall: NOW + i, logical: i % 3, node: `n${i % 4}@h` }])
    const a = new RetainedVersions(TOMBSTONES)
    const b = new RetainedVersions(TOMBSTONES)
    for (const [topic, stamp] of stamps) a.setLive(topic, stamp)
    for (const [topic, stamp] of [...stamps].reverse()) b.setLive(topic, stamp)
    assert.ok(digestsEqual(a.digest(), b.digest()))
    b.setLive('t/0', { wall: NOW + 99, logical: 0, node: 'n0@h' })
    assert.ok(!digestsEqual(a.digest(), b.digest()))
    b.setLive('t/0', stamps[0]![1])
    assert.ok(digestsEqual(a.digest(), b.digest()))
  })
})

describe('retained replica', () => {
  it('converges to the same set whatever order the entries of three nodes are merged in', () => {
    let wall = NOW
    const names = ['n1@h', 'n2@h', 'n3@h']
    const replicas = names.map(name => new RetainedReplica(name, ROOMY, TOMBSTONES, () => wall))
    const written: RetainedEntry[] = []
    // Concurrent writes (no node saw the others'): same topics, interleaved times, a clear, a tie.
    for (let round = 0; round < 5; round++) {
      for (const [i, replica] of replicas.entries()) {
        wall = NOW + round * 10 + (i === 2 ? 0 : i)
        const payload = round === 3 && i === 1 ? '' : `r${round} from ${names[i]!}`
        const { entry } = replica.writeLocal(retained(`t/${(round + i) % 4}`, payload, names[i]), wall, true)
        if (entry !== undefined) written.push(entry)
      }
    }
    const orders = [written, [...written].reverse(), [...written].sort((a, b) => a.topic.localeCompare(b.topic))]
    for (const [i, replica] of replicas.entries()) {
      for (const entry of orders[i]!) replica.applyRemote(entry, wall)
    }
    const [first, ...rest] = replicas.map(contents)
    for (const other of rest) assert.deepEqual(other, first)
    assert.ok(rest.every((_c, i) => digestsEqual(replicas[i + 1]!.digest(wall), replicas[0]!.digest(wall))))
  })

  it('does not replicate the node\'s own $SYS topics nor take them from a peer', () => {
    const replica = new RetainedReplica('n1@h', ROOMY, TOMBSTONES, () => NOW)
    assert.equal(replica.writeLocal(retained('$SYS/brokers/n1@h/uptime', '5'), NOW, false).entry, undefined)
    assert.equal(replica.applyRemote({ topic: '$SYS/brokers/n2@h/uptime', stamp: { wall: NOW, logical: 0, node: 'n2@h' }, message: retained('$SYS/brokers/n2@h/uptime', '1') }, NOW), 'bad_topic')
  })

  it('refuses a replicated write at the store\'s bound, and drops only the replicated set for a join', () => {
    const replica = new RetainedReplica('n1@h', { maxMessages: 1, maxBytes: 2 ** 40 }, TOMBSTONES, () => NOW)
    replica.writeLocal(retained('$SYS/x', 'own'), NOW, false)
    assert.equal(replica.applyRemote({ topic: 'a', stamp: { wall: NOW, logical: 0, node: 'n2@h' }, message: retained('a', '1') }, NOW), 'applied')
    assert.equal(replica.applyRemote({ topic: 'b', stamp: { wall: NOW, logical: 0, node: 'n2@h' }, message: retained('b', '1') }, NOW), 'full')
    assert.equal(replica.clearReplicated(NOW), 1)
    assert.deepEqual(Object.keys(contents(replica)), [])
    assert.equal(replica.store.get('$SYS/x')?.payload.toString(), 'own')
  })
})

describe('retained sync codec', () => {
  it('round-trips messages and tombstones in bounded chunks', () => {
    const entries: RetainedEntry[] = Array.from({ length: SYNC_CHUNK_ITEMS + 10 }, (_, i) => i % 5 === 0
      ? { topic: `t/${i}`, stamp: { wall: NOW + i, logical: i, node: 'n2@h' } }
      : { topic: `t/${i}`, stamp: { wall: NOW + i, logical: 0, node: 'n2@h' }, message: retained(`t/${i}`, `p${i}`, i % 2 === 0 ? 'n2@h' : 'n3@h') })
    const decoded: RetainedEntry[] = []
    for (let from = 0; from < entries.length;) {
      const { bytes, next } = encodeRetainedChunk(entries, from, 'n2@h')
      assert.ok(next > from && next - from <= SYNC_CHUNK_ITEMS)
      decoded.push(...decodeRetainedEntries(bytes, 'n2@h', () => { assert.fail('refused') }))
      from = next
    }
    assert.deepEqual(decoded, entries)
  })
})
