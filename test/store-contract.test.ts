/** Every store backend against the contract of src/store/store.ts (test/helpers/store-contract.ts); openStore by mode. */
import assert from 'node:assert/strict'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { diskStoreContract, storeContract, tempDir } from './helpers/store-contract.js'
import { loadConfig } from '../src/core/config/config.js'
import { LevelStore } from '../src/store/level-store.js'
import { MemoryStore } from '../src/store/memory-store.js'
import { openStore } from '../src/store/open-store.js'

storeContract('MemoryStore', () => new MemoryStore())
storeContract('LevelStore', dir => new LevelStore(dir))
diskStoreContract('LevelStore', dir => new LevelStore(dir))

describe('openStore', () => {
  const log = pino({ level: 'silent' })

  it('keeps the store in memory with persistence.mode off', async t => {
    const dataDir = tempDir(t, 'open')
    const store = await openStore(loadConfig({ env: {}, overrides: { node: { dataDir }, persistence: { mode: 'off' } } }), log)
    t.after(async () => await store.close())
    assert.ok(store instanceof MemoryStore)
    assert.equal(existsSync(join(dataDir, 'store')), false)
  })

  it('opens LevelDB in <dataDir>/store, owner only, for the other modes', async t => {
    const dataDir = join(tempDir(t, 'open'), 'node')
    const store = await openStore(loadConfig({ env: {}, overrides: { node: { dataDir }, persistence: { mode: 'batch' } } }), log)
    t.after(async () => await store.close())
    assert.ok(store instanceof LevelStore)
    assert.equal(store.location, join(dataDir, 'store'))
    assert.equal(statSync(join(dataDir, 'store')).mode & 0o777, 0o700)
    await store.write([{ type: 'put', key: 's/a', value: new Uint8Array([1]) }], { sync: true })
    assert.deepEqual([...(await store.get('s/a')) ?? []], [1])
  })
})
