/**
 * The library face of meshmq, as Aedes is for Node users: `startNode(config)` starts a node in
 * this process and returns a handle to it.
 *
 *   import { startNode } from 'meshmq'
 *   const node = await startNode({ listener: { port: 0 }, cluster: { discovery: 'manual', port: 0 } })
 *   console.log(node.address.port, await node.status())
 *   await node.close()
 *
 * The config object is the broker configuration with every key optional; the defaults are those
 * of `meshmq start` (one source: `src/core/config/config.ts`) except discovery, which is
 * `'manual'` here: a node embedded in a program or a test never announces itself on the LAN by
 * mDNS unless asked to (`cluster: { discovery: 'mdns' }`); and the HTTP API (`http`), which such a
 * node serves only when its config has an `http` section (`http: { port: 0 }`), so several nodes
 * in one process do not compete for port 18083. `startNode` reads neither the command
 * line nor the environment nor a config file; to configure a node as `meshmq start` does, pass
 * `loadConfig({ env: process.env })` (which also keeps the mDNS default).
 */
import { loadConfig, type BrokerConfig, type DeepPartial, type DiscoveryStrategy } from './core/config/config.js'
import { startBroker, type Broker, type BrokerOptions, type ListenerAddress } from './broker.js'
import type { Logger } from './core/log.js'
import type { ControlAddress } from './control-endpoint-file.js'

export { ConfigError, loadConfig, defaultConfig } from './core/config/config.js'
export type { BrokerConfig, DeepPartial, DiscoveryStrategy, LogFormat, LogLevel, QueueDropPolicy } from './core/config/config.js'
export type { Logger } from './core/log.js'
export type { ListenerAddress } from './broker.js'
export type { Authenticator, AuthDecision, Credentials, ClientIdentity, TransportInfo } from './core/auth/identity.js'
export type { ControlAddress, ControlTarget } from './control-endpoint-file.js'

/** A node's configuration for `startNode`: any subset of the broker configuration. */
export type NodeConfig = DeepPartial<BrokerConfig>

/** What `startNode` takes besides the configuration. */
export type StartNodeOptions = BrokerOptions

/** Discovery of a node started by `startNode` when its config sets none. */
export const LIBRARY_DISCOVERY: DiscoveryStrategy = 'manual'

/** Where a running node can be reached. */
export interface NodeAddress {
  /** The node name, `name@host`. */
  node: string
  /** The address the MQTT listener is bound to. */
  host: string
  /** The default TCP listener's port (the OS-chosen one when configured as 0); 0 when `listener.enabled` is false. */
  port: number
  /** Every MQTT listener (the default TCP one first), with the port it bound. */
  listeners: readonly ListenerAddress[]
  /** The cluster port peers dial; another node seeds this one as `${node}:${cluster.port}`. */
  cluster: { host: string, port: number }
  /** The endpoint `meshmq ctl` talks to: a Unix socket (default), or a loopback TCP port (`meshmq ctl --control HOST:PORT`, with the token in the data directory). */
  control: ControlAddress
  /** The HTTP API and `/metrics` (the OS-chosen port when configured as 0); undefined when not served. */
  http: { host: string, port: number } | undefined
}

export type NodeState = 'running' | 'closing' | 'closed'

/** A snapshot of a node. Once the node is closing, the counts are 0 and the cluster lists empty. */
export interface NodeStatus {
  node: string
  state: NodeState
  /** Open MQTT client connections. */
  connections: number
  /** Sessions the node holds, connected or not (persistent sessions outlive their connection). */
  sessions: number
  /** The cluster as this node sees it, this node included. */
  cluster: { runningNodes: string[], stoppedNodes: string[] }
}

/** A node started by `startNode`. */
export interface NodeHandle {
  readonly address: NodeAddress
  /** The configuration the node runs with, every default filled in. */
  readonly config: BrokerConfig
  /** The node's root logger (pino). */
  readonly log: Logger
  status: () => Promise<NodeStatus>
  /**
   * Reads the auth files and the TLS listeners' certificate files again, as SIGHUP does for
   * `meshmq start`: new handshakes use the new certificates (`tls_reloaded` per listener); a file
   * that cannot be read leaves the last good one in force (`tls_reload_failed`).
   */
  reload: () => Promise<void>
  /** Disconnects every client, leaves the cluster network and releases the ports; later calls return the same promise. */
  close: () => Promise<void>
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The config with the library's discovery default; anything malformed is left for `loadConfig` to report. */
function withLibraryDefaults (config: NodeConfig): NodeConfig {
  if (!isObject(config)) return config
  const cluster: unknown = config.cluster
  if (cluster !== undefined && !isObject(cluster)) return config
  const withDiscovery = { ...config, cluster: { ...cluster, discovery: config.cluster?.discovery ?? LIBRARY_DISCOVERY } }
  const http: unknown = config.http
  if (http !== undefined && !isObject(http)) return withDiscovery
  return { ...withDiscovery, http: { ...http, enabled: config.http?.enabled ?? http !== undefined } }
}

/** The handle over a started broker. */
function handleOf (broker: Broker): NodeHandle {
  const { config, nodeName } = broker
  let state: NodeState = 'running'
  let closing: Promise<void> | undefined
  return {
    address: {
      node: nodeName,
      host: config.listener.host,
      port: broker.port,
      listeners: broker.listeners,
      cluster: { host: config.cluster.host, port: broker.clusterPort },
      control: broker.control,
      http: broker.http
    },
    config,
    log: broker.log,
    status: async () => {
      if (state !== 'running') {
        return { node: nodeName, state, connections: 0, sessions: 0, cluster: { runningNodes: [], stoppedNodes: [] } }
      }
      const [sessions, cluster] = await Promise.all([broker.sessionCount(), broker.cluster.status()])
      return { node: nodeName, state, connections: broker.connectionCount(), sessions, cluster }
    },
    reload: async () => {
      if (state !== 'running') return
      broker.reloadAuth()
      await broker.reloadCertificates()
    },
    close: async () => {
      closing ??= (async () => {
        state = 'closing'
        try {
          await broker.stop()
        } finally {
          state = 'closed'
        }
      })()
      await closing
    }
  }
}

/**
 * Starts a node in this process: the MQTT listener, the cluster port and the control endpoint are
 * bound when the promise resolves. Rejects with a ConfigError naming the key when the config breaks
 * a rule (an unknown key, a value out of range), and with the listener's error when a port is taken.
 */
export async function startNode (config: NodeConfig = {}, options: StartNodeOptions = {}): Promise<NodeHandle> {
  const resolved = loadConfig({ env: {}, overrides: withLibraryDefaults(config), overridesOrigin: 'in the startNode config' })
  return handleOf(await startBroker(resolved, options))
}
