/**
 * `meshmq ctl store check|repair` as a real process (bin/meshmq.js) on a LevelDB store: one with an
 * unreadable record, one whose CURRENT file is cut (LevelDB cannot open it by itself), one with a
 * table file cut (a read fails mid-way), and one whose log lost an unsynced tail (LevelDB drops
 * the tail by itself: the store is sound without what the tail held).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readdirSync, statSync, truncateSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parseCommandLine } from '../src/cli-args.js'
import type { Message } from '../src/core/mqtt/message.js'
import { LevelStore } from '../src/store/level-store.js'
import { storeDirectory } from '../src/store/open-store.js'
import {
  MEMBERS_KEY, awaitingRelKey, deliveryKey, encodeAwaitingRel, encodeDelivery, encodeForwarded, encodeMembers, encodeRetained, encodeStoredSession, forwardKey,
  retainedKey, sessionKey
} from '../src/store/records.js'
import type { StoreOp } from '../src/store/store.js'
import { tempDir } from './helpers/store-contract.js'
import { waitUntil } from './helpers/wait.js'

const MESHMQ = fileURLToPath(new URL('../../bin/meshmq.js', import.meta.url))
const RUN_TIMEOUT_MS = 20_000

function message (topic: string, payload: string): Message {
  return { topic, payload: Buffer.from(payload), qos: 1, retain: false, publisher: 'pub', origin: 'n1@127.0.0.1' }
}

/** `count` good records of each kind. */
function goodRecords (count: number, from = 0): StoreOp[] {
  const ops: StoreOp[] = []
  for (let i = from; i < from + count; i++) {
    ops.push({ type: 'put', key: sessionKey(`client-${i}`), value: encodeStoredSession({ clientId: `client-${i}`, createdAt: 1, expiryInterval: 3600 }) })
    ops.push({ type: 'put', key: deliveryKey(`client-${i}`, i + 1), value: encodeDelivery({ message: message(`t/${i}`, 'x'.repeat(150)), qos: 1, retain: false }) })
    ops.push({ type: 'put', key: retainedKey(`r/${i}`), value: encodeRetained({ topic: `r/${i}`, stamp: { wall: 1000 + i, logical: 0, node: 'n1@127.0.0.1' }, message: { ...message(`r/${i}`, 'kept'), retain: true } }) })
    ops.push({ type: 'put', key: forwardKey('n2@127.0.0.1', i + 1), value: encodeForwarded(message(`t/${i}`, 'fwd')) })
  }
  return ops
}

async function writeStore (dataDir: string, batches: StoreOp[][]): Promise<string> {
  const location = storeDirectory(dataDir)
  const store = new LevelStore(location)
  await store.open()
  for (const batch of batches) await store.write(batch, { sync: true })
  await store.close()
  return location
}

/** Opens and closes the store: LevelDB writes what its log holds into a table file. */
async function reopen (location: string): Promise<void> {
  const store = new LevelStore(location)
  await store.open()
  await store.close()
}

interface Run { code: number, stdout: string, stderr: string }

async function ctlStore (dataDir: string, subcommand: 'check' | 'repair', json = false): Promise<Run> {
  return await run(['ctl', 'store', subcommand, '--data-dir', dataDir, ...(json ? ['--json'] : [])])
}

