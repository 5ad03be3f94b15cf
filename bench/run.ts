/**
 * `npm run bench`: runs the selected scenarios against meshmq and its peers (a fresh broker per run,
 * brokers alternated within each run), prints a markdown table and writes it to
 * bench/results/<date>-<scenario set>.md. Progress goes to stderr, the table to stdout.
 */
import { accessSync, constants, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { basename, delimiter, dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { findMosquitto, meshmqMain, MOSQUITTO_MISSING, runsScenario, type BenchTls, type BrokerName } from './brokers.js'
import { runTlsScenario } from './tls-runs.js'
import { createTestCertificates, type TestCertificates } from '../test/helpers/test-certificates.js'
import { parseOptions, USAGE, type BenchOptions } from './options.js'
import { SCENARIOS, type LoadSettings, type Scenario } from './scenarios.js'
import { runIdleScenario, runThroughputScenario, type Hosts } from './single-node.js'
import { ClusterStartError, CLUSTER_ROWS, runClusterScenario } from './cluster-scenarios.js'
import { describeMachine } from './machine.js'
import { renderReport, type ClusterRuns, type ScenarioRuns } from './report.js'
import type { RunOutcome } from './outcome.js'
import { ScenarioSkippedError, UsageError } from './errors.js'
import { PERSISTENCE_VARIANTS, renderPersistentPairs, runPersistentPairs, type VariantRuns } from './persistent-pairs.js'
import { RESTART_VARIANTS, renderRestart, runRestart, RESTART_ID } from './restart-scenario.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const BROKER_CPU = 0
const GENERATOR_CPU = 1

function progress (line: string): void {
  process.stderr.write(`${line}\n`)
}

function onPath (name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    if (dir === '') return false
    try {
      accessSync(join(dir, name), constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

function summarize (scenario: { metrics: ReadonlyArray<{ key: string, label: string, digits: number }> }, outcome: RunOutcome): string {
  if (!outcome.ok) return `FAILED ${outcome.failure}`
  const figures = scenario.metrics.map(m => `${(outcome.figures[m.key] ?? Number.NaN).toLocaleString('en-US', { maximumFractionDigits: m.digits })} ${m.label}`)
  const i = outcome.integrity
  const faults = [['lost', i.lost], ['dup', i.duplicated], ['ooo', i.outOfOrder], ['unexpected', i.unexpected], ['unacked', i.unacked]].filter(([, n]) => n !== 0).map(([k, n]) => `${String(n)} ${String(k)}`)
  const busy = outcome.generatorBusy === null ? [] : [`generator ${Math.round(outcome.generatorBusy * 100)}% busy`]
  return [figures.join(', '), ...busy, ...faults, ...i.errors.slice(0, 2)].join('; ')
}

async function main (options: BenchOptions): Promise<void> {
  const notes: string[] = []
  const mosquitto = findMosquitto()
  let brokers: BrokerName[] = options.brokers
  if (brokers.includes('mosquitto') && mosquitto === null) {
    process.stdout.write(`${MOSQUITTO_MISSING}\n`)
    notes.push(`${MOSQUITTO_MISSING} (peer skipped)`)
    brokers = brokers.filter(b => b !== 'mosquitto')
  }
  const meshmqRoot = options.meshmqRoot === null ? root : resolve(options.meshmqRoot)
  const meshmqBuilt = existsSync(meshmqMain({ meshmqRoot }))
  if (!meshmqBuilt && (brokers.includes('meshmq') || options.clusterScenarios.length > 0)) {
    const line = `meshmq not built: ${meshmqMain({ meshmqRoot })} is missing (npm run build in ${meshmqRoot}); meshmq skipped`
    process.stdout.write(`${line}\n`)
    notes.push(line)
    brokers = brokers.filter(b => b !== 'meshmq')
  }

  const pin = options.pin && os.availableParallelism() >= 2 && onPath('taskset')
  if (options.pin && !pin) notes.push('not pinned: needs 2 CPUs and taskset (util-linux)')
  const hosts: Hosts = {
    broker: { root, meshmqRoot, cpu: pin ? BROKER_CPU : null, mosquitto, inflight: options.inflight },
    generator: { root, cpu: pin ? GENERATOR_CPU : null }
  }
  const settings: LoadSettings = {
    seconds: options.seconds,
    payloadBytes: options.payloadBytes,
    maxMessages: options.maxMessages,
    window: options.window,
    inflight: options.inflight,
    pacedRate: options.pacedRate
  }

  // The TLS scenarios' certificates: made on first use with openssl, removed at the end.
  let certificates: TestCertificates | undefined
  const benchTls = async (): Promise<BenchTls> => {
    certificates ??= await createTestCertificates()
    return { certFile: certificates.server.certFile, keyFile: certificates.server.keyFile, caFile: certificates.ca.certFile }
  }

  const single: ScenarioRuns[] = []
  const selected: Scenario[] = SCENARIOS.filter(s => options.scenarios.includes(s.id))
  // The floor has a column only when a row it runs is selected (idle rows, and those marked `floor`).
  if (!selected.some(s => runsScenario('floor', s))) brokers = brokers.filter(b => b !== 'floor')
  if (brokers.length > 0) {
    for (const scenario of selected) {
      const scenarioBrokers = brokers.filter(b => runsScenario(b, scenario))
      const runs = new Map<BrokerName, RunOutcome[]>(scenarioBrokers.map(b => [b, []]))
      single.push({ scenario, runs })
      for (let run = 1; run <= options.runs; run++) {
        for (const broker of scenarioBrokers) {
          const outcome = scenario.kind === 'throughput'
            ? await runThroughputScenario(scenario, broker, hosts, settings)
            : scenario.kind === 'tls'
              ? await runTlsScenario(scenario, broker, hosts, settings, await benchTls())
              : await runIdleScenario(scenario, broker, hosts)
          runs.get(broker)?.push(outcome)
          progress(`[${scenario.id}] run ${run}/${options.runs} ${broker}: ${summarize(scenario, outcome)}`)
        }
      }
    }
  }

  certificates?.remove()

  const sections: string[][] = []
  if (options.persistentPairs) {
    const entries: VariantRuns[] = PERSISTENCE_VARIANTS.filter(v => brokers.includes(v.broker)).map(variant => ({ variant, runs: [] }))
    for (let run = 1; run <= options.runs; run++) {
      for (const entry of entries) {
        const outcome = await runPersistentPairs(entry.variant, hosts, settings)
        entry.runs.push(outcome)
        progress(`[pairs-qos1-persistent] run ${run}/${options.runs} ${entry.variant.label}: ${summarize({ metrics: [{ key: 'msgPerSecond', label: 'msg/s delivered', digits: 0 }] }, outcome)}`)
      }
    }
    if (entries.length > 0) sections.push(renderPersistentPairs(entries))
  }
  if (options.restart) {
    const entries = []
    for (const variant of RESTART_VARIANTS.filter(v => brokers.includes(v.broker))) {
      const outcome = await runRestart(variant, hosts, options.restartSessions)
      entries.push({ variant, outcome })
      progress(`[${RESTART_ID}] ${variant.label}: ${outcome.ok ? JSON.stringify(outcome.figures) : `FAILED ${outcome.failure}`}`)
    }
    if (entries.length > 0) sections.push(renderRestart(entries, options.restartSessions))
  }

  const cluster: ClusterRuns[] = []
  if (options.clusterScenarios.length > 0 && meshmqBuilt) {
    const clusterSettings = { ...settings, convergenceTrials: options.convergenceTrials, syncRoutes: options.syncRoutes }
    try {
      for (const id of options.clusterScenarios) {
        const entry: ClusterRuns = { scenario: id, runs: [] }
        for (let run = 1; run <= options.runs; run++) {
          let outcome: RunOutcome
          try {
            outcome = await runClusterScenario(id, hosts, clusterSettings)
          } catch (err) {
            if (!(err instanceof ScenarioSkippedError)) throw err
            const line = `${id} skipped: ${err.message}`
            process.stdout.write(`${line}\n`)
            notes.push(line)
            break
          }
          if (entry.runs.length === 0) cluster.push(entry)
          entry.runs.push(outcome)
          progress(`[${id}] run ${run}/${options.runs}: ${summarize({ metrics: CLUSTER_ROWS.filter(r => r.scenario === id).map(r => r.metric) }, outcome)}`)
        }
      }
    } catch (err) {
      if (!(err instanceof ClusterStartError)) throw err
      const line = `cluster scenarios skipped: the 3-node cluster did not start (${err.message})`
      process.stdout.write(`${line}\n`)
      notes.push(line)
    }
  }

  const machine = describeMachine(root, meshmqRoot, mosquitto)
  const settingsLine = [
    `Settings: ${options.runs} run(s) × ${options.seconds} s per scenario and broker, payload ${options.payloadBytes} B`,
    pin ? `broker on CPU ${BROKER_CPU}, generator on CPU ${GENERATOR_CPU}` : 'no CPU pinning',
    `a fresh broker process per run, alternated ${brokers.join(' → ')}`,
    `paced rate ${options.pacedRate.toLocaleString('en-US')} msg/s`,
    `publisher window ${options.window.toLocaleString('en-US')} messages`,
    `QoS 1 in-flight ${options.inflight}.`
  ].join(', ')
  const report = renderReport({ machine, settingsLine, brokers, single, cluster, notes, sections })
  const dir = join(root, 'bench', 'results')
  mkdirSync(dir, { recursive: true })
  const build = meshmqRoot === root ? '' : `-meshmq-${basename(meshmqRoot)}`
  const file = join(dir, `${machine.date.slice(0, 10)}-${`${options.setName}${build}`.replace(/[^a-z0-9+.-]/gi, '_')}.md`)
  writeFileSync(file, report)
  process.stdout.write(`${report}\n`)
  progress(`written to ${relative(process.cwd(), file)}`)
}

let options: BenchOptions | null
try {
  options = parseOptions(process.argv.slice(2))
} catch (err) {
  if (!(err instanceof UsageError) && !(err instanceof TypeError)) throw err
  process.stderr.write(`${err.message}\n\n${USAGE}`)
  process.exit(2)
}
if (options === null) {
  process.stdout.write(USAGE)
} else {
  await main(options)
}
