/**
 * The group commit (src/store/group-commit.ts): writes of many turns go to the store as one
 * batch; acks waiting on `afterDurable` are released only once the batch holding their writes is
 * committed; a failed commit (disk full) keeps its writes, is retried, and releases nothing early.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { GroupCommit, type GroupCommitInit } from '../src/store/group-commit.js'
import { MemoryStore } from '../src/store/memory-store.js'
import { StoreFullError, type StoreOp, type WriteOptions } from '../src/store/store.js'
import { createLogger } from '../src/core/log.js'
import type { PersistenceMode } from '../src/core/config/config.js'

/** A memory store that records each batch and can be made to fail or to hold its commits. */
class RecordingStore extends MemoryStore {
  readonly batches: Array<{ keys: string[], sync: boolean }> = []
  failNext = 0
  hold: Promise<void> | undefined

  override async write (ops: readonly StoreOp[], options: WriteOptions): Promise<void> {
    if (this.hold !== undefined) await this.hold
    if (this.failNext > 0) {
      this.failNext--
      throw new StoreFullError(undefined)
    }
    this.batches.push({ keys: ops.map(op => `${op.type} ${op.key}`), sync: options.sync })
    await super.write(ops, options)
  }
}

const silent = createLogger({ level: 'silent', format: 'json', node: 'test@127.0.0.1' })

async function commitOver (mode: PersistenceMode, init: Partial<GroupCommitInit> = {}): Promise<{ store: RecordingStore, commit: GroupCommit }> {
  const store = new RecordingStore()
  await store.open()
  return { store, commit: new GroupCommit({ store, mode, batchMs: 5, commitBytes: 1 << 20, retryMs: 20, log: silent, ...init }) }
}

const value = Buffer.from('v')
const settle = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('group commit', () => {
  it('batch: the writes of several turns go in one fsync\'d commit, in order', async () => {
    const { store, commit } = await commitOver('batch')
    commit.put('a', value)
    await Promise.resolve()
    commit.put('b', value)
    commit.del('a')
    await commit.flush()
    assert.deepEqual(store.batches, [{ keys: ['put a', 'put b', 'del a'], sync: true }])
    assert.equal(await store.get('a'), undefined)
    assert.deepEqual(await store.get('b'), value)
  })

  it('an ack waiting for its write is released only once the commit holding it is done', async () => {
    const { store, commit } = await commitOver('batch')
    let release: () => void = () => {}
    store.hold = new Promise(resolve => { release = resolve })
    const seq = commit.put('k', value)
    const released: number[] = []
    commit.afterDurable(seq, () => { released.push(seq) })
    await settle(20)
    assert.equal(released.length, 0, 'the commit is under way, not done')
    const later = commit.put('l', value)
    commit.afterDurable(later, () => { released.push(later) })
    release()
    store.hold = undefined
    await settle(30)
    assert.deepEqual(released, [seq, later])
    assert.equal(commit.committed, later)
  })

  it('writes made while a commit is under way form the next commit (one fsync for many acks)', async () => {
    const { store, commit } = await commitOver('sync')
    let release: () => void = () => {}
    store.hold = new Promise(resolve => { release = resolve })
    commit.put('first', value)
    await settle(5)
    for (let i = 0; i < 100; i++) commit.put(`next${i}`, value)
    release()
    store.hold = undefined
    await commit.flush()
    assert.deepEqual(store.batches.map(batch => batch.keys.length), [1, 100])
  })

  it('commitBytes starts a commit before the window ends', async () => {
    const { store, commit } = await commitOver('batch', { batchMs: 10_000, commitBytes: 4096 })
    for (let i = 0; i < 100; i++) commit.put(`k${i}`, Buffer.alloc(100))
    await settle(20)
    assert.equal(store.batches.length, 1)
    await commit.close()
  })

  it('none: writes are batched without fsync and acks do not wait', async () => {
    const { store, commit } = await commitOver('none')
    const seq = commit.put('k', value)
    let released = false
    commit.afterDurable(seq, () => { released = true })
    assert.equal(released, true)
    await commit.flush()
    assert.deepEqual(store.batches, [{ keys: ['put k'], sync: false }])
  })

  it('a failed commit (disk full) sets failure, keeps its writes in order, retries, and releases acks only when written', async () => {
    const { store, commit } = await commitOver('batch')
    store.failNext = 2
    const seq = commit.put('a', value)
    let released = false
    commit.afterDurable(seq, () => { released = true })
    await settle(12)
    assert.ok(commit.failure instanceof StoreFullError)
    commit.put('b', value)
    assert.equal(released, false)
    await settle(80)
    assert.equal(commit.failure, undefined)
    assert.equal(released, true)
    assert.deepEqual(store.batches.map(batch => batch.keys), [['put a', 'put b']])
    assert.equal(commit.stats.failures, 2)
  })
})

