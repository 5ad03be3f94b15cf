/**
 * `pairs-qos1-persistent`: `pairs-qos1` with subscribers that hold persistent sessions (MQTT 3.1.1
 * clean session 0), so the broker records every QoS 1 delivery and removes the record at the
 * subscriber's PUBACK. meshmq runs once per `--persistence` mode, mosquitto with `persistence
 * true`; the table compares each mode with mosquitto and with meshmq's `off`.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../test/helpers/ports.js'
import { startMeshmq, startPersistentMosquitto, type BrokerName, type RunningBroker } from './brokers.js'
import { GENERATOR_BUSY_LIMIT, type RunOutcome } from './outcome.js'
import { pairs, type LoadSettings } from './scenarios.js'
import { integrityOf, runThroughputWorkload, withStartedBroker, type Hosts } from './single-node.js'
import { spread } from './stats.js'

export const PERSISTENT_PAIRS_ID = 'pairs-qos1-persistent'

/** One broker set-up of the scenario: a meshmq persistence mode, or mosquitto with persistence. */
export interface PersistenceVariant {
  key: string
  label: string
  broker: BrokerName
  /** meshmq's `--persistence` mode; absent for mosquitto. */
  mode?: 'off' | 'none' | 'batch' | 'sync'
}

export const PERSISTENCE_VARIANTS: readonly PersistenceVariant[] = [
  { key: 'off', label: 'meshmq --persistence off (memory only)', broker: 'meshmq', mode: 'off' },
  { key: 'none', label: 'meshmq --persistence none (written, no fsync)', broker: 'meshmq', mode: 'none' },
  { key: 'batch', label: 'meshmq --persistence batch (2 ms group commit, fsync)', broker: 'meshmq', mode: 'batch' },
  { key: 'sync', label: 'meshmq --persistence sync (back-to-back commits, fsync)', broker: 'meshmq', mode: 'sync' },
  { key: 'mosquitto', label: 'mosquitto persistence true (db saved every 1800 s and at shutdown, no fsync per message)', broker: 'mosquitto' }
]

export interface VariantRuns {
  variant: PersistenceVariant
  runs: RunOutcome[]
}

/** One run of the persistent pairs load against one variant, on a fresh broker and a fresh data directory. */
export async function runPersistentPairs (variant: PersistenceVariant, hosts: Hosts, settings: LoadSettings): Promise<RunOutcome> {
  const dir = mkdtempSync(join(tmpdir(), 'meshmq-bench-persistent-'))
  const start = async (): Promise<RunningBroker> => variant.broker === 'mosquitto'
    ? await startPersistentMosquitto(hosts.broker, dir)
    : await startMeshmq(hosts.broker, await freePort(), ['--persistence', variant.mode ?? 'batch'], `meshmq ${variant.key}`, {}, dir)
  try {
    return await withStartedBroker(start, async (broker) => {
      const workload = { ...pairs(settings, broker.address, broker.address, 1, null), persistentSubscribers: true }
      const result = await runThroughputWorkload(hosts.generator, workload, broker)
      return { ok: true, figures: { msgPerSecond: result.deliveredPerSecond }, integrity: integrityOf(result), generatorBusy: result.generatorBusy }
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The file system type the brokers' data directories are made on (the OS temp directory). */
export function dataDirFileSystem (): string {
  try {
    return execFileSync('findmnt', ['-n', '-o', 'FSTYPE,SOURCE', '--target', tmpdir()], { encoding: 'utf8' }).trim().replace(/\s+/, ' on ')
  } catch {
    return 'unknown'
  }
}

/** The scenario's markdown section: msg/s per variant, ÷ mosquitto and ÷ meshmq off. */
export function renderPersistentPairs (entries: readonly VariantRuns[]): string[] {
  const medians = new Map(entries.map(e => [e.variant.key, spread(e.runs.flatMap(r => r.ok ? [r.figures.msgPerSecond ?? Number.NaN] : []).filter(Number.isFinite))]))
  const ratio = (key: string, to: string): string => {
    const a = medians.get(key)
    const b = medians.get(to)
    return a === undefined || b === undefined || a === null || b === null || b.median === 0 || key === to ? '' : `${(a.median / b.median).toFixed(2)}×`
  }
  const num = (n: number): string => Math.round(n).toLocaleString('en-US')
  const out = [
    `## ${PERSISTENT_PAIRS_ID}: 10 one-to-one pairs, QoS 1, subscribers with persistent sessions (clean session 0)`,
    '',
    `Data directories on ${dataDirFileSystem()} (${tmpdir()}). Cells: median (min–max) msg/s delivered; † the generator used ≥ ${GENERATOR_BUSY_LIMIT * 100}% of its core in a run. Target (issue 11): batch ÷ off ≥ 0.5.`,
    '',
    '| broker and persistence | msg/s delivered | ÷ mosquitto persistence true | ÷ meshmq off | faults |',
    '| --- | --- | --- | --- | --- |'
  ]
  for (const { variant, runs } of entries) {
    const s = medians.get(variant.key) ?? null
    const failed = runs.filter(r => !r.ok).length
    const cellText = s === null ? 'failed' : `${num(s.median)}${s.count > 1 ? ` (${num(s.min)}–${num(s.max)})` : ''}${failed > 0 ? ` [${failed} failed]` : ''}`
    const faults = runs.flatMap((r, i) => {
      if (!r.ok) return [`run ${i + 1}: ${r.failure}`]
      const f = r.integrity
      const counts = [['lost', f.lost], ['duplicated', f.duplicated], ['out of order', f.outOfOrder], ['unexpected', f.unexpected], ['unacked', f.unacked]].filter(([, n]) => n !== 0).map(([k, n]) => `${String(n)} ${String(k)}`)
      return counts.length === 0 && f.errors.length === 0 ? [] : [`run ${i + 1}: ${[...counts, ...f.errors.slice(0, 2)].join(', ')}`]
    })
    const busy = runs.some(r => r.ok && r.generatorBusy !== null && r.generatorBusy >= GENERATOR_BUSY_LIMIT) ? ' †' : ''
    out.push(`| ${[variant.label, cellText + busy, variant.broker === 'meshmq' ? ratio(variant.key, 'mosquitto') : '', variant.broker === 'meshmq' ? ratio(variant.key, 'off') : '', faults.join('; ') || 'none'].map(c => c.replaceAll('|', '\\|')).join(' | ')} |`)
  }
  out.push('')
  return out
}
