/**
 * `restart-100k`: how long a broker takes to come back with many persistent sessions and their
 * queued messages. The generator sets up `--sessions` persistent sessions (MQTT 3.1.1 clean
 * session 0, one QoS 1 subscription `r/<i>` each, then DISCONNECT) and publishes 10 QoS 1 messages
 * to each while they are offline; the broker is then stopped (meshmq with kill -9; mosquitto with
 * SIGTERM, which saves its db, and with kill -9, which does not) and started again on the same
 * data. Figures: ms from process start to the MQTT port accepting connections, meshmq's
 * `store_restored` read_ms and restore_ms, RSS, size on disk, and a sample of 100 sessions reconnecting with Session
 * Present and receiving their 10 messages.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { freePort } from '../test/helpers/ports.js'
import { startMeshmq, startPersistentMosquitto, type BrokerName, type RunningBroker } from './brokers.js'
import { BrokerCrashedError, BenchTimeoutError } from './errors.js'
import { GeneratorProcess } from './generator-process.js'
import { describeFailure, type RunOutcome } from './outcome.js'
import { dataDirFileSystem } from './persistent-pairs.js'
import type { RestartBuildResult, RestartBuildWorkload, RestartCheckResult, RestartCheckWorkload } from './restart-workload.js'
import { whileAlive, type Hosts } from './single-node.js'

export const RESTART_ID = 'restart-100k'
export const DEFAULT_RESTART_SESSIONS = 100_000

const MESSAGES_PER_SESSION = 10
const SAMPLE_SESSIONS = 100
const BUILD_CONCURRENCY = 100
const PUBLISHERS = 10
const BUILD_TIMEOUT_MS = 15 * 60_000
const CHECK_TIMEOUT_MS = 60_000
/** mosquitto writes its whole db at SIGTERM before it exits. */
const SAVE_TIMEOUT_MS = 120_000
const SETTLE_MS = 1_000
const MB = 1024 * 1024

export interface RestartVariant {
  key: string
  label: string
  broker: BrokerName
  stop: 'kill' | 'term'
}

export const RESTART_VARIANTS: readonly RestartVariant[] = [
  { key: 'meshmq-kill', label: 'meshmq batch, kill -9', broker: 'meshmq', stop: 'kill' },
  { key: 'mosquitto-term', label: 'mosquitto persistence true, SIGTERM', broker: 'mosquitto', stop: 'term' },
  { key: 'mosquitto-kill', label: 'mosquitto persistence true, kill -9', broker: 'mosquitto', stop: 'kill' }
]

/** The rows of the restart table, in order. */
export const RESTART_ROWS: ReadonlyArray<{ key: string, label: string, digits: number }> = [
  { key: 'buildSessionsPerSecond', label: 'sessions set up (CONNECT clean 0, SUBSCRIBE, DISCONNECT), per s', digits: 0 },
  { key: 'publishPerSecond', label: 'QoS 1 messages queued for offline sessions, PUBACKed per s', digits: 0 },
  { key: 'rssBeforeMb', label: 'RSS before the stop, MB', digits: 0 },
  { key: 'stopMs', label: 'stop: ms until the process exited', digits: 0 },
  { key: 'diskMb', label: 'data on disk after the stop, MB', digits: 1 },
  { key: 'firstStartMs', label: 'first start (empty data directory): ms from process start to the MQTT port accepting', digits: 0 },
  { key: 'startMs', label: 'restart: ms from process start to the MQTT port accepting', digits: 0 },
  { key: 'readMs', label: 'meshmq store_restored read_ms (reading the store back)', digits: 0 },
  { key: 'restoredMs', label: 'meshmq store_restored restore_ms (handing it to the actors)', digits: 0 },
  { key: 'restoredSessions', label: 'meshmq store_restored sessions', digits: 0 },
  { key: 'restoredMessages', label: 'meshmq store_restored messages', digits: 0 },
  { key: 'rssAfterMb', label: 'RSS 1 s after the port opened, MB', digits: 0 },
  { key: 'samplePresent', label: `sample of ${SAMPLE_SESSIONS}: reconnected with Session Present`, digits: 0 },
  { key: 'sampleComplete', label: `sample of ${SAMPLE_SESSIONS}: received all ${MESSAGES_PER_SESSION} messages`, digits: 0 },
  { key: 'sampleReceived', label: 'sample: messages received (duplicates included)', digits: 0 },
  { key: 'sampleMs', label: 'sample: ms until every sampled session had its messages (or gave up)', digits: 0 }
]