describe('group commit of fresh records', () => {
  it('a record put and deleted before its commit never reaches the store, and its acks are still released', async () => {
    const { store, commit } = await commitOver('batch')
    let encoded = 0
    const put = commit.putNew('d/c\u00000001', () => { encoded++; return value }, 1)
    commit.del('d/c\u00000001')
    const kept = commit.putNew('d/c\u00000002', () => { encoded++; return value }, 1)
    let released = 0
    commit.afterDurable(put, () => { released++ })
    commit.afterDurable(kept, () => { released++ })
    await commit.flush()
    assert.deepEqual(store.batches.map(batch => batch.keys), [['put d/c\u00000002']])
    assert.equal(encoded, 1, 'only the record that stays is encoded')
    assert.equal(released, 2)
    assert.equal(commit.stats.cancelled, 1)
  })

  it('a window whose writes all cancel out is durable without a store write', async () => {
    const { store, commit } = await commitOver('batch')
    commit.putNew('f/p\u00000001', () => value, 1)
    const seq = commit.del('f/p\u00000001')
    let released = false
    commit.afterDurable(seq, () => { released = true })
    await settle(20)
    assert.equal(released, true)
    assert.equal(store.batches.length, 0)
  })

  it('a fresh record updated before its commit is written once with the last value; deleted after its commit, the delete is written', async () => {
    const { store, commit } = await commitOver('batch')
    commit.putNew('d/c\u00000003', () => Buffer.from('first'), 5)
    commit.put('d/c\u00000003', Buffer.from('second'))
    await commit.flush()
    assert.deepEqual(store.batches.map(batch => batch.keys), [['put d/c\u00000003']])
    assert.equal(Buffer.from((await store.get('d/c\u00000003'))!).toString(), 'second')
    commit.del('d/c\u00000003')
    await commit.flush()
    assert.deepEqual(store.batches.map(batch => batch.keys), [['put d/c\u00000003'], ['del d/c\u00000003']])
  })

  it('afterSettled: a range whose records are all acknowledged before the commit is settled at once, with no store write', async () => {
    const { store, commit } = await commitOver('batch', { batchMs: 10_000 })
    const from = commit.appended
    commit.putNew('f/p\u00000001', () => value, 1)
    commit.putNew('d/c\u00000002', () => value, 1)
    const to = commit.appended
    let settled = false
    commit.afterSettled(from, to, () => { settled = true })
    commit.del('f/p\u00000001')
    assert.equal(settled, false, 'one record of the range is still waiting')
    commit.del('d/c\u00000002')
    assert.equal(settled, true, 'settled without waiting for the 10 s window')
    await commit.flush()
    assert.equal(store.batches.length, 0)
  })

  it('afterSettled: another client\'s record appended before the range does not hold it back', async () => {
    const { commit } = await commitOver('batch', { batchMs: 10_000 })
    commit.putNew('d/other\u00000001', () => value, 1)
    const from = commit.appended
    commit.putNew('f/p\u00000002', () => value, 1)
    const to = commit.appended
    let settled = false
    commit.afterSettled(from, to, () => { settled = true })
    commit.del('f/p\u00000002')
    assert.equal(settled, true)
    let durable = false
    commit.afterDurable(to, () => { durable = true })
    assert.equal(durable, false, 'the whole log up to it still waits for the commit')
    await commit.flush()
    assert.equal(durable, true)
  })

  it('afterSettled: a record not acknowledged is settled by its commit, also when the range straddles a commit in flight', async () => {
    const { store, commit } = await commitOver('batch', { batchMs: 5 })
    let release: () => void = () => {}
    store.hold = new Promise(resolve => { release = resolve })
    const from = commit.appended
    commit.putNew('f/p\u00000001', () => value, 1)
    await settle(20)
    commit.putNew('f/p\u00000002', () => value, 1)
    const to = commit.appended
    let settled = false
    commit.afterSettled(from, to, () => { settled = true })
    commit.del('f/p\u00000002')
    assert.equal(settled, false, 'the first record is in the commit still in flight')
    release()
    store.hold = undefined
    await commit.flush()
    assert.equal(settled, true)
  })

  it('afterSettled: a record whose commit failed settles only when a retry commits it', async () => {
    const { store, commit } = await commitOver('batch', { batchMs: 5, retryMs: 20 })
    store.failNext = 1
    const from = commit.appended
    commit.putNew('d/c\u00000009', () => value, 1)
    let settled = false
    commit.afterSettled(from, commit.appended, () => { settled = true })
    await settle(12)
    assert.equal(commit.failure !== undefined, true, 'the first commit failed')
    assert.equal(settled, false)
    await settle(40)
    assert.equal(settled, true)
    assert.equal(store.batches.length, 1)
  })
})
