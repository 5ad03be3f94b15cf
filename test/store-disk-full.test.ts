/**
 * A disk full under the LevelDB store, on a 1 MiB tmpfs (mounted as root; skipped otherwise): a
 * write fails with StoreFullError, and once space is freed writes succeed again without a
 * restart; a GroupCommit over it sets `failure`, keeps its writes and commits them on a retry.
 */
import assert from 'node:assert/strict'
import { unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { GroupCommit } from '../src/store/group-commit.js'
import { LevelStore } from '../src/store/level-store.js'
import { StoreFullError } from '../src/store/store.js'
import { waitUntil } from './helpers/wait.js'
import { mountTmpfs } from './helpers/tmpfs.js'

const VALUE = new Uint8Array(4096).fill(0x61)
const MAX_WRITES = 1000

describe('store on a full disk', () => {
  it('rejects a write with StoreFullError, and writes again once space is freed', async t => {
    const dir = mountTmpfs(t)
    if (dir === undefined) return
    const store = new LevelStore(join(dir, 'store'))
    await store.open()
    t.after(async () => await store.close())
    let written = 0
    let failure: unknown
    for (; written < MAX_WRITES; written++) {
      try {
        await store.write([{ type: 'put', key: `r/${written}`, value: VALUE }], { sync: true })
      } catch (err) {
        failure = err
        break
      }
    }
    assert.ok(failure instanceof StoreFullError, `expected StoreFullError after ${written} writes, got ${String(failure)}`)
    assert.match(failure.message, /no space left/)
    await assert.rejects(store.write([{ type: 'put', key: 'r/again', value: VALUE }], { sync: true }), StoreFullError)
    unlinkSync(join(dir, 'ballast'))
    await store.write([{ type: 'put', key: 'r/after', value: VALUE }], { sync: true })
    assert.equal((await store.get('r/after'))?.byteLength, VALUE.byteLength)
    assert.equal((await store.get(`r/${written - 1}`))?.byteLength, VALUE.byteLength, 'the last write before the disk filled is kept')
  })

  it('a GroupCommit reports the failure, keeps its writes and commits them when space is freed', async t => {
    const dir = mountTmpfs(t)
    if (dir === undefined) return
    const store = new LevelStore(join(dir, 'store'))
    await store.open()
    t.after(async () => await store.close())
    const commit = new GroupCommit({ store, mode: 'batch', batchMs: 2, commitBytes: 64 * 1024, retryMs: 20, log: pino({ level: 'silent' }) })
    let seq = 0
    for (let i = 0; i < MAX_WRITES && commit.failure === undefined; i++) {
      seq = commit.put(`d/c\u0000${i.toString(16).padStart(16, '0')}`, VALUE)
      await commit.flush().catch(() => {})
    }
    assert.ok(commit.failure instanceof StoreFullError, `expected the commit to fail with StoreFullError, got ${String(commit.failure)}`)
    let durable = false
    commit.afterDurable(seq, () => { durable = true })
    assert.equal(durable, false, 'a write not committed is not acknowledged')
    unlinkSync(join(dir, 'ballast'))
    await waitUntil(() => commit.failure === undefined && durable, 10_000, 'the commit to succeed on a retry')
    assert.equal(commit.stats.failures > 0, true)
    await commit.close()
    assert.equal((await store.get(`d/c\u0000${(seq - 1).toString(16).padStart(16, '0')}`))?.byteLength, VALUE.byteLength)
  })
})
