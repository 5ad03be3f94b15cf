/**
 * The contract every store backend passes (as aedes-persistence's abstract tests): `storeContract`
 * registers the suite for one backend, `diskStoreContract` the part only a disk backend has
 * (reopen, a SIGKILLed writer's fsync'd batch, a second process refused). See src/store/store.ts.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { StoreLockedError, type Store } from '../../src/store/store.js'
import { withTimeout } from './wait.js'

const WRITER = fileURLToPath(new URL('../../../test/fixtures/store/write-and-hang.mjs', import.meta.url))
const CHILD_TIMEOUT_MS = 15_000

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
const text = (value: Uint8Array | undefined): string | undefined => value === undefined ? undefined : new TextDecoder().decode(value)

async function all (store: Store, prefix: string): Promise<Array<[string, string]>> {
  const entries: Array<[string, string]> = []
  for await (const [key, value] of store.entries(prefix)) entries.push([key, text(value) ?? ''])
  return entries
}

/** A fresh temporary directory, removed after the test. */
export function tempDir (t: { after: (fn: () => void) => void }, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `meshmq-${name}-`))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** `makeStore(dir)` gives an unopened store over `dir` (a fresh temporary directory per test). */
export function storeContract (name: string, makeStore: (dir: string) => Store): void {
  describe(`store contract: ${name}`, () => {
    const opened = async (t: { after: (fn: () => Promise<void> | void) => void }): Promise<Store> => {
      const store = makeStore(join(tempDir(t, 'store'), 'store'))
      await store.open()
      t.after(async () => await store.close())
      return store
    }

    it('puts, gets and deletes', async t => {
      const store = await opened(t)
      await store.write([{ type: 'put', key: 's/a', value: bytes('one') }], { sync: false })
      assert.equal(text(await store.get('s/a')), 'one')
      await store.write([{ type: 'put', key: 's/a', value: bytes('two') }], { sync: true })
      assert.equal(text(await store.get('s/a')), 'two')
      await store.write([{ type: 'del', key: 's/a' }, { type: 'del', key: 's/never' }], { sync: false })
      assert.equal(await store.get('s/a'), undefined)
    })

    it('applies a batch in order, all of it', async t => {
      const store = await opened(t)
      await store.write([
        { type: 'put', key: 'r/x', value: bytes('1') },
        { type: 'put', key: 'r/y', value: bytes('2') },
        { type: 'del', key: 'r/x' },
        { type: 'put', key: 'r/z', value: bytes('3') }
      ], { sync: true })
      assert.deepEqual(await all(store, 'r/'), [['r/y', '2'], ['r/z', '3']])
    })

    it('yields entries of a prefix in UTF-8 byte order, the \\0 separator first', async t => {
      const store = await opened(t)
      const keys = ['d/ab\u00000000000000000001', 'd/a\u00000000000000000002', 'd/a\u00000000000000000010', 'd/é\u00000000000000000001',
        'd/z\u00000000000000000001', 'd/\u{1F600}\u00000000000000000001', 'd/\uFF5E\u00000000000000000001', 'r/t', 's/c', 'd0']
      await store.write(keys.map(key => ({ type: 'put', key, value: bytes(key) })), { sync: false })
      const expected = keys.filter(key => key.startsWith('d/')).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      assert.deepEqual((await all(store, 'd/')).map(([key]) => key), expected)
      assert.deepEqual(expected.slice(0, 3), ['d/a\u00000000000000000002', 'd/a\u00000000000000000010', 'd/ab\u00000000000000000001'])
      assert.deepEqual((await all(store, 'd/a\u0000')).map(([key]) => key), expected.slice(0, 2))
      assert.deepEqual((await all(store, '')).map(([key]) => key), [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))))
      assert.deepEqual(await all(store, 'x/'), [])
    })

    it('keeps a copy of the value: the caller may reuse its buffer', async t => {
      const store = await opened(t)
      const value = bytes('abc')
      const written = store.write([{ type: 'put', key: 's/copy', value }], { sync: false })
      value.fill(0x7a)
      await written
      value.fill(0x79)
      assert.equal(text(await store.get('s/copy')), 'abc')
      const read = await store.get('s/copy')
      read?.fill(0x78)
      assert.equal(text(await store.get('s/copy')), 'abc')
    })

    it('stores 1 MiB values', async t => {
      const store = await opened(t)
      const big = new Uint8Array(1024 * 1024).map((_, i) => i % 251)
      await store.write([{ type: 'put', key: 'r/big', value: big }, { type: 'put', key: 'r/big2', value: big }], { sync: true })
      assert.ok(Buffer.from(big).equals(await store.get('r/big') ?? new Uint8Array()), 'the 1 MiB value reads back')
      const entries: Uint8Array[] = []
      for await (const [, value] of store.entries('r/')) entries.push(value)
      assert.equal(entries.length, 2)
      assert.ok(Buffer.from(big).equals(entries[1] ?? new Uint8Array()), 'the 1 MiB value iterates back')
    })

    it('rejects operations on a closed store', async t => {
      const store = makeStore(join(tempDir(t, 'store'), 'store'))
      await store.open()
      await store.write([{ type: 'put', key: 's/a', value: bytes('1') }], { sync: false })
      await store.close()
      await assert.rejects(async () => await store.write([{ type: 'put', key: 's/b', value: bytes('2') }], { sync: false }))
      await assert.rejects(async () => await store.get('s/a'))
      await assert.rejects(async () => await all(store, ''))
    })
  })
}

