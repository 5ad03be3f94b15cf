/**
 * Renders the collected runs as markdown: header (machine, date, settings), the side-by-side table
 * with meshmq/peer ratios, the cluster table, delivery faults and failed runs.
 */
import type { BrokerName } from './brokers.js'
import type { MachineInfo } from './machine.js'
import type { Metric, Scenario } from './scenarios.js'
import { CLUSTER_ROWS, CLUSTER_TITLES, type ClusterScenarioId } from './cluster-scenarios.js'
import { GENERATOR_BUSY_LIMIT, type RunOutcome } from './outcome.js'
import { spread, type Spread } from './stats.js'

export interface ScenarioRuns {
  scenario: Scenario
  runs: Map<BrokerName, RunOutcome[]>
}

export interface ClusterRuns {
  scenario: ClusterScenarioId
  runs: RunOutcome[]
}

export interface ReportInput {
  machine: MachineInfo
  settingsLine: string
  brokers: BrokerName[]
  single: ScenarioRuns[]
  cluster: ClusterRuns[]
  /** Lines about peers or scenario sets that were skipped, e.g. mosquitto not installed. */
  notes: string[]
  /** Markdown sections of scenarios with their own tables (persistence), after the single-node table. */
  sections?: string[][]
}

export function renderReport (input: ReportInput): string {
  const m = input.machine
  const out: string[] = [
    `# meshmq benchmark, ${m.date}`,
    '',
    `Machine: ${m.nproc} × ${m.cpuModel} (nproc ${m.nproc}), ${m.kernel}, Node ${m.node}; peers: aedes ${m.aedes}, mosquitto ${m.mosquitto ?? 'not installed'}.`,
    '',
    `meshmq under test: ${m.meshmq}`,
    '',
    input.settingsLine,
    ''
  ]
  for (const note of input.notes) out.push(`- ${note}`)
  if (input.notes.length > 0) out.push('')

  if (input.single.length > 0) {
    const peers = input.brokers.filter(b => b !== 'meshmq')
    const hasMeshmq = input.brokers.includes('meshmq')
    out.push(`Cells: median (min–max) over the runs. Ratio: meshmq median ÷ peer median; on rows marked ↓ lower is better. † the generator used ≥ ${GENERATOR_BUSY_LIMIT * 100}% of its core in a run, so the figure may be the generator's limit rather than the broker's.`, '')
    const header = ['scenario', 'metric', ...input.brokers, ...(hasMeshmq ? peers.map(p => `meshmq/${p}`) : [])]
    out.push(row(header), row(header.map(() => '---')))
    for (const { scenario, runs } of input.single) {
      for (const metric of scenario.metrics) {
        const spreads = new Map(input.brokers.map(b => [b, spreadOf(runs.get(b) ?? [], metric.key)]))
        const cells = input.brokers.map(b => cell(spreads.get(b) ?? null, metric, runs.get(b) ?? []))
        const ratios = hasMeshmq ? peers.map(p => ratio(spreads.get('meshmq') ?? null, spreads.get(p) ?? null)) : []
        out.push(row([scenario.title, `${metric.label}${metric.higherIsBetter ? '' : ' ↓'}`, ...cells, ...ratios]))
      }
    }
    out.push('')
  }

  for (const section of input.sections ?? []) out.push(...section)

  if (input.cluster.length > 0) {
    out.push('## Cluster (3 meshmq nodes on the broker CPU: on 127.0.0.1 with static seeds, or in the netns lab for mDNS)', '')
    out.push(row(['scenario', 'metric', 'meshmq cluster', 'single node', 'cluster/single', 'target']), row(['---', '---', '---', '---', '---', '---']))
    for (const { scenario, runs } of input.cluster) {
      for (const r of CLUSTER_ROWS.filter(x => x.scenario === scenario)) {
        const value = spreadOf(runs, r.metric.key)
        const reference = r.referenceKey === null ? null : spreadOf(runs, r.referenceKey)
        out.push(row([
          CLUSTER_TITLES[scenario],
          `${r.metric.label}${r.metric.higherIsBetter ? '' : ' ↓'}`,
          cell(value, r.metric, runs),
          reference === null ? '' : cell(reference, r.metric, runs),
          reference === null ? '' : ratio(value, reference),
          r.target
        ]))
      }
    }
    out.push('')
  }

  out.push('## Delivery faults (summed over runs)', '')
  const faults: string[] = []
  const failures: string[] = []
  const collect = (title: string, broker: string, outcomes: readonly RunOutcome[]): void => {
    const sum = { lost: 0, duplicated: 0, outOfOrder: 0, unexpected: 0, unacked: 0 }
    const errors: string[] = []
    outcomes.forEach((o, i) => {
      if (!o.ok) { failures.push(`- ${title} / ${broker} run ${i + 1}: ${o.failure}`); return }
      sum.lost += o.integrity.lost
      sum.duplicated += o.integrity.duplicated
      sum.outOfOrder += o.integrity.outOfOrder
      sum.unexpected += o.integrity.unexpected
      sum.unacked += o.integrity.unacked
      for (const e of o.integrity.errors) errors.push(`run ${i + 1}: ${e}`)
    })
    if (Object.values(sum).some(v => v !== 0) || errors.length > 0) {
      faults.push(row([title, broker, fmt(sum.lost), fmt(sum.duplicated), fmt(sum.outOfOrder), fmt(sum.unexpected), fmt(sum.unacked), errors.slice(0, 3).join('; ') + (errors.length > 3 ? ` (+${errors.length - 3} more)` : '')]))
    }
  }
  for (const { scenario, runs } of input.single) for (const b of input.brokers) collect(scenario.title, b, runs.get(b) ?? [])
  for (const { scenario, runs } of input.cluster) collect(CLUSTER_TITLES[scenario], 'meshmq cluster', runs)
  if (faults.length === 0) {
    out.push('None: in every completed run each subscriber received every message once and in order.')
  } else {
    out.push(row(['scenario', 'broker', 'lost', 'duplicated', 'out of order', 'unexpected', 'QoS 1 unacked', 'errors']), row(['---', '---', '---', '---', '---', '---', '---', '---']), ...faults)
  }
  out.push('')
  if (failures.length > 0) out.push('## Failed runs', '', ...failures, '')
  return out.join('\n')
}