async function run (args: string[], cwd?: string): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('MESHMQ_')))
  return await new Promise(resolve => {
    execFile(process.execPath, [MESHMQ, ...args], { timeout: RUN_TIMEOUT_MS, env, ...(cwd === undefined ? {} : { cwd }) }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

interface CheckJson { ok: boolean, records: number, problems: string[], kinds: Record<string, number>, corrupt?: string }
interface RepairJson { before: CheckJson, after: CheckJson, backendRepaired: boolean, lostFiles: string[], dropped: Record<string, number> }

function newest (location: string, suffix: string): string {
  const files = readdirSync(location).filter(file => file.endsWith(suffix)).sort()
  const file = files.at(-1)
  assert.ok(file !== undefined, `a ${suffix} file in ${location}: ${readdirSync(location).join(' ')}`)
  return join(location, file)
}

describe('meshmq ctl store check|repair', () => {
  it('checks a sound store: counts per kind, exit 0', async t => {
    const dataDir = tempDir(t, 'check')
    await writeStore(dataDir, [goodRecords(5)])
    const run = await ctlStore(dataDir, 'check')
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /: ok\n/)
    assert.match(run.stdout, /records read: 20 \(5 session, 5 delivery, 5 retained, 5 forwarded readable\)/)
  })

  it('reads the packet ids awaiting PUBREL and the members record as kinds of their own', async t => {
    const dataDir = tempDir(t, 'check')
    await writeStore(dataDir, [[
      ...goodRecords(1),
      { type: 'put', key: awaitingRelKey('client-0'), value: encodeAwaitingRel([1, 7, 65535]) },
      { type: 'put', key: MEMBERS_KEY, value: encodeMembers(['b@127.0.0.1', 'c@127.0.0.1']) }
    ]])
    const run = await ctlStore(dataDir, 'check')
    assert.equal(run.code, 0, run.stdout + run.stderr)
    assert.match(run.stdout, /records read: 6 \(1 session, 1 awaiting, 1 delivery, 1 retained, 1 forwarded, 1 members readable\)/)
  })

  it('reports an unreadable record, repair drops it and says which kind, check is then ok', async t => {
    const dataDir = tempDir(t, 'check')
    await writeStore(dataDir, [goodRecords(3), [{ type: 'put', key: deliveryKey('client-1', 99), value: new Uint8Array([1, 0x33, 0xff]) }]])
    const check = await ctlStore(dataDir, 'check')
    assert.equal(check.code, 1)
    assert.match(check.stdout, /PROBLEMS FOUND/)
    assert.match(check.stdout, /unreadable delivery record "d\/client-1\\u00000000000000000063"/)
    const repair = await ctlStore(dataDir, 'repair', true)
    assert.equal(repair.code, 0, repair.stderr)
    const report = JSON.parse(repair.stdout) as RepairJson
    assert.equal(report.backendRepaired, false)
    assert.deepEqual(report.dropped, { session: 0, subscription: 0, awaiting: 0, delivery: 1, retained: 0, forwarded: 0, members: 0, unknown: 0 })
    assert.deepEqual(report.after.kinds, { session: 3, subscription: 0, awaiting: 0, delivery: 3, retained: 3, forwarded: 3, members: 0, unknown: 0 })
    const again = await ctlStore(dataDir, 'check', true)
    assert.equal(again.code, 0)
    assert.equal((JSON.parse(again.stdout) as CheckJson).records, 12)
  })

  it('a cut CURRENT file: check reports the store unreadable, repair restores every record', async t => {
    const dataDir = tempDir(t, 'check')
    const location = await writeStore(dataDir, [goodRecords(4)])
    await reopen(location)
    truncateSync(join(location, 'CURRENT'), 0)
    const check = await ctlStore(dataDir, 'check', true)
    assert.equal(check.code, 1)
    const found = JSON.parse(check.stdout) as CheckJson
    assert.match(found.corrupt ?? '', /CURRENT/)
    assert.match(found.problems.join('\n'), /damaged/)
    const repair = await ctlStore(dataDir, 'repair')
    assert.equal(repair.code, 0, repair.stderr)
    assert.match(repair.stdout, /repaired/)
    assert.match(repair.stdout, /after: 4 session, 4 delivery, 4 retained, 4 forwarded/)
    assert.equal((await ctlStore(dataDir, 'check')).code, 0)
  })

  it('a cut table file: check reports the read failing, repair sets the table aside and reports what is left', async t => {
    const dataDir = tempDir(t, 'check')
    const location = await writeStore(dataDir, [goodRecords(200)])
    await reopen(location)
    // Later records go to the log and a second table.
    const store = new LevelStore(location)
    await store.open()
    await store.write(goodRecords(100, 200), { sync: true })
    await store.close()
    await reopen(location)
    const table = newest(location, '.ldb')
    truncateSync(table, Math.floor(statSync(table).size / 3))
    const check = await ctlStore(dataDir, 'check', true)
    assert.equal(check.code, 1)
    assert.ok((JSON.parse(check.stdout) as CheckJson).corrupt !== undefined, check.stdout)
    const repair = await ctlStore(dataDir, 'repair', true)
    assert.equal(repair.code, 0, repair.stderr)
    const report = JSON.parse(repair.stdout) as RepairJson
    assert.equal(report.backendRepaired, true)
    assert.ok(report.lostFiles.length > 0, `files set aside: ${repair.stdout}`)
    assert.equal(report.after.ok, true)
    assert.ok(report.after.records > 0 && report.after.records < 1200, `records left: ${report.after.records}`)
    const text = await ctlStore(dataDir, 'check')
    assert.equal(text.code, 0, text.stdout)
  })

  it('a MANIFEST that lost its last edit: check reports the tables it no longer lists and leaves them, repair brings every record back', async t => {
    const dataDir = tempDir(t, 'check')
    const location = await writeStore(dataDir, [goodRecords(50)])
    await reopen(location)
    // 6 MiB of retained messages: LevelDB writes its 4 MiB memtable to a table and adds it to the MANIFEST.
    const store = new LevelStore(location)
    await store.open()
    const manifest = readdirSync(location).find(file => file.startsWith('MANIFEST-'))
    assert.ok(manifest !== undefined)
    const manifestBytes = statSync(join(location, manifest)).size
    for (let batch = 0; batch < 12; batch++) {
      await store.write(Array.from({ length: 8 }, (_, i): StoreOp => {
        const topic = `big/${batch * 8 + i}`
        return { type: 'put', key: retainedKey(topic), value: encodeRetained({ topic, stamp: { wall: 1, logical: 0, node: 'n1@127.0.0.1' }, message: { ...message(topic, 'x'.repeat(64 * 1024)), retain: true } }) }
      }), { sync: true })
    }
    // The memtable goes to a table in LevelDB's background thread; a close while that runs abandons
    // it (seen on a loaded CI machine), so the test waits for the MANIFEST edit first.
    await waitUntil(() => statSync(join(location, manifest)).size > manifestBytes, 10_000, 'the MANIFEST recorded a new table')
    await store.close()
    const tables = readdirSync(location).filter(file => file.endsWith('.ldb'))
    truncateSync(join(location, manifest), manifestBytes)
    const check = await ctlStore(dataDir, 'check', true)
    assert.equal(check.code, 1, check.stdout)
    assert.match((JSON.parse(check.stdout) as CheckJson).problems.join('\n'), /not listed in the store's MANIFEST/)
    assert.deepEqual(readdirSync(location).filter(file => file.endsWith('.ldb')), tables, 'check leaves the table files')
    const repair = await ctlStore(dataDir, 'repair', true)
    assert.equal(repair.code, 0, repair.stderr)
    const report = JSON.parse(repair.stdout) as RepairJson
    assert.equal(report.backendRepaired, true)
    assert.deepEqual(report.after.kinds, { session: 50, subscription: 0, awaiting: 0, delivery: 50, retained: 50 + 96, forwarded: 50, members: 0, unknown: 0 })
  })

  it('a log that lost its unsynced tail: LevelDB drops the tail by itself, check is ok without it', async t => {
    const dataDir = tempDir(t, 'check')
    const location = await writeStore(dataDir, [goodRecords(10), goodRecords(10, 10)])
    const log = newest(location, '.log')
    // The second batch is the log's last record: cut into it.
    truncateSync(log, statSync(log).size - 200)
    const run = await ctlStore(dataDir, 'check', true)
    assert.equal(run.code, 0, run.stdout)
    const report = JSON.parse(run.stdout) as CheckJson
    assert.deepEqual(report.kinds, { session: 10, subscription: 0, awaiting: 0, delivery: 10, retained: 10, forwarded: 10, members: 0, unknown: 0 })
  })

  it('refuses a store another process holds: the node must be stopped', async t => {
    const dataDir = tempDir(t, 'check')
    const location = await writeStore(dataDir, [goodRecords(1)])
    const holder = new LevelStore(location)
    await holder.open()
    t.after(async () => await holder.close())
    for (const subcommand of ['check', 'repair'] as const) {
      const run = await ctlStore(dataDir, subcommand)
      assert.equal(run.code, 1)
      assert.match(run.stderr, /in use by another process.*stop the node first/)
    }
  })

  it('finds the store of --node NAME as the other ctl commands do (./data/NAME)', async t => {
    const cwd = tempDir(t, 'check')
    await writeStore(join(cwd, 'data', 'meshmq7@127.0.0.1'), [goodRecords(2)])
    const found = await run(['ctl', 'store', 'check', '--node', 'meshmq7@127.0.0.1'], cwd)
    assert.equal(found.code, 0, found.stderr)
    assert.match(found.stdout, /records read: 8 /)
  })

  it('parses store check|repair, refusing --control and other subcommands', () => {
    assert.deepEqual(parseCommandLine(['ctl', '--data-dir', 'd', '--json', 'store', 'repair']), { kind: 'ctl', dataDir: 'd', json: true, args: ['store', 'repair'] })
    assert.throws(() => parseCommandLine(['ctl', '--control', '127.0.0.1:5372', 'store', 'check']), /stopped node.*not --control/)
    assert.throws(() => parseCommandLine(['ctl', 'store', 'compact']), /expected store check or store repair/)
    assert.throws(() => parseCommandLine(['ctl', 'store', 'check', 'extra']), /expected store check or store repair/)
  })

  it('reports a data directory without a store', async t => {
    const run = await ctlStore(tempDir(t, 'check'), 'check')
    assert.equal(run.code, 1)
    assert.match(run.stdout, /no store at/)
  })
})
