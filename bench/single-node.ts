/**
 * Runs single-node scenarios: a fresh broker process per run, the generator in its own process,
 * a broker exit during the run reported as a crash.
 */
import { startBroker, type BenchTls, type BrokerHost, type BrokerName, type FloorMode, type PeerSockets, type RunningBroker } from './brokers.js'
import { GeneratorProcess, type GeneratorHost } from './generator-process.js'
import { BrokerCrashedError } from './errors.js'
import { CLEAN, describeFailure, type Integrity, type RunOutcome } from './outcome.js'
import type { IdleScenario, LoadSettings, ThroughputScenario } from './scenarios.js'
import type { IdleReady, ThroughputResult, ThroughputWorkload } from './workload.js'

/** Connections per idle generator process, well below the 20,000 open files a process may have. */
const IDLE_CONNECTIONS_PER_GENERATOR = 9_500
const IDLE_CONCURRENCY = 100
const IDLE_TIMEOUT_MS = 180_000
const SETTLE_MS = 1_000
/** Setup, route probing and drain on top of the publishing time. */
const GENERATOR_SLACK_MS = 120_000

export interface Hosts {
  broker: BrokerHost
  generator: GeneratorHost
}

export async function runThroughputScenario (scenario: ThroughputScenario, brokerName: BrokerName, hosts: Hosts, settings: LoadSettings): Promise<RunOutcome> {
  return await withBroker(brokerName, hosts, scenario.peerSockets, async (broker) => {
    const workload = scenario.build(settings, broker.address, broker.address)
    const result = await runThroughputWorkload(hosts.generator, workload, broker)
    return { ok: true, figures: scenario.figures(result), integrity: integrityOf(result), generatorBusy: result.generatorBusy }
  }, undefined, 'relay')
}

/** Runs a throughput workload in a generator process, failing early if `broker` exits meanwhile. */
export async function runThroughputWorkload (host: GeneratorHost, workload: ThroughputWorkload, ...brokers: RunningBroker[]): Promise<ThroughputResult> {
  const generator = new GeneratorProcess(host, workload, 'generator')
  try {
    return await whileAlive(generator.expect<ThroughputResult>('RESULT', workload.seconds * 1000 + GENERATOR_SLACK_MS), brokers)
  } finally {
    await generator.stop()
  }
}

export function integrityOf (result: ThroughputResult): Integrity {
  return { lost: result.lost, duplicated: result.duplicated, outOfOrder: result.outOfOrder, unexpected: result.unexpected, unacked: result.unacked, errors: result.errors }
}

export async function runIdleScenario (scenario: IdleScenario, brokerName: BrokerName, hosts: Hosts): Promise<RunOutcome> {
  return await withBroker(brokerName, hosts, 'default', async (broker) => {
    await sleep(SETTLE_MS)
    const baseline = broker.process.rssBytes() ?? 0
    const shares: number[] = []
    for (let left = scenario.connections; left > 0; left -= IDLE_CONNECTIONS_PER_GENERATOR) shares.push(Math.min(left, IDLE_CONNECTIONS_PER_GENERATOR))
    const generators = shares.map((connections, g) => new GeneratorProcess(hosts.generator, {
      kind: 'idle', connectTo: broker.address, connections, concurrency: IDLE_CONCURRENCY, clientIdPrefix: `idle-${g}`, timeoutMs: IDLE_TIMEOUT_MS
    }, `idle generator ${g}`))
    try {
      const readies = await whileAlive(Promise.all(generators.map(async g => await g.expect<IdleReady>('READY', IDLE_TIMEOUT_MS + 10_000))), [broker])
      await sleep(SETTLE_MS)
      const rss = broker.process.rssBytes()
      if (rss === null) throw new BrokerCrashedError(broker.process.describeExit())
      const connected = readies.reduce((n, r) => n + r.connected, 0)
      const failed = readies.reduce((n, r) => n + r.failed, 0)
      const seconds = (Math.max(...readies.map(r => r.finishedAt)) - Math.min(...readies.map(r => r.startedAt))) / 1000
      const errors = failed === 0 ? [] : [`${failed} of ${scenario.connections} connects failed (${readies.find(r => r.firstError !== null)?.firstError ?? 'no reason given'})`]
      for (const g of generators) g.send('close')
      return {
        ok: true,
        figures: { connectsPerSecond: connected / Math.max(seconds, 1e-3), rssPerConnectionKb: (rss - baseline) / Math.max(connected, 1) / 1024 },
        integrity: { ...CLEAN, errors },
        generatorBusy: readies.reduce((sum, r) => sum + r.generatorBusy, 0)
      }
    } finally {
      await Promise.all(generators.map(async g => { await g.stop() }))
    }
  })
}

/** Runs `body` against a fresh broker (with a TLS listener when `tls` is given), reporting a crash or failure as the outcome. */
export async function withBroker (name: BrokerName, hosts: Hosts, sockets: PeerSockets, body: (broker: RunningBroker) => Promise<RunOutcome>, tls?: BenchTls, floor?: FloorMode): Promise<RunOutcome> {
  return await withStartedBroker(async () => await startBroker(name, hosts.broker, sockets, tls, floor), body)
}

/** Runs `body` against the broker `start` gives, reporting a crash or failure as the outcome. */
export async function withStartedBroker (start: () => Promise<RunningBroker>, body: (broker: RunningBroker) => Promise<RunOutcome>): Promise<RunOutcome> {
  let broker: RunningBroker
  try {
    broker = await start()
  } catch (err) {
    return { ok: false, failure: describeFailure(err) }
  }
  try {
    const outcome = await body(broker)
    if (broker.process.exitStatus !== null) return { ok: false, failure: describeFailure(new BrokerCrashedError(broker.process.describeExit())) }
    return outcome
  } catch (err) {
    return { ok: false, failure: describeFailure(err) }
  } finally {
    await broker.stop()
  }
}

/** `work`, or a BrokerCrashedError as soon as one of `brokers` exits. */
export async function whileAlive<T> (work: Promise<T>, brokers: readonly RunningBroker[]): Promise<T> {
  const exits = brokers.map(async (broker) => {
    await broker.process.exited
    throw new BrokerCrashedError(broker.process.describeExit())
  })
  for (const exit of exits) exit.catch(() => {})
  return await Promise.race([work, ...exits])
}

async function sleep (ms: number): Promise<void> {
  await new Promise<void>(resolve => setTimeout(resolve, ms))
}
