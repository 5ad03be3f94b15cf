/**
 * Command-line flags of `npm run bench -- [flags]`.
 */
import { parseArgs } from 'node:util'
import { BROKER_NAMES, type BrokerName } from './brokers.js'
import { SCENARIOS, type ScenarioId } from './scenarios.js'
import { CLUSTER_SCENARIO_IDS, type ClusterScenarioId } from './cluster-scenarios.js'
import { MIN_PAYLOAD_BYTES } from './payload.js'
import { UsageError } from './errors.js'
import { PERSISTENT_PAIRS_ID } from './persistent-pairs.js'
import { DEFAULT_RESTART_SESSIONS, RESTART_ID } from './restart-scenario.js'

/** Scenarios that run only when `--only` names them. */
export const PERSISTENCE_SCENARIO_IDS = [PERSISTENT_PAIRS_ID, RESTART_ID] as const

export interface BenchOptions {
  runs: number
  seconds: number
  /** Single-node scenarios to run, in catalogue order. */
  scenarios: ScenarioId[]
  /** `pairs-qos1-persistent`: named in --only. */
  persistentPairs: boolean
  /** `restart-100k`: named in --only. */
  restart: boolean
  /** Persistent sessions the restart scenario builds (10 queued messages each). */
  restartSessions: number
  /** Cluster scenarios to run (empty without --cluster). */
  clusterScenarios: ClusterScenarioId[]
  brokers: BrokerName[]
  payloadBytes: number
  pacedRate: number
  window: number
  inflight: number
  maxMessages: number
  convergenceTrials: number
  syncRoutes: number
  pin: boolean
  /** `--meshmq-root`: checkout whose dist/src/main.js runs as meshmq, or null for this one. */
  meshmqRoot: string | null
  /** Names the result file: `all`, `cluster`, or the --only list. */
  setName: string
}

export const USAGE = `usage: npm run bench -- [flags]

  --runs N            runs per scenario per broker (default 3)
  --seconds S         publishing time per run (default 5; the first fifth, at most 1 s, is warm-up)
  --only LIST         comma-separated scenarios: ${[...SCENARIOS.map(s => s.id), ...PERSISTENCE_SCENARIO_IDS, ...CLUSTER_SCENARIO_IDS].join(', ')}
                      (${PERSISTENCE_SCENARIO_IDS.join(' and ')} run only when named here)
  --brokers LIST      comma-separated brokers: ${BROKER_NAMES.join(', ')} (default all; meshmq is always the ratio's numerator;
                      floor, the bare-socket memory floor, runs only the idle rows)
  --cluster           also run the 3-node cluster scenarios (meshmq only)
  --payload BYTES     payload size (default 64, at least ${MIN_PAYLOAD_BYTES})
  --rate N            total msg/s of the paced scenario (default 10000)
  --window N          max messages a publisher runs ahead of its slowest subscriber (default 1000)
  --inflight N        QoS 1 PUBLISHes a publisher may have without PUBACK (default 100)
  --max-messages N    cap on messages published per run (default 50000000)
  --trials N          route convergence trials, and session takeovers, per run (default 200)
  --routes N          routes held for the join-sync scenario (default 100000)
  --sessions N        persistent sessions of ${RESTART_ID} (default ${DEFAULT_RESTART_SESSIONS}; 10 queued messages each)
  --no-pin            do not pin the broker to CPU 0 and the generator to CPU 1
  --meshmq-root DIR   run meshmq from DIR/dist/src/main.js, another built checkout (default: this one)
  --help              print this text
`

export function parseOptions (argv: readonly string[]): BenchOptions | null {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      runs: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '5' },
      only: { type: 'string' },
      brokers: { type: 'string', default: BROKER_NAMES.join(',') },
      cluster: { type: 'boolean', default: false },
      payload: { type: 'string', default: '64' },
      rate: { type: 'string', default: '10000' },
      window: { type: 'string', default: '1000' },
      inflight: { type: 'string', default: '100' },
      'max-messages': { type: 'string', default: '50000000' },
      trials: { type: 'string', default: '200' },
      routes: { type: 'string', default: '100000' },
      sessions: { type: 'string', default: String(DEFAULT_RESTART_SESSIONS) },
      'no-pin': { type: 'boolean', default: false },
      'meshmq-root': { type: 'string' },
      help: { type: 'boolean', default: false }
    }
  })
  if (values.help) return null

  const only = values.only === undefined ? null : list(values.only)
  const known = new Set<string>([...SCENARIOS.map(s => s.id), ...PERSISTENCE_SCENARIO_IDS, ...CLUSTER_SCENARIO_IDS])
  for (const id of only ?? []) if (!known.has(id)) throw new UsageError(`unknown scenario "${id}"`)
  const scenarios = SCENARIOS.map(s => s.id).filter(id => only === null || only.includes(id))
  const clusterScenarios = CLUSTER_SCENARIO_IDS.filter(id => only === null ? values.cluster : only.includes(id))
  if (clusterScenarios.length > 0 && !values.cluster) throw new UsageError('cluster scenarios need --cluster')

  const brokers = list(values.brokers)
  for (const name of brokers) if (!(BROKER_NAMES as readonly string[]).includes(name)) throw new UsageError(`unknown broker "${name}"`)

  const payloadBytes = integer('payload', values.payload, MIN_PAYLOAD_BYTES)
  return {
    runs: integer('runs', values.runs, 1),
    seconds: positive('seconds', values.seconds),
    scenarios,
    persistentPairs: only?.includes(PERSISTENT_PAIRS_ID) ?? false,
    restart: only?.includes(RESTART_ID) ?? false,
    restartSessions: integer('sessions', values.sessions, 1),
    clusterScenarios,
    brokers: BROKER_NAMES.filter(name => brokers.includes(name)),
    payloadBytes,
    pacedRate: integer('rate', values.rate, 1),
    window: integer('window', values.window, 1),
    inflight: Math.min(integer('inflight', values.inflight, 1), 0xffff),
    maxMessages: integer('max-messages', values['max-messages'], 1),
    convergenceTrials: integer('trials', values.trials, 1),
    syncRoutes: integer('routes', values.routes, 1),
    pin: !values['no-pin'],
    meshmqRoot: values['meshmq-root'] === undefined ? null : nonEmpty('meshmq-root', values['meshmq-root']),
    setName: only === null ? (values.cluster ? 'all+cluster' : 'all') : only.join('+')
  }
}

function list (text: string): string[] {
  return text.split(',').map(s => s.trim()).filter(s => s !== '')
}

function nonEmpty (flag: string, text: string): string {
  if (text.trim() === '') throw new UsageError(`--${flag} needs a directory`)
  return text
}

function integer (flag: string, text: string, min: number): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} needs an integer ≥ ${min}, got "${text}"`)
  return n
}

function positive (flag: string, text: string): number {
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} needs a positive number, got "${text}"`)
  return n
}
