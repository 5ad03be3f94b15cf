/**
 * A broker node: opens its store and reads it back, starts the actor system (trie shards, route
 * table, retainer, client registry, $SYS publisher) with what the store kept, the cluster network,
 * the MQTT listeners and the control endpoint, and stops them in reverse order (the store last,
 * after its final commit).
 */
import './core/polyfill.js'
import { start, stop, type Ref } from 'nact'
import { query, dispatch } from '../actors/actor-meters.js'
import { multiaddr } from '@multiformats/multiaddr'
import type { BrokerConfig } from './core/config/config.js'
import { createLogger, type Logger } from './core/log.js'
import { LogTap } from './core/log-tap.js'
import { systemClock, type Clock } from './core/clock.js'
import { createDefaultListener, createListener } from './listeners/listener-factory.js'
import type { MqttListener } from './listeners/listener.js'
import type { ListenerOptions } from './listeners/client-admission.js'
import { ConnectionLimit } from './listeners/connection-limit.js'
import type { ListenerType } from './core/config/schema.js'
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
import { anonymousExposure } from './listener-exposure.js'
import { DeliveryBudget } from './core/session/delivery-budget.js'
import type { Authenticator } from './core/auth/identity.js'
import { setUpAcl } from './acl-setup.js'
import { setUpAuth, type ReloadableFile } from './auth-setup.js'
import { settleClusterSecret } from './cluster-secret.js'
import { openStore } from './store/open-store.js'
import type { Store } from './store/store.js'
import { readStoreContents, type StoreContents } from './store/store-contents.js'
import { GroupCommit } from './store/group-commit.js'
import { Persistence } from './store/persistence.js'
import { recordMembers } from './cluster-members-record.js'
import { NodeAdmin } from './admin/node-admin.js'
import { ClusterAdmin } from './admin/cluster-admin.js'
import { httpToken } from './http/auth.js'
import { startHttpServer, type HttpAddress, type HttpServer } from './http/server.js'

const QUERY_TIMEOUT_MS = 5000
/** Bound on handing what the store kept to the actors at start (100k sessions take about a second). */
const RESTORE_TIMEOUT_MS = 120_000

export interface Broker {
  readonly config: BrokerConfig
  readonly nodeName: string
  /** The default TCP listener's port (the OS-chosen one when configured as 0); 0 when `listener.enabled` is false. */
  readonly port: number
  /** Every MQTT listener running: the default TCP one first (when enabled), then `listeners` in order. */
  readonly listeners: readonly ListenerAddress[]
  readonly log: Logger
  readonly context: BrokerContext
  readonly registry: Ref<RegistryMsg>
  readonly cluster: ClusterBridge
  /** The cluster port peers dial (the OS-chosen one when configured as 0). */
  readonly clusterPort: number
  /** Where the `meshmq ctl` endpoint listens: a Unix socket path, or a loopback TCP address. */
  readonly control: ControlAddress
  /** Where the HTTP API and `/metrics` listen; undefined when `http.enabled` is false. */
  readonly http: HttpAddress | undefined
  /** Open MQTT client connections, on all listeners. */
  connectionCount: () => number
  /** Sessions held by this node, connected or not. */
  sessionCount: () => Promise<number>
  routes: () => Promise<RouteDump>
  shardStats: () => Promise<ShardStats[]>
  /** Reads every auth file again now (password file, JWT secret / key); SIGHUP calls it. A broken file keeps its last good contents. */
  reloadAuth: () => void
  /**
   * Reads the TLS listeners' certificate files again (SIGHUP calls it): new handshakes use them,
   * open connections keep theirs. Logs `tls_reloaded` per listener, or `tls_reload_failed` and
   * keeps the old ones when a file cannot be read or the certificate and key do not go together.
   */
  reloadCertificates: () => Promise<void>
  stop: () => Promise<void>
}