function spreadOf (outcomes: readonly RunOutcome[], key: string): Spread | null {
  const values: number[] = []
  for (const o of outcomes) {
    const v = o.ok ? o.figures[key] : undefined
    if (v !== undefined && Number.isFinite(v)) values.push(v)
  }
  return spread(values)
}

function cell (s: Spread | null, metric: Metric, outcomes: readonly RunOutcome[]): string {
  if (s === null) return outcomes.length === 0 ? 'skipped' : 'failed'
  const failed = outcomes.filter(o => !o.ok).length
  const range = s.count > 1 ? ` (${num(s.min, metric.digits)}–${num(s.max, metric.digits)})` : ''
  const busy = metric.generatorSensitive && outcomes.some(o => o.ok && o.generatorBusy !== null && o.generatorBusy >= GENERATOR_BUSY_LIMIT)
  return `${num(s.median, metric.digits)}${range}${busy ? ' †' : ''}${failed > 0 ? ` [${failed} failed]` : ''}`
}

function ratio (a: Spread | null, b: Spread | null): string {
  if (a === null || b === null || b.median === 0) return ''
  return `${(a.median / b.median).toFixed(2)}×`
}

function num (value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function fmt (value: number): string {
  return value.toLocaleString('en-US')
}

function row (cells: readonly string[]): string {
  return `| ${cells.map(c => c.replaceAll('|', '\\|')).join(' | ')} |`
}
