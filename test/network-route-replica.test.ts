import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FilterSetChecksum } from '../network/filter-checksum.js'
import { LocalRoutes } from '../network/local-routes.js'
import { RouteReplicas } from '../network/route-replica.js'
import type { RouteDelta } from '../network/route-messages.js'

const N = 'n2@h'

function delta (fromSeq: number, ops: Array<[ '+' | '-', string ]>, incarnation = 100): RouteDelta {
  return { node: N, incarnation, fromSeq, ops: ops.map(([op, filter]) => ({ op: op === '+' ? 'add' : 'remove', filter })) }
}

/** A replica already synced to `filters` at `seq`. */
function synced (filters: string[], seq: number, incarnation = 100): RouteReplicas {
  const replicas = new RouteReplicas()
  replicas.nodeUp(N, incarnation)
  replicas.applySnapshot({ node: N, incarnation, seq, filters })
  return replicas
}

test('local routes number every change and announce them once, in order', () => {
  const local = new LocalRoutes('n1@h', 7)
  assert.equal(local.add('a/#'), true)
  assert.equal(local.add('a/#'), false, 'a second add of the same filter is not a change')
  assert.equal(local.add('b'), true)
  assert.equal(local.remove('a/#'), true)
  assert.equal(local.remove('zzz'), false)
  assert.deepStrictEqual(local.takeDeltas(), [{
    node: 'n1@h',
    incarnation: 7,
    fromSeq: 1,
    ops: [{ op: 'add', filter: 'a/#' }, { op: 'add', filter: 'b' }, { op: 'remove', filter: 'a/#' }]
  }])
  assert.deepStrictEqual(local.takeDeltas(), [])
  local.add('c')
  assert.deepStrictEqual(local.takeDeltas().map(d => d.fromSeq), [4])
  assert.deepStrictEqual(local.snapshot(), { node: 'n1@h', incarnation: 7, seq: 4, filters: ['b', 'c'] })
})

test('large local batches are split into consecutive deltas', () => {
  const local = new LocalRoutes('n1@h', 1)
  for (let i = 0; i < 100; i++) local.add(`topic/${i}/#`)
  const deltas = local.takeDeltas(200)
  assert.ok(deltas.length > 1)
  let next = 1
  for (const d of deltas) {
    assert.equal(d.fromSeq, next)
    next += d.ops.length
  }
  assert.equal(next, 101)
})

test('a new local incarnation restarts numbering and keeps the routes', () => {
  const local = new LocalRoutes('n1@h', 1)
  local.add('a')
  local.renew(2)
  assert.equal(local.hasPendingDelta(), false)
  assert.deepStrictEqual(local.snapshot(), { node: 'n1@h', incarnation: 2, seq: 0, filters: ['a'] })
  local.add('b')
  assert.deepStrictEqual(local.takeDeltas()[0]?.fromSeq, 1)
})

test('the filter checksum ignores order and follows adds and removes', () => {
  const a = FilterSetChecksum.of(['x', 'y', 'z'])
  const b = FilterSetChecksum.of(['z', 'x', 'y'])
  assert.equal(a.value, b.value)
  b.toggle('w')
  assert.notEqual(a.value, b.value)
  b.toggle('w')
  assert.equal(a.value, b.value)
  assert.equal(new FilterSetChecksum().value, '0000000000000000')
})

test('filter checksums spread: 100k similar filters, and filters differing by one character or by order, all differ', () => {
  const seen = new Set<string>()
  for (let i = 0; i < 100_000; i++) seen.add(FilterSetChecksum.of([`sync/${i}`]).value)
  for (const filter of ['a/b', 'b/a', 'a/c', 'a/b/', 'a//b', '+/#', 'ä/b']) seen.add(FilterSetChecksum.of([filter]).value)
  assert.equal(seen.size, 100_007)
})

test('a new peer is synced by snapshot, then in-order deltas become route events', () => {
  const replicas = new RouteReplicas()
  assert.deepStrictEqual(replicas.nodeUp(N, 100), { events: [], snapshotNeeded: true })
  assert.deepStrictEqual(replicas.applySnapshot({ node: N, incarnation: 100, seq: 2, filters: ['a', 'b'] }), {
    events: [{ type: 'routes-replaced', node: N, filters: ['a', 'b'] }],
    snapshotNeeded: false
  })
  assert.deepStrictEqual(replicas.applyDelta(delta(3, [['+', 'c'], ['-', 'a']])), {
    events: [{ type: 'routes-changed', node: N, added: ['c'], removed: ['a'] }],
    snapshotNeeded: false
  })
  assert.deepStrictEqual([...replicas.routesOf(N) ?? []].sort(), ['b', 'c'])
  assert.equal(replicas.state(N)?.seq, 4)
})

