/**
 * In-process broker fixture: a broker on an ephemeral loopback port with its own data directory,
 * silent logs and no cluster discovery, stopped (and its directory removed) when the test ends.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startBroker, type Broker, type BrokerOptions } from '../../src/broker.js'
import type { Clock } from '../../src/core/clock.js'
import { loadConfig, type BrokerConfig, type DeepPartial } from '../../src/core/config/config.js'
import type { Cleanup } from './mqtt-client.js'
import { withTimeout } from './wait.js'

export type { Broker }

/** Settings a test changes from the fixture's defaults. */
export interface TestBrokerOptions {
  mqtt?: DeepPartial<BrokerConfig['mqtt']>
  sys?: DeepPartial<BrokerConfig['sys']>
  /** Node name; default `test@127.0.0.1`. */
  nodeName?: string
  /** The broker's clock (a ManualClock to move time forward instead of sleeping); default the system clock. */
  clock?: Clock
}

const START_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 10_000

/** The configuration the fixture starts a broker with (environment variables ignored). */
export function testBrokerConfig (dataDir: string, options: TestBrokerOptions = {}): BrokerConfig {
  return loadConfig({
    env: {},
    overrides: {
      listener: { port: 0, host: '127.0.0.1' },
      node: { name: options.nodeName ?? 'test@127.0.0.1', dataDir },
      log: { level: 'silent' },
      cluster: { discovery: 'manual', port: 0 },
      mqtt: options.mqtt ?? {},
      sys: options.sys ?? {}
    }
  })
}

/** Starts a broker for one test (or suite) and registers its stop with `t.after`. */
export async function startTestBroker (t: Cleanup, options: TestBrokerOptions = {}): Promise<Broker> {
  const dataDir = mkdtempSync(join(tmpdir(), 'meshmq-test-'))
  let broker: Broker
  try {
    const brokerOptions: BrokerOptions = options.clock === undefined ? {} : { clock: options.clock }
    broker = await withTimeout(startBroker(testBrokerConfig(dataDir, options), brokerOptions), START_TIMEOUT_MS, 'the broker to start')
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true })
    throw err
  }
  t.after(async () => {
    try {
      await withTimeout(broker.stop(), STOP_TIMEOUT_MS, 'the broker to stop')
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
  return broker
}
