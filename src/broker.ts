/**
 * A broker node: starts the actor system (trie shards, route table, retainer, client registry,
 * $SYS publisher), the cluster network, the MQTT listener and the control endpoint, and stops
 * them in reverse order.
 */
import './core/polyfill.js'
import { start, stop, query, dispatch, type Ref } from 'nact'
import { multiaddr } from '@multiformats/multiaddr'
import type { BrokerConfig } from './core/config/config.js'
import { createLogger, type Logger } from './core/log.js'
import { systemClock, type Clock } from './core/clock.js'
import { MqttListener } from './listeners/tcp-listener.js'
import type { BrokerContext } from '../actors/broker-context.js'
import type { RegistryMsg, RouteDump, RouteTableMsg, ShardMsg, ShardStats } from '../actors/messages.js'
import { spawnTrieShard } from '../actors/trie-shard.js'
import { spawnRouteTable } from '../actors/route-table.js'
import { spawnRetainer } from '../actors/retainer.js'
import { spawnClientRegistry } from '../actors/client-registry.js'
import { spawnSysPublisher } from '../actors/sys-publisher.js'
import { ClusterBridge } from './cluster-bridge.js'
import { ClusterSessions } from './cluster-sessions.js'
import { ClusterRetained } from './cluster-retained.js'
import { ClusterWills } from './cluster-wills.js'
import { checkControlConfig, openControlEndpoint, type ControlEndpoint } from './control-endpoint.js'
import type { ControlAddress } from './control-endpoint-file.js'
import { DeliveryBudget } from './core/session/delivery-budget.js'
import { ALLOW_EVERYTHING } from './core/auth/identity.js'
import { settleClusterSecret } from './cluster-secret.js'

const QUERY_TIMEOUT_MS = 5000

export interface Broker {
  readonly config: BrokerConfig
  readonly nodeName: string
  /** The MQTT listener's port (the OS-chosen one when configured as 0). */
  readonly port: number
  readonly log: Logger
  readonly context: BrokerContext
  readonly registry: Ref<RegistryMsg>
  readonly cluster: ClusterBridge
  /** The cluster port peers dial (the OS-chosen one when configured as 0). */
  readonly clusterPort: number
  /** Where the `meshmq ctl` endpoint listens: a Unix socket path, or a loopback TCP address. */
  readonly control: ControlAddress
  /** Open MQTT client sockets. */
  connectionCount: () => number
  /** Sessions held by this node, connected or not. */
  sessionCount: () => Promise<number>
  routes: () => Promise<RouteDump>
  shardStats: () => Promise<ShardStats[]>
  stop: () => Promise<void>
}

/** What a node is started with besides its configuration (also `startNode`'s options). */
export interface BrokerOptions {
  /** Root logger; default a pino logger by `config.log` writing to stdout. */
  log?: Logger
  /** Time for session expiry, will delay and message expiry; the system clock by default (tests pass a ManualClock). */
  clock?: Clock
}

/** The TCP port of the first listen address that has one, or `fallback`. */
function tcpPortOf (addresses: readonly string[], fallback: number): number {
  for (const address of addresses) {
    const tcp = multiaddr(address).getComponents().find(component => component.name === 'tcp')
    if (tcp?.value !== undefined) return Number.parseInt(tcp.value, 10)
  }
  return fallback
}

export async function startBroker (given: BrokerConfig, options: BrokerOptions = {}): Promise<Broker> {
  const config = settleClusterSecret(given)
  checkControlConfig(config)
  const node = config.node.name
  const log = options.log ?? createLogger({ level: config.log.level, format: config.log.format, node })
  const deliveryBudget = new DeliveryBudget({ limitBytes: config.mqtt.maxNodeQueuedBytes })
  const cluster = new ClusterBridge(config, log, deliveryBudget)
  const system = start()
  const shards: Array<Ref<ShardMsg>> = []
  const routeTable: Ref<RouteTableMsg> = spawnRouteTable(system, { node, log, shards, replicator: cluster })
  for (let index = 0; index < config.shards; index++) {
    shards.push(spawnTrieShard(system, { index, node, log, routeTable, forwarder: cluster, sharedStrategy: config.mqtt.sharedSubscriptionStrategy }))
  }
  const clock = options.clock ?? systemClock
  const retainedSync = new ClusterRetained(cluster.network, log, config.cluster.digestIntervalMs)
  const retainer = spawnRetainer(system, {
    node,
    log,
    clock,
    limits: { maxMessages: config.mqtt.maxRetainedMessages, maxBytes: config.mqtt.maxRetainedBytes },
    tombstones: { maxTombstones: config.cluster.maxRetainedTombstones, tombstoneMs: config.cluster.retainedTombstoneMs },
    replicator: retainedSync
  })
  retainedSync.attach(retainer)
  const wills = new ClusterWills(cluster.network, log, clock, config.cluster)
  const authorization = { forClient: () => ALLOW_EVERYTHING }
  const context: BrokerContext = { config, node, log, clock, system, shards, retainer, routeTable, deliveryBudget, authorization, wills }
  wills.attach(context)
  const sessions = new ClusterSessions(cluster.network, config.cluster.takeover)
  const registry = spawnClientRegistry(context, sessions)
  sessions.attach(registry)
  const sys = spawnSysPublisher(context)
  dispatch(sys, { type: 'tick' })
  const sysTimer = setInterval(() => dispatch(sys, { type: 'tick' }), config.sys.intervalMs)
  sysTimer.unref()

  cluster.attach(context)

  const listener = new MqttListener({ config, node, log, onClient: (request, connection) => dispatch(registry, { type: 'connect', request, connection }) })
  let control: ControlEndpoint | undefined
  try {
    // The MQTT port is bound first: it is usually a fixed port, and binding it after the cluster's
    // (possibly OS-chosen) port could find that port handed to the cluster.
    await listener.listen()
    await cluster.start()
    control = await openControlEndpoint(config, cluster, log.child({ actor: 'control' }))
  } catch (err) {
    clearInterval(sysTimer)
    retainedSync.stop()
    wills.stop()
    await listener.close().catch(() => {})
    await cluster.stop().catch(() => {})
    stop(system)
    throw err
  }
  log.info({ port: listener.port, cluster_addresses: cluster.network.addresses(), control: control.address, discovery: config.cluster.discovery, shards: config.shards, version: process.version }, 'broker_started')

  let stopped = false
  return {
    config,
    nodeName: node,
    port: listener.port,
    log,
    context,
    registry,
    cluster,
    clusterPort: tcpPortOf(cluster.network.addresses(), config.cluster.port),
    control: control.address,
    connectionCount: () => listener.connectionCount,
    sessionCount: async () => await query(registry, (replyTo: Ref<number>) => ({ type: 'count', replyTo }), QUERY_TIMEOUT_MS),
    routes: async () => await query(routeTable, (replyTo: Ref<RouteDump>) => ({ type: 'dump', replyTo }), QUERY_TIMEOUT_MS),
    shardStats: async () => await Promise.all(shards.map(async shard =>
      await query(shard, (replyTo: Ref<ShardStats>) => ({ type: 'stats', replyTo }), QUERY_TIMEOUT_MS))),
    stop: async () => {
      if (stopped) return
      stopped = true
      clearInterval(sysTimer)
      await control.close()
      await listener.close()
      await query(registry, (replyTo: Ref<number>) => ({ type: 'shutdown', replyTo }), QUERY_TIMEOUT_MS).catch(() => 0)
      retainedSync.stop()
      wills.stop()
      await cluster.stop()
      stop(system)
      log.info({}, 'broker_stopped')
    }
  }
}