test('a delta from an unknown node asks for a snapshot and is replayed on top of it', () => {
  const replicas = new RouteReplicas()
  assert.equal(replicas.applyDelta(delta(5, [['+', 'late']])).snapshotNeeded, true)
  const update = replicas.applySnapshot({ node: N, incarnation: 100, seq: 4, filters: ['early'] })
  assert.deepStrictEqual(update.events, [
    { type: 'routes-replaced', node: N, filters: ['early'] },
    { type: 'routes-changed', node: N, added: ['late'], removed: [] }
  ])
  assert.equal(replicas.state(N)?.seq, 5)
})

test('a gap in sequence numbers asks for a snapshot; buffered deltas past it are applied after', () => {
  const replicas = synced(['a'], 1)
  const gap = replicas.applyDelta(delta(3, [['+', 'c']]))
  assert.deepStrictEqual(gap, { events: [], snapshotNeeded: true })
  assert.deepStrictEqual(replicas.applyDelta(delta(4, [['+', 'd']])), { events: [], snapshotNeeded: false }, 'one snapshot at a time')
  const update = replicas.applySnapshot({ node: N, incarnation: 100, seq: 3, filters: ['a', 'b', 'c'] })
  assert.deepStrictEqual(update.events, [
    { type: 'routes-replaced', node: N, filters: ['a', 'b', 'c'] },
    { type: 'routes-changed', node: N, added: ['d'], removed: [] }
  ])
  assert.equal(update.snapshotNeeded, false)
})

test('duplicate and overlapping deltas apply each change once', () => {
  const replicas = synced([], 0)
  replicas.applyDelta(delta(1, [['+', 'a'], ['+', 'b']]))
  assert.deepStrictEqual(replicas.applyDelta(delta(1, [['+', 'a'], ['+', 'b']])).events, [])
  assert.deepStrictEqual(replicas.applyDelta(delta(2, [['+', 'b'], ['-', 'a']])).events, [{ type: 'routes-changed', node: N, added: [], removed: ['a'] }])
  assert.equal(replicas.state(N)?.seq, 3)
})

test('a delta becomes one event with its net change: an add and a remove of one filter cancel out', () => {
  const replicas = synced(['a', 'b'], 2)
  const update = replicas.applyDelta(delta(3, [['+', 'x'], ['-', 'x'], ['-', 'a'], ['+', 'a'], ['-', 'b'], ['+', 'c'], ['+', 'c']]))
  assert.deepStrictEqual(update.events, [{ type: 'routes-changed', node: N, added: ['c'], removed: ['b'] }])
  assert.deepStrictEqual(replicas.state(N)?.checksum, FilterSetChecksum.of(['a', 'c']).value)
  assert.deepStrictEqual(replicas.applyDelta(delta(10, [['+', 'z'], ['-', 'z']])).events, [], 'no net change, no event')
  assert.equal(replicas.state(N)?.seq, 11)
})

test('a new incarnation (restart) asks for a snapshot; deltas of the old one are ignored', () => {
  const replicas = synced(['old'], 10, 100)
  assert.equal(replicas.applyDelta(delta(1, [['+', 'new']], 200)).snapshotNeeded, true)
  assert.deepStrictEqual(replicas.applyDelta(delta(11, [['+', 'stale']], 100)), { events: [], snapshotNeeded: false })
  const update = replicas.applySnapshot({ node: N, incarnation: 200, seq: 0, filters: [] })
  assert.deepStrictEqual(update.events, [
    { type: 'routes-replaced', node: N, filters: [] },
    { type: 'routes-changed', node: N, added: ['new'], removed: [] }
  ])
  assert.equal(replicas.state(N)?.incarnation, 200)
})

test('a snapshot of an older incarnation is refused and asked again', () => {
  const replicas = new RouteReplicas()
  replicas.nodeUp(N, 200)
  const update = replicas.applySnapshot({ node: N, incarnation: 100, seq: 5, filters: ['x'] })
  assert.deepStrictEqual(update, { events: [], snapshotNeeded: true })
  assert.equal(replicas.routesOf(N)?.size, 0)
})

