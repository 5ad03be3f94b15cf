/**
 * The settings of the cluster network: the init of `createClusterNetwork()` (every field optional)
 * and its resolution against the defaults, which are the broker config's (`CLUSTER_DEFAULTS` and
 * the node-name rules in `src/core/config/`), so a node started from the config and one created
 * directly behave the same.
 */
import { CLUSTER_DEFAULTS, CLUSTER_TUNABLE_KEYS, DEFAULT_CLUSTER_PORT_BASE, DEFAULT_NODE_NAME } from '../src/core/config/defaults.js'
import { clusterPortFor, parseNodeName } from '../src/core/config/node-name.js'
import type { ClusterTunables } from '../src/core/config/schema.js'
import { NO_PRESSURE, type InboundPressure } from './forward-credit.js'
import type { ForwardJournal } from './forward-journal.js'
import { silentLogger, type ClusterLogger } from './logger.js'
import { parseDialAddress, type DialAddress } from './node-name.js'

/** Every field optional; the tunables (`ClusterTunables`) are documented with the broker config's `cluster.*` keys. */
export interface ClusterNetworkInit extends Partial<ClusterTunables> {
  /** `name@host`, unique and immutable. Default `meshmq@127.0.0.1`. */
  name?: string
  /** Holds `libp2p.key` and `node.json`; without it the peer id changes on every start. */
  dataDir?: string
  /** Address the cluster port binds. Default the host part of the name. */
  listenHost?: string
  /** Cluster port; default by the EMQX rule from the name (`meshmq2@h` → 4372); 0 picks a free port. */
  port?: number
  /** Base of that rule. Default 4370. */
  portBase?: number
  /** Static discovery: `name@host[:port]` (port by the name rule when absent) or multiaddrs. */
  seeds?: string[]
  /** Default: discards everything. */
  logger?: ClusterLogger
  /**
   * The node's pressure signal (the broker's `DeliveryBudget`): while pressured, peers get no
   * credit and their messages wait on their side. Default: never pressured.
   */
  pressure?: InboundPressure
  /**
   * Calls `done` once the node has taken in every message the network handed it (its pressure then
   * shows them); credit for more waits for it. Default: on the next turn.
   */
  settle?: (done: () => void) => void
  /** Keeps the QoS 1/2 messages queued for peers (`forward-journal.ts`). Default: none, they live in memory only. */
  journal?: ForwardJournal
}

/** The init with every default filled in and the seeds parsed. */
export type ClusterSettings = Omit<Required<ClusterNetworkInit>, 'dataDir' | 'seeds' | 'journal'> & {
  dataDir: string | undefined
  journal: ForwardJournal | undefined
  seeds: DialAddress[]
}

/** Fills in the defaults; throws `InvalidNodeNameError` or `InvalidNodeAddressError`. */
export function resolveSettings (init: ClusterNetworkInit): ClusterSettings {
  const name = init.name ?? DEFAULT_NODE_NAME
  const { host } = parseNodeName(name)
  const portBase = init.portBase ?? DEFAULT_CLUSTER_PORT_BASE
  const tunables: ClusterTunables = { ...CLUSTER_DEFAULTS }
  for (const key of CLUSTER_TUNABLE_KEYS) {
    const value = init[key]
    if (value !== undefined) Object.assign(tunables, { [key]: value })
  }
  return {
    ...tunables,
    name,
    dataDir: init.dataDir,
    journal: init.journal,
    listenHost: init.listenHost ?? host,
    port: init.port ?? clusterPortFor(name, portBase),
    portBase,
    seeds: (init.seeds ?? []).map(seed => parseDialAddress(seed, portBase)),
    logger: init.logger ?? silentLogger,
    pressure: init.pressure ?? NO_PRESSURE,
    settle: init.settle ?? ((done) => { setImmediate(done) })
  }
}
