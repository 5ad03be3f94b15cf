/**
 * Runs the TLS scenarios: one broker process with a plain and a TLS listener; the load runs over
 * plain TCP, then over TLS (each with its own generator process), and the run's figures are both
 * and their ratio.
 */
import type { BenchTls, BrokerName, RunningBroker } from './brokers.js'
import { GeneratorProcess, type GeneratorHost } from './generator-process.js'
import { BrokerStartError } from './errors.js'
import { CLEAN, type Integrity } from './outcome.js'
import type { RunOutcome } from './outcome.js'
import type { LoadSettings, TlsScenario } from './scenarios.js'
import { integrityOf, runThroughputWorkload, whileAlive, withBroker, type Hosts } from './single-node.js'
import type { BrokerAddress, IdleReady } from './workload.js'

const CONNECT_CONCURRENCY = 100
const CONNECT_TIMEOUT_MS = 120_000

/** One transport's figure, its integrity and how busy the generator was. */
interface Measured { value: number, integrity: Integrity, generatorBusy: number }

export async function runTlsScenario (scenario: TlsScenario, brokerName: BrokerName, hosts: Hosts, settings: LoadSettings, tls: BenchTls): Promise<RunOutcome> {
  return await withBroker(brokerName, hosts, 'default', async (broker) => {
    const tlsAddress = broker.tlsAddress
    if (tlsAddress === undefined) throw new BrokerStartError(`${brokerName} started without its TLS listener`)
    const measure = async (address: BrokerAddress, label: string): Promise<Measured> => {
      const { load } = scenario
      if (load.kind === 'connects') return await measureConnects(hosts.generator, broker, address, load.connections, label)
      const result = await runThroughputWorkload(hosts.generator, load.build(settings, address), broker)
      return { value: result.deliveredPerSecond, integrity: integrityOf(result), generatorBusy: result.generatorBusy }
    }
    const plain = await measure(broker.address, 'plain')
    const secure = await measure(tlsAddress, 'tls')
    return {
      ok: true,
      figures: { plain: plain.value, tls: secure.value, tlsToPlain: secure.value / Math.max(plain.value, 1e-9) },
      integrity: merge(plain.integrity, secure.integrity),
      generatorBusy: Math.max(plain.generatorBusy, secure.generatorBusy)
    }
  }, tls)
}

/** Opens `connections` connections (100 at a time) and reports connects/s; then closes them. */
async function measureConnects (host: GeneratorHost, broker: RunningBroker, address: BrokerAddress, connections: number, label: string): Promise<Measured> {
  const generator = new GeneratorProcess(host, {
    kind: 'idle', connectTo: address, connections, concurrency: CONNECT_CONCURRENCY, clientIdPrefix: `connect-${label}`, timeoutMs: CONNECT_TIMEOUT_MS
  }, `${label} connect generator`)
  try {
    const ready = await whileAlive(generator.expect<IdleReady>('READY', CONNECT_TIMEOUT_MS + 10_000), [broker])
    generator.send('close')
    const seconds = (ready.finishedAt - ready.startedAt) / 1000
    const errors = ready.failed === 0 ? [] : [`${label}: ${ready.failed} of ${connections} connects failed (${ready.firstError ?? 'no reason given'})`]
    return { value: ready.connected / Math.max(seconds, 1e-3), integrity: { ...CLEAN, errors }, generatorBusy: ready.generatorBusy }
  } finally {
    await generator.stop()
  }
}

function merge (a: Integrity, b: Integrity): Integrity {
  return {
    lost: a.lost + b.lost,
    duplicated: a.duplicated + b.duplicated,
    outOfOrder: a.outOfOrder + b.outOfOrder,
    unexpected: a.unexpected + b.unexpected,
    unacked: a.unacked + b.unacked,
    errors: [...a.errors, ...b.errors]
  }
}
