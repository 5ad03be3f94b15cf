/**
 * The disk backends considered for the store (issue 11), measured on the QoS 1 path's writes: per
 * message one put of a `d/<client>\0<16 hex seq>` key with a 150-byte value, committed by a
 * GroupCommit, and once that commit is done (the publisher's PUBACK may leave) the del of the same
 * key, as the subscriber's PUBACK would make it. 1000 messages are outstanding at any time (100
 * clients, 10 in flight each): a new one starts as one ends, so the rate is what the backend
 * sustains. Modes as `persistence.mode`: `batch` (a commit every 2 ms, fsync'd), `sync` (a commit
 * as soon as the previous is done, fsync'd), `none` (2 ms commits, no fsync).
 *
 * Reported per backend, mode and run: messages/s, commit latency p50/p99 (`Store.write` start to
 * resolve) and the main thread's busy time per message (`performance.eventLoopUtilization()`:
 * the broker's event loop is its bottleneck; a synchronous backend's fsync counts here) beside
 * the whole process's CPU per message (its own threads included).
 *
 * The candidates are not dependencies of meshmq: install them in a scratch directory and point
 * STORE_CANDIDATES_DIR at it (default: the current directory); one not installed is skipped with
 * the reason. Data goes to STORE_BENCH_DIR (default: a temporary directory under the project, on
 * the disk the data directory would be on: a tmpfs would make fsync free).
 *
 *   STORE_CANDIDATES_DIR=/tmp/store-candidates node dist/bench/store-candidates.js [seconds] [runs]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { pino } from 'pino'
import { GroupCommit } from '../src/store/group-commit.js'
import type { Store, StoreOp, WriteOptions } from '../src/store/store.js'
import { deliveryKey } from '../src/store/records.js'

type Mode = 'batch' | 'sync' | 'none'
const MODES: Mode[] = ['batch', 'sync', 'none']
const CLIENTS = 100
const IN_FLIGHT = 10
const VALUE_BYTES = 150
const WARMUP_MS = 500

/** The least a candidate has to do: write a batch (fsync'd or not) and close. */
interface Candidate {
  write: (ops: readonly StoreOp[], sync: boolean) => Promise<void> | void
  close: () => Promise<void> | void
}

interface Backend {
  name: string
  package: string
  open: (load: NodeJS.Require, dir: string, mode: Mode) => Promise<Candidate> | Candidate
}

/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return -- the candidates are loaded untyped */
/** A LevelDB batch as the two classic-level variants use it. */
interface LevelDb {
  batch: { (): { put: (key: string, value: Uint8Array) => void, del: (key: string) => void, write: (options: { sync: boolean }) => Promise<void> }, (ops: readonly StoreOp[], options: { sync: boolean }): Promise<void> }
  close: () => Promise<void>
}

async function openClassicLevel (load: NodeJS.Require, dir: string): Promise<LevelDb> {
  const { ClassicLevel } = load('classic-level')
  const db = new ClassicLevel(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  return db
}

const BACKENDS: Backend[] = [
  {
    name: 'classic-level (LevelDB), chained batch',
    package: 'classic-level',
    async open (load, dir) {
      const db = await openClassicLevel(load, dir)
      return {
        write: async (ops, sync) => {
          const batch = db.batch()
          for (const op of ops) {
            if (op.type === 'put') batch.put(op.key, op.value)
            else batch.del(op.key)
          }
          await batch.write({ sync })
        },
        close: async () => await db.close()
      }
    }
  },
  {
    name: 'classic-level (LevelDB), array batch',
    package: 'classic-level',
    async open (load, dir) {
      const db = await openClassicLevel(load, dir)
      return {
        write: async (ops, sync) => await db.batch(ops, { sync }),
        close: async () => await db.close()
      }
    }
  },
  {
    name: 'lmdb (lmdb-js)',
    package: 'lmdb',
    open (load, dir, mode) {
      const { open } = load('lmdb')
      // lmdb-js syncs per environment, not per commit.
      const db = open({ path: dir, keyEncoding: 'binary', encoding: 'binary', noSync: mode === 'none' })
      return {
        write: async (ops, sync) => {
          await db.batch(() => {
            for (const op of ops) {
              if (op.type === 'put') void db.put(Buffer.from(op.key), op.value)
              else void db.remove(Buffer.from(op.key))
            }
          })
          if (sync) await db.flushed
        },
        close: async () => await db.close()
      }
    }
  },
  {
    name: 'better-sqlite3 (SQLite, WAL, on the main thread)',
    package: 'better-sqlite3',
    open (load, dir, mode) {
      const Database = load('better-sqlite3')
      const db = new Database(join(dir, 'store.sqlite'))
      db.pragma('journal_mode = WAL')
      // WAL with synchronous FULL fsyncs the log at every commit; OFF never does.
      db.pragma(`synchronous = ${mode === 'none' ? 'OFF' : 'FULL'}`)
      db.exec('CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID')
      const put = db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)')
      const del = db.prepare('DELETE FROM kv WHERE k = ?')
      const batch = db.transaction((ops: readonly StoreOp[]) => {
        for (const op of ops) {
          if (op.type === 'put') put.run(Buffer.from(op.key), op.value)
          else del.run(Buffer.from(op.key))
        }
      })
      return {
        write: ops => { batch(ops) },
        close: () => { db.close() }
      }
    }
  }
]
/* eslint-enable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return */

interface RunResult {
  messages: number
  perSecond: number
  commitP50: number
  commitP99: number
  mainMsPerMessage: number
  cpuMsPerMessage: number
  commits: number
}