/** Runs `node write-and-hang.mjs dir pairs` and resolves once it has written (the child is still running). */
async function startWriter (dir: string, pairs: Array<[string, string]>): Promise<import('node:child_process').ChildProcess> {
  const child = spawn(process.execPath, [WRITER, dir, JSON.stringify(pairs)], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  await withTimeout(new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => { if (chunk.toString().includes('written')) resolve() })
    child.once('exit', code => reject(new Error(`writer exited with ${code ?? '-'}: ${stderr}`)))
  }), CHILD_TIMEOUT_MS, 'the writer child to write its batch')
  return child
}

async function kill (child: import('node:child_process').ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGKILL')
  await withTimeout(exited, CHILD_TIMEOUT_MS, 'the writer child to exit')
}

/** What a disk backend adds to the contract; `makeStore(dir)` opens `dir` as `write-and-hang.mjs` does. */
export function diskStoreContract (name: string, makeStore: (dir: string) => Store): void {
  describe(`disk store contract: ${name}`, () => {
    it('keeps its data across a reopen', async t => {
      const dir = join(tempDir(t, 'store'), 'store')
      const first = makeStore(dir)
      await first.open()
      await first.write([{ type: 'put', key: 's/a', value: bytes('kept') }, { type: 'put', key: 'd/a\u00000000000000000001', value: bytes('d') }], { sync: false })
      await first.close()
      const second = makeStore(dir)
      await second.open()
      t.after(async () => await second.close())
      assert.deepEqual(await all(second, ''), [['d/a\u00000000000000000001', 'd'], ['s/a', 'kept']])
    })

    it('has a batch written with sync after its writer is SIGKILLed', async t => {
      const dir = join(tempDir(t, 'store'), 'store')
      const child = await startWriter(dir, [['s/killed', 'session'], ['d/killed\u00000000000000000001', 'delivery']])
      await kill(child)
      const store = makeStore(dir)
      await store.open()
      t.after(async () => await store.close())
      assert.deepEqual(await all(store, ''), [['d/killed\u00000000000000000001', 'delivery'], ['s/killed', 'session']])
    })

    it('refuses a second process with StoreLockedError', async t => {
      const dir = join(tempDir(t, 'store'), 'store')
      const child = await startWriter(dir, [['s/held', 'x']])
      t.after(async () => await kill(child))
      const store = makeStore(dir)
      await assert.rejects(store.open(), (err: Error) => {
        assert.ok(err instanceof StoreLockedError, `${err.name}: ${err.message}`)
        assert.match(err.message, /in use by another process/)
        return true
      })
      await kill(child)
      await store.open()
      assert.deepEqual(await all(store, ''), [['s/held', 'x']])
      await store.close()
    })
  })
}