function progress (line: string): void {
  process.stderr.write(`${line}\n`)
}

/** Bytes of the regular files under `dir`. */
function sizeOnDisk (dir: string): number {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size
  }
  return total
}

/** The fields of meshmq's `store_restored` log line, once it is printed on stdout. */
function watchStoreRestored (broker: RunningBroker): () => Record<string, number> | null {
  let fields: Record<string, number> | null = null
  const lines = createInterface({ input: broker.process.child.stdout })
  lines.on('line', (line) => {
    if (!line.includes('store_restored')) return
    try {
      fields = JSON.parse(line) as Record<string, number>
    } catch {
      fields = Object.fromEntries([...line.matchAll(/(\w+)[=:]\s*(\d+)/g)].map(m => [m[1] ?? '', Number(m[2])]))
    }
  })
  return () => fields
}

async function start (variant: RestartVariant, hosts: Hosts, dir: string, port: number): Promise<RunningBroker> {
  if (variant.broker === 'mosquitto') return await startPersistentMosquitto(hosts.broker, dir, port)
  return await startMeshmq(hosts.broker, port, ['--persistence', 'batch', '--log-level', 'info'], `meshmq ${variant.key}`, {}, dir)
}

/** One build, stop, restart and check against one variant, in a fresh data directory that is removed afterwards. */
export async function runRestart (variant: RestartVariant, hosts: Hosts, sessions: number): Promise<RunOutcome> {
  const dir = mkdtempSync(join(tmpdir(), 'meshmq-bench-restart-'))
  let broker: RunningBroker | undefined
  const label = `[${RESTART_ID}] ${variant.label}`
  try {
    const port = await freePort()
    const firstStarted = performance.now()
    broker = await start(variant, hosts, dir, port)
    const firstStartMs = performance.now() - firstStarted
    broker.process.child.stdout.resume()
    progress(`${label}: setting up ${sessions.toLocaleString('en-US')} sessions and ${(sessions * MESSAGES_PER_SESSION).toLocaleString('en-US')} messages (data in ${dir})`)
    const build = await generate<RestartBuildResult>(hosts, {
      kind: 'restart-build', address: broker.address, sessions, perSession: MESSAGES_PER_SESSION, clientIdPrefix: 'restart-', topicPrefix: 'r/',
      concurrency: BUILD_CONCURRENCY, publishers: PUBLISHERS, inflight: 100, timeoutMs: BUILD_TIMEOUT_MS
    }, BUILD_TIMEOUT_MS + 30_000, broker)
    progress(`${label}: ${build.sessions} sessions in ${Math.round(build.sessionsMs)} ms, ${build.published} messages in ${Math.round(build.publishMs)} ms${build.errors.length > 0 ? `; ${build.errors.join('; ')}` : ''}`)
    const rssBefore = broker.process.rssBytes() ?? Number.NaN

    const stopStarted = performance.now()
    broker.process.child.kill(variant.stop === 'kill' ? 'SIGKILL' : 'SIGTERM')
    await bounded(broker.process.exited, SAVE_TIMEOUT_MS, `${variant.broker} did not exit within ${SAVE_TIMEOUT_MS} ms of the stop signal`)
    const stopMs = performance.now() - stopStarted
    const diskBytes = sizeOnDisk(dir)
    progress(`${label}: stopped in ${Math.round(stopMs)} ms, ${(diskBytes / MB).toFixed(1)} MB on disk; restarting`)

    const restartStarted = performance.now()
    broker = await start(variant, hosts, dir, port)
    const startMs = performance.now() - restartStarted
    const restored = watchStoreRestored(broker)
    await new Promise<void>(resolve => setTimeout(resolve, SETTLE_MS))
    const rssAfter = broker.process.rssBytes() ?? Number.NaN
    const sample = Array.from({ length: Math.min(SAMPLE_SESSIONS, sessions) }, (_, k) => Math.floor(k * sessions / Math.min(SAMPLE_SESSIONS, sessions)))
    const check = await generate<RestartCheckResult>(hosts, {
      kind: 'restart-check', address: broker.address, sample, perSession: MESSAGES_PER_SESSION, clientIdPrefix: 'restart-', timeoutMs: CHECK_TIMEOUT_MS
    }, CHECK_TIMEOUT_MS + 30_000, broker)
    const fields = restored()
    progress(`${label}: port open ${Math.round(startMs)} ms after start; ${check.present}/${check.sessions} present, ${check.complete}/${check.sessions} complete${fields === null ? '' : `; store_restored ${JSON.stringify({ read_ms: fields.read_ms, restore_ms: fields.restore_ms, sessions: fields.sessions, messages: fields.messages })}`}`)
    if (broker.process.exitStatus !== null) throw new BrokerCrashedError(broker.process.describeExit())
    return {
      ok: true,
      figures: {
        buildSessionsPerSecond: build.sessions / build.sessionsMs * 1000,
        publishPerSecond: build.published / build.publishMs * 1000,
        rssBeforeMb: rssBefore / MB,
        stopMs,
        firstStartMs,
        diskMb: diskBytes / MB,
        startMs,
        ...(fields === null ? {} : { readMs: fields.read_ms ?? Number.NaN, restoredMs: fields.restore_ms ?? Number.NaN, restoredSessions: fields.sessions ?? Number.NaN, restoredMessages: fields.messages ?? Number.NaN }),
        rssAfterMb: rssAfter / MB,
        samplePresent: check.present,
        sampleComplete: check.complete,
        sampleReceived: check.received,
        sampleMs: check.ms
      },
      integrity: { lost: 0, duplicated: check.duplicated, outOfOrder: 0, unexpected: check.unexpected, unacked: 0, errors: [...build.errors, ...check.errors] },
      generatorBusy: null
    }
  } catch (err) {
    return { ok: false, failure: describeFailure(err) }
  } finally {
    await broker?.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function generate<T> (hosts: Hosts, workload: RestartBuildWorkload | RestartCheckWorkload, timeoutMs: number, broker: RunningBroker): Promise<T> {
  const generator = new GeneratorProcess(hosts.generator, workload, workload.kind, { echoStderr: true })
  try {
    return await whileAlive(generator.expect<T>('RESULT', timeoutMs), [broker])
  } finally {
    await generator.stop()
  }
}

async function bounded<T> (work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([work, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new BenchTimeoutError(message)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

/** The scenario's markdown section: one column per variant. */
export function renderRestart (entries: ReadonlyArray<{ variant: RestartVariant, outcome: RunOutcome }>, sessions: number): string[] {
  const out = [
    `## ${RESTART_ID}: restart with ${sessions.toLocaleString('en-US')} persistent sessions and ${(sessions * MESSAGES_PER_SESSION).toLocaleString('en-US')} queued QoS 1 messages`,
    '',
    `One run each. Data directories on ${dataDirFileSystem()} (${tmpdir()}). mosquitto saves its db only every autosave_interval (1800 s) and at a clean shutdown, so a kill -9 loses what it queued since the last save; meshmq's batch mode acknowledged each message only after the fsync'd commit holding it.`,
    '',
    `| metric | ${entries.map(e => e.variant.label).join(' | ')} |`,
    `| --- | ${entries.map(() => '---').join(' | ')} |`
  ]
  for (const row of RESTART_ROWS) {
    const cells = entries.map(({ outcome }) => {
      if (!outcome.ok) return 'failed'
      const v = outcome.figures[row.key]
      return v === undefined || !Number.isFinite(v) ? '–' : v.toLocaleString('en-US', { minimumFractionDigits: row.digits, maximumFractionDigits: row.digits })
    })
    out.push(`| ${row.label} | ${cells.join(' | ')} |`)
  }
  out.push('')
  for (const { variant, outcome } of entries) {
    if (!outcome.ok) out.push(`- ${variant.label}: FAILED ${outcome.failure}`)
    else if (outcome.integrity.errors.length > 0 || outcome.integrity.duplicated > 0 || outcome.integrity.unexpected > 0) {
      out.push(`- ${variant.label}: ${outcome.integrity.duplicated} duplicated, ${outcome.integrity.unexpected} unexpected; ${outcome.integrity.errors.slice(0, 3).join('; ')}${outcome.integrity.errors.length > 3 ? ` (+${outcome.integrity.errors.length - 3} more)` : ''}`)
    }
  }
  out.push('')
  return out
}