test('digests: equal is quiet, ahead or same seq with another checksum asks for a snapshot', () => {
  const replicas = synced(['a', 'b'], 2)
  const checksum = FilterSetChecksum.of(['a', 'b']).value
  assert.equal(replicas.applyDigest({ node: N, incarnation: 100, seq: 2, checksum }).snapshotNeeded, false)
  assert.equal(replicas.applyDigest({ node: N, incarnation: 100, seq: 1, checksum: 'whatever' }).snapshotNeeded, false, 'an old digest')
  assert.equal(replicas.applyDigest({ node: N, incarnation: 100, seq: 2, checksum: FilterSetChecksum.of(['a']).value }).snapshotNeeded, true, 'mismatch')
  replicas.snapshotFailed(N)
  assert.equal(replicas.applyDigest({ node: N, incarnation: 100, seq: 3, checksum }).snapshotNeeded, true, 'missed the last delta')
  replicas.snapshotFailed(N)
  assert.equal(replicas.applyDigest({ node: N, incarnation: 300, seq: 0, checksum }).snapshotNeeded, true, 'new incarnation')
})

test('a failed snapshot fetch lets the next trigger ask again', () => {
  const replicas = new RouteReplicas()
  assert.equal(replicas.nodeUp(N, 1).snapshotNeeded, true)
  assert.equal(replicas.nodeUp(N, 1).snapshotNeeded, false)
  replicas.snapshotFailed(N)
  assert.equal(replicas.nodeUp(N, 1).snapshotNeeded, true)
})

test('removing a node replaces its routes with none', () => {
  const replicas = synced(['a'], 1)
  assert.deepStrictEqual(replicas.remove(N).events, [{ type: 'routes-replaced', node: N, filters: [] }])
  assert.equal(replicas.routesOf(N), undefined)
  assert.deepStrictEqual(replicas.remove(N).events, [])
})

test('a replica is bounded in entries: a snapshot and deltas past the bound are refused and counted, digests do not loop, and shedding a tenth fetches the rest back', () => {
  const replicas = new RouteReplicas({ entries: 10, bytes: 1_000_000 })
  replicas.nodeUp(N, 100)
  const all = Array.from({ length: 15 }, (_, i) => `f/${i}`)
  const first = replicas.applySnapshot({ node: N, incarnation: 100, seq: 15, filters: all })
  assert.equal(first.refused, 5)
  assert.deepStrictEqual(first.events, [{ type: 'routes-replaced', node: N, filters: all.slice(0, 10) }])
  assert.equal(replicas.state(N)?.truncated, true)

  const more = replicas.applyDelta(delta(16, [['+', 'g/1'], ['+', 'g/2']]))
  assert.equal(more.refused, 2)
  assert.deepStrictEqual(more.events, [])
  assert.equal(replicas.routesOf(N)?.size, 10)

  // The owner's checksum covers what this node refused: at the same sequence number it is not compared.
  const owner = FilterSetChecksum.of([...all, 'g/1', 'g/2']).value
  assert.equal(replicas.applyDigest({ node: N, incarnation: 100, seq: 17, checksum: owner }).snapshotNeeded, false)
  // A removal of an entry never held changes nothing.
  assert.deepStrictEqual(replicas.applyDelta(delta(18, [['-', 'f/14']])).events, [])

  // Removals that leave a tenth of the bound free fetch a snapshot for what was refused.
  const shed = replicas.applyDelta(delta(19, [['-', 'f/0']]))
  assert.deepStrictEqual(shed.events, [{ type: 'routes-changed', node: N, added: [], removed: ['f/0'] }])
  assert.equal(shed.snapshotNeeded, true)
  const back = replicas.applySnapshot({ node: N, incarnation: 100, seq: 19, filters: [...all.slice(1, 14), 'g/1', 'g/2'] })
  assert.equal(back.refused, 5)
  assert.equal(replicas.routesOf(N)?.size, 10)
})

test('a replica is bounded in bytes of entry text (2 per UTF-16 code unit); within the bound nothing is refused', () => {
  const replicas = new RouteReplicas({ entries: 1_000, bytes: 100 })
  replicas.nodeUp(N, 100)
  const long = 'x'.repeat(30)
  const update = replicas.applySnapshot({ node: N, incarnation: 100, seq: 3, filters: [`${long}/1`, `${long}/2`, `${long}/3`] })
  assert.equal(update.refused, 2, 'one 64-byte entry fits in 100 bytes')
  const within = synced(['a', 'b'], 2)
  assert.equal(within.applyDelta(delta(3, [['+', 'c']])).refused, undefined)
  assert.equal(within.state(N)?.truncated, false)
})