/** What a node is started with besides its configuration (also `startNode`'s options). */
export interface BrokerOptions {
  /** Root logger; default a pino logger by `config.log` writing to stdout. */
  log?: Logger
  /** The tap `log` writes to, for the dashboard's log stream (`/api/v1/logs/stream`); made here with the default logger. */
  logTap?: LogTap
  /** Time for session expiry, will delay and message expiry; the system clock by default (tests pass a ManualClock). */
  clock?: Clock
  /** Checks each CONNECT's credentials on every listener, instead of the one `auth` configures. */
  authenticator?: Authenticator
  /** The store to keep sessions and messages in, instead of the one `persistence` configures; the node opens it, and closes it when it stops. */
  store?: Store
}

/** Where one MQTT listener is reachable. */
export interface ListenerAddress {
  type: ListenerType
  /** `tcp:1883`, `tls:8883`, `ws:8083/mqtt`, …: what a client's `TransportInfo.listener` says. */
  name: string
  host: string
  /** The port bound (the OS-chosen one when configured as 0). */
  port: number
  /** WebSocket path (`ws`, `wss`). */
  path?: string
}

/** The configured MQTT listeners, the default TCP one first. */
function createListeners (config: BrokerConfig, options: ListenerOptions): { defaultListener: MqttListener | undefined, all: MqttListener[] } {
  const defaultListener = config.listener.enabled ? createDefaultListener(options) : undefined
  const all = config.listeners.map(entry => createListener(entry, options))
  if (defaultListener !== undefined) all.unshift(defaultListener)
  return { defaultListener, all }
}

/** Binds every listener and logs `listener_started` for each; logs the anonymous-access warning. */
async function startListeners (listeners: readonly MqttListener[], config: BrokerConfig, log: Logger): Promise<ListenerAddress[]> {
  const addresses: ListenerAddress[] = []
  for (const listener of listeners) {
    await listener.listen()
    const address: ListenerAddress = { type: listener.type, name: listener.name, host: listener.host, port: listener.port }
    if (listener.path !== undefined) address.path = listener.path
    addresses.push(address)
    log.info({ listener: listener.name, type: listener.type, host: listener.host, port: listener.port }, 'listener_started')
  }
  const exposure = anonymousExposure(addresses, config.auth.allowAnonymous)
  if (exposure !== undefined) log.warn(exposure, 'anonymous_clients_allowed')
  return addresses
}

/** The TCP port of the first listen address that has one, or `fallback`. */
function tcpPortOf (addresses: readonly string[], fallback: number): number {
  for (const address of addresses) {
    const tcp = multiaddr(address).getComponents().find(component => component.name === 'tcp')
    if (tcp?.value !== undefined) return Number.parseInt(tcp.value, 10)
  }
  return fallback
}

/**
 * Hands what the store kept to the actors, before any client can connect: retained messages, then
 * the persistent sessions (their subscriptions, queues and flows; wills of clients connected when
 * the node went down are published by this node only when it remembers no cluster members — in a
 * cluster the other nodes publish a restarted node's wills, cluster-wills.ts).
 */
async function restore (context: BrokerContext, registry: Ref<RegistryMsg>, contents: StoreContents, log: Logger, readMs: number): Promise<void> {
  const started = Date.now()
  const retained = await query(context.retainer, (replyTo: Ref<number>) => ({ type: 'restore', entries: contents.retained, replyTo }), RESTORE_TIMEOUT_MS)
  const publishWills = contents.members.length === 0
  const sessions = await query(registry, (replyTo: Ref<number>) => ({ type: 'restore', sessions: contents.sessions, publishWills, replyTo }), RESTORE_TIMEOUT_MS)
  const messages = contents.sessions.reduce((sum, session) => sum + session.queue.length + session.inflight.length, 0)
  log.info({
    sessions,
    messages,
    retained,
    forwards: contents.forwards.length,
    removed_orphans: contents.removed.orphans,
    removed_expired: contents.removed.expired,
    read_ms: readMs,
    restore_ms: Date.now() - started
  }, 'store_restored')
}