/** A Store over a candidate, timing each write; `none` never asks for fsync. */
class TimedStore implements Store {
  readonly location = undefined
  readonly latencies: number[] = []
  constructor (private readonly candidate: Candidate, private readonly fsync: boolean) {}
  async open (): Promise<void> {}
  async write (ops: readonly StoreOp[], _options: WriteOptions): Promise<void> {
    const start = performance.now()
    await this.candidate.write(ops, this.fsync)
    this.latencies.push(performance.now() - start)
  }

  get (): Promise<Uint8Array | undefined> {
    return Promise.resolve(undefined)
  }

  async * entries (): AsyncIterable<[string, Uint8Array]> {}
  async close (): Promise<void> {
    await this.candidate.close()
  }
}

function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
}

async function run (backend: Backend, load: NodeJS.Require, root: string, mode: Mode, seconds: number): Promise<RunResult> {
  const dir = mkdtempSync(join(root, 'run-'))
  const candidate = await backend.open(load, dir, mode)
  const store = new TimedStore(candidate, mode !== 'none')
  // `none` commits every 2 ms like `batch` and is waited on only to bound what is outstanding.
  const commit = new GroupCommit({
    store,
    mode: mode === 'none' ? 'batch' : mode,
    batchMs: 2,
    commitBytes: 4 * 1024 * 1024,
    retryMs: 1000,
    log: pino({ level: 'silent' })
  })
  const value = new Uint8Array(VALUE_BYTES).fill(0x61)
  let seq = 0
  let acked = 0
  let stopping = false
  let outstanding = 0
  let allDone: (() => void) | undefined

  const send = (client: number): void => {
    if (stopping) {
      if (--outstanding === 0) allDone?.()
      return
    }
    const key = deliveryKey(`client-${client}`, ++seq)
    commit.afterDurable(commit.put(key, value), () => {
      // The publisher's PUBACK leaves; the subscriber's comes back a turn later.
      setImmediate(() => {
        commit.del(key)
        acked++
        send(client)
      })
    })
  }
  for (let client = 0; client < CLIENTS; client++) {
    for (let i = 0; i < IN_FLIGHT; i++) {
      outstanding++
      send(client)
    }
  }
  await new Promise(resolve => setTimeout(resolve, WARMUP_MS))
  const startAcked = acked
  const startCommits = store.latencies.length
  const startElu = performance.eventLoopUtilization()
  const startCpu = process.cpuUsage()
  const startAt = performance.now()
  await new Promise(resolve => setTimeout(resolve, seconds * 1000))
  const elapsed = performance.now() - startAt
  const elu = performance.eventLoopUtilization(startElu)
  const cpu = process.cpuUsage(startCpu)
  const messages = acked - startAcked
  const latencies = store.latencies.slice(startCommits).sort((a, b) => a - b)
  stopping = true
  await new Promise<void>(resolve => {
    allDone = resolve
    if (outstanding === 0) resolve()
  })
  await commit.close()
  await store.close()
  rmSync(dir, { recursive: true, force: true })
  return {
    messages,
    perSecond: messages / (elapsed / 1000),
    commitP50: percentile(latencies, 0.5),
    commitP99: percentile(latencies, 0.99),
    mainMsPerMessage: elu.active / messages,
    cpuMsPerMessage: (cpu.user + cpu.system) / 1000 / messages,
    commits: latencies.length
  }
}

function fixed (n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-'
}

async function main (): Promise<void> {
  const seconds = Number(process.argv[2] ?? 3)
  const runs = Number(process.argv[3] ?? 3)
  const candidatesDir = resolve(process.env.STORE_CANDIDATES_DIR ?? process.cwd())
  const load = createRequire(join(candidatesDir, 'package.json'))
  const root = process.env.STORE_BENCH_DIR ?? mkdtempSync(resolve('.store-bench-'))
  const versions: string[] = []
  console.log('| backend | mode | run | msg/s | commits | commit p50 ms | commit p99 ms | main thread µs/msg | process CPU µs/msg |')
  console.log('|---|---|---|---:|---:|---:|---:|---:|---:|')
  for (const backend of BACKENDS) {
    try {
      load.resolve(backend.package)
      const { version } = JSON.parse(readFileSync(join(candidatesDir, 'node_modules', backend.package, 'package.json'), 'utf8')) as { version: string }
      if (!versions.includes(`${backend.package}@${version}`)) versions.push(`${backend.package}@${version}`)
    } catch (err) {
      console.error(`skipping ${backend.name}: ${backend.package} is not installed in ${candidatesDir} (${(err as Error).message.split('\n')[0] ?? ''})`)
      continue
    }
    for (const mode of MODES) {
      for (let i = 1; i <= runs; i++) {
        const r = await run(backend, load, root, mode, seconds)
        console.log(`| ${backend.name} | ${mode} | ${i} | ${fixed(r.perSecond, 0)} | ${r.commits} | ${fixed(r.commitP50, 2)} | ${fixed(r.commitP99, 2)} | ${fixed(r.mainMsPerMessage * 1000, 1)} | ${fixed(r.cpuMsPerMessage * 1000, 1)} |`)
      }
    }
  }
  if (process.env.STORE_BENCH_DIR === undefined) rmSync(root, { recursive: true, force: true })
  console.log(`\n${versions.join(', ')}; Node ${process.version}; ${seconds} s per run after ${WARMUP_MS} ms warm-up; ${CLIENTS * IN_FLIGHT} messages outstanding, ${VALUE_BYTES}-byte values`)
}

await main()
