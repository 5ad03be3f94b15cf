/**
 * In-process broker fixture: a node started through the library face (`startNode`) on an
 * ephemeral loopback port with its own data directory, silent logs and no cluster discovery,
 * closed (and its directory removed) when the test ends.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startNode, type BrokerConfig, type DeepPartial, type NodeConfig, type NodeHandle } from 'meshmq'
import type { Clock } from '../../src/core/clock.js'
import type { ListenerConfig } from '../../src/core/config/schema.js'
import type { Authenticator } from '../../src/core/auth/identity.js'
import type { Logger } from '../../src/core/log.js'
import type { PersistenceConfig } from '../../src/core/config/config.js'
import type { Store } from '../../src/store/store.js'
import type { Cleanup } from './mqtt-client.js'
import { withTimeout } from './wait.js'

/** A running test broker: the library handle and the fields the tests read most. */
export interface Broker {
  readonly node: NodeHandle
  /** The MQTT listener's port. */
  readonly port: number
  readonly nodeName: string
  readonly config: BrokerConfig
  /** Closes the node (also done by the fixture when the test ends). */
  stop: () => Promise<void>
}

/** Settings a test changes from the fixture's defaults. */
export interface TestBrokerOptions {
  mqtt?: DeepPartial<BrokerConfig['mqtt']>
  /** Listener settings other than host and port (which the fixture sets). */
  listener?: Omit<DeepPartial<BrokerConfig['listener']>, 'host' | 'port'>
  sys?: DeepPartial<BrokerConfig['sys']>
  /** Authentication and authorization (`auth.*`). */
  auth?: DeepPartial<BrokerConfig['auth']>
  /** Node name; default `test@127.0.0.1`. */
  nodeName?: string
  /** The broker's clock (a ManualClock to move time forward instead of sleeping); default the system clock. */
  clock?: Clock
  /** More MQTT listeners (`listeners`); give them host 127.0.0.1 and port 0. */
  listeners?: ListenerConfig[]
  /** Replaces the configured authenticator. */
  authenticator?: Authenticator
  /** Root logger; default silent. */
  log?: Logger
  /** How acknowledged messages are kept (`persistence.*`); default the product's. */
  persistence?: DeepPartial<PersistenceConfig>
  /** The store, opened, instead of the configured one (a MemoryStore handed from one broker to the next). */
  store?: Store
  /** The node's data directory, kept after the test (a restart reuses it); default a fresh one, removed. */
  dataDir?: string
}

const START_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 10_000

/** The configuration the fixture passes to `startNode`. */
export function testNodeConfig (dataDir: string, options: TestBrokerOptions = {}): NodeConfig {
  return {
    listener: { ...options.listener, port: 0, host: '127.0.0.1' },
    node: { name: options.nodeName ?? 'test@127.0.0.1', dataDir },
    log: { level: 'silent' },
    cluster: { discovery: 'manual', port: 0 },
    mqtt: options.mqtt ?? {},
    sys: options.sys ?? {},
    listeners: options.listeners ?? [],
    auth: options.auth ?? {},
    persistence: options.persistence ?? {}
  }
}

/** Starts a broker for one test (or suite) and registers its close with `t.after`. */
export async function startTestBroker (t: Cleanup, options: TestBrokerOptions = {}): Promise<Broker> {
  const ownDir = options.dataDir === undefined
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'meshmq-test-'))
  const removeDir = (): void => { if (ownDir) rmSync(dataDir, { recursive: true, force: true }) }
  let node: NodeHandle
  try {
    const { clock, authenticator, log, store } = options
    node = await withTimeout(startNode(testNodeConfig(dataDir, options), {
      ...(clock === undefined ? {} : { clock }),
      ...(authenticator === undefined ? {} : { authenticator }),
      ...(log === undefined ? {} : { log }),
      ...(store === undefined ? {} : { store })
    }), START_TIMEOUT_MS, 'the broker to start')
  } catch (err) {
    removeDir()
    throw err
  }
  t.after(async () => {
    try {
      await withTimeout(node.close(), STOP_TIMEOUT_MS, 'the broker to stop')
    } finally {
      removeDir()
    }
  })
  return { node, port: node.address.port, nodeName: node.address.node, config: node.config, stop: node.close }
}