export async function startBroker (given: BrokerConfig, options: BrokerOptions = {}): Promise<Broker> {
  const config = settleClusterSecret(given)
  checkControlConfig(config)
  // A non-loopback HTTP API without a token stops the node before anything starts.
  if (config.http.enabled) httpToken(config.http)
  const node = config.node.name
  const logTap = options.logTap ?? (options.log === undefined ? new LogTap({ maxLines: config.http.logTailLines, maxBytes: config.http.logTailBytes }) : undefined)
  const log = options.log ?? createLogger({ level: config.log.level, format: config.log.format, node, ...(logTap === undefined ? {} : { tap: logTap }) })
  // Read first: an ACL file, password file or JWT key that cannot be read stops the node before anything starts.
  const acl = setUpAcl(config.auth, log)
  const auth = options.authenticator === undefined ? setUpAuth(config, log) : { authenticator: options.authenticator, files: [] }
  /** The auth files the node watches (reloaded on SIGHUP, closed at stop). */
  const authFiles: ReloadableFile[] = [...acl.files, ...auth.files]
  const clock = options.clock ?? systemClock
  // A store that cannot be read stops the node here, before anything starts (StoreCorruptError says how to recover).
  const store = options.store ?? await openStore(config, log)
  let contents: StoreContents
  const readStarted = Date.now()
  try {
    if (options.store !== undefined) await store.open()
    contents = await readStoreContents(store, clock.now())
  } catch (err) {
    await store.close().catch(() => {})
    for (const file of authFiles) file.close()
    throw err
  }
  const readMs = Date.now() - readStarted

  const commit = new GroupCommit({ store, ...config.persistence, log: log.child({ actor: 'store' }) })
  const persistence = new Persistence(commit, contents.lastSeq)
  // With `off` nothing would outlive the process: the actors keep nothing (no record, no wait), as before persistence.
  const durable = config.persistence.mode === 'off' ? undefined : persistence
  const deliveryBudget = new DeliveryBudget({ limitBytes: config.mqtt.maxNodeQueuedBytes })
  const cluster = new ClusterBridge(config, log, deliveryBudget, { commit, nextSeq: () => persistence.nextSeq(), forwards: contents.forwards })
  const system = start()
  const shards: Array<Ref<ShardMsg>> = []
  const routeTable: Ref<RouteTableMsg> = spawnRouteTable(system, { node, log, shards, replicator: cluster })
  for (let index = 0; index < config.shards; index++) {
    shards.push(spawnTrieShard(system, { index, node, log, routeTable, forwarder: cluster, sharedStrategy: config.mqtt.sharedSubscriptionStrategy, matchCache: { maxTopics: config.routing.matchCacheTopics, maxBytes: config.routing.matchCacheBytes }, ...(durable === undefined ? {} : { durable }) }))
  }
  const retainedSync = new ClusterRetained(cluster.network, log, config.cluster.digestIntervalMs)
  const retainer = spawnRetainer(system, {
    node,
    log,
    clock,
    limits: { maxMessages: config.mqtt.maxRetainedMessages, maxBytes: config.mqtt.maxRetainedBytes },
    tombstones: { maxTombstones: config.cluster.maxRetainedTombstones, tombstoneMs: config.cluster.retainedTombstoneMs },
    replicator: retainedSync,
    ...(durable === undefined ? {} : { durable })
  })
  retainedSync.attach(retainer)
  const wills = new ClusterWills(cluster.network, log, clock, config.cluster)
  const authorization = acl.authorization
  const context: BrokerContext = { config, node, log, clock, system, shards, retainer, routeTable, deliveryBudget, authorization, wills, ...(durable === undefined ? {} : { durable }) }
  wills.attach(context)
  const sessions = new ClusterSessions(cluster.network, config.cluster.takeover)
  const registry = spawnClientRegistry(context, sessions)
  sessions.attach(registry)
  const sys = spawnSysPublisher(context)
  dispatch(sys, { type: 'tick' })
  const sysTimer = setInterval(() => dispatch(sys, { type: 'tick' }), config.sys.intervalMs)
  sysTimer.unref()

  cluster.attach(context)
  const startedAt = Date.now()
  const connectionCount = (): number => listeners.reduce((sum, listener) => sum + listener.connectionCount, 0)
  const admin = new ClusterAdmin(new NodeAdmin({ context, registry, network: cluster.network, connectionCount, startedAt }), cluster.network)
  admin.serve()
  recordMembers(cluster.network, commit, node, contents.members)
  await restore(context, registry, contents, log, readMs)

  const connectionLimit = new ConnectionLimit(config.mqtt.maxConnections, log.child({ actor: 'listener' }))
  const listenerOptions: ListenerOptions = { config, node, log, authenticator: auth.authenticator, connectionLimit, onClient: (request, connection) => { dispatch(registry, { type: 'connect', request, connection }) } }
  const { defaultListener, all: listeners } = createListeners(config, listenerOptions)
  const closeListeners = async (): Promise<void> => { await Promise.all(listeners.map(async listener => { await listener.close() })) }
  let listenerAddresses: ListenerAddress[]
  let control: ControlEndpoint | undefined
  let http: HttpServer | undefined
  try {
    // The MQTT ports are bound first: they are usually fixed ports, and binding them after the
    // cluster's (possibly OS-chosen) port could find one handed to the cluster.
    listenerAddresses = await startListeners(listeners, config, log)
    await cluster.start()
    control = await openControlEndpoint(config, cluster, log.child({ actor: 'control' }), { admin, context, network: cluster.network, connectionCount })
    if (config.http.enabled) {
      http = await startHttpServer(config.http, { admin, context, registry, network: cluster.network, routes: async () => await cluster.routes(), connectionCount, listeners: listenerAddresses, logTap }, log.child({ actor: 'http' }))
    }
  } catch (err) {
    for (const file of authFiles) file.close()
    await control?.close().catch(() => {})
    clearInterval(sysTimer)
    retainedSync.stop()
    wills.stop()
    await closeListeners().catch(() => {})
    await cluster.stop().catch(() => {})
    stop(system)
    await commit.close().catch(() => {})
    await store.close().catch(() => {})
    throw err
  }
  const port = defaultListener?.port ?? 0
  log.info({ port, listeners: listenerAddresses.map(address => address.name), ...(http === undefined ? {} : { http: `${http.address.host}:${http.address.port}` }), cluster_addresses: cluster.network.addresses(), control: control.address, discovery: config.cluster.discovery, shards: config.shards, version: process.version }, 'broker_started')

  let stopped = false
  return {
    config,
    nodeName: node,
    port,
    listeners: listenerAddresses,
    log,
    context,
    registry,
    cluster,
    clusterPort: tcpPortOf(cluster.network.addresses(), config.cluster.port),
    control: control.address,
    http: http?.address,
    connectionCount,
    sessionCount: async () => await query(registry, (replyTo: Ref<number>) => ({ type: 'count', replyTo }), QUERY_TIMEOUT_MS),
    routes: async () => await query(routeTable, (replyTo: Ref<RouteDump>) => ({ type: 'dump', replyTo }), QUERY_TIMEOUT_MS),
    shardStats: async () => await Promise.all(shards.map(async shard =>
      await query(shard, (replyTo: Ref<ShardStats>) => ({ type: 'stats', replyTo }), QUERY_TIMEOUT_MS))),
    reloadAuth: () => {
      for (const file of authFiles) file.reload()
    },
    reloadCertificates: async () => {
      for (const listener of listeners) {
        if (listener.reloadCertificates === undefined) continue
        try {
          await listener.reloadCertificates()
          log.info({ listener: listener.name }, 'tls_reloaded')
        } catch (err) {
          log.warn({ listener: listener.name, err: (err as Error).message }, 'tls_reload_failed')
        }
      }
    },
    stop: async () => {
      if (stopped) return
      stopped = true
      clearInterval(sysTimer)
      for (const file of authFiles) file.close()
      await http?.close()
      await control.close()
      await closeListeners()
      await query(registry, (replyTo: Ref<number>) => ({ type: 'shutdown', replyTo }), QUERY_TIMEOUT_MS).catch(() => 0)
      retainedSync.stop()
      wills.stop()
      await cluster.stop()
      stop(system)
      await commit.close().catch((err: unknown) => { log.error({ err }, 'store_final_commit_failed') })
      await store.close()
      log.info({}, 'broker_stopped')
    }
  }
}
