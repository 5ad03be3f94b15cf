/**
 * The cluster network service: connects this broker node to the other nodes of its cluster,
 * replicates route tables and forwards messages. It knows nothing about actors; the route table
 * drives it through the API below and applies its events. It composes start/stop components, in
 * the js-libp2p manner: membership (`membership.ts`), discovery and redial (`discovery.ts`),
 * replication of the routes and client ids (`table-replication.ts`) and its gossip topic
 * (`control-gossip.ts`), forwarding (`forwarder.ts`) and the service channel (`service-channel.ts`);
 * its settings and their defaults are `settings.ts`.
 *
 * ## Lifecycle
 *   const net = createClusterNetwork({ name: 'meshmq1@10.0.0.1', dataDir, secret, discovery: 'static', seeds: ['meshmq2@10.0.0.2'] })
 *   await net.start()        // loads/creates <dataDir>/libp2p.key and node.json, listens, starts discovery
 *   await net.stop()
 *
 * ## Routes (each node is the only writer of its own routes)
 *   net.addLocalRoute(filter)      on the first local subscriber of a filter
 *   net.removeLocalRoute(filter)   on the last one
 *   events 'routes-replaced' {node, filters}  replace all routes of `node` (after a snapshot; filters
 *                                             is empty when the node left, was removed or cleaned)
 *          'routes-changed' {node, added, removed}  net change of `node`'s routes (one per delta;
 *                                             no filter in both lists)
 *   net.routesOf(node)  the replica of a node's routes (for inspection)
 *   Changes travel as ordered deltas pushed to each member that is up on its forward stream and,
 *   up to `MAX_GOSSIPED_DELTA_OPS` operations, on the gossipsub topic too (first copy wins, by
 *   sequence number); a digest on gossip and a snapshot over a direct stream repair whatever is
 *   missed (route-sync.ts).
 *
 * ## Client ids (each node is the only writer of the client ids it holds sessions for)
 *   net.addLocalClient(clientId) / net.removeLocalClient(clientId)
 *   events 'clients-replaced' {node, clientIds}, 'clients-changed' {node, added, removed}
 *   net.clientsOf(node), net.clientHolders(clientId)
 *   The same replication as the routes (a second `RouteSync`, its messages tagged `clients`).
 *
 * ## Forwarding
 *   net.forward(node, messages) → {queued, dropped}   one long-lived stream per peer; QoS 1/2 kept
 *                                                   until acked and resent after a link failure;
 *                                                   QoS 0 to a down node dropped (stats, log):
 *                                                   callers pass every message, whatever the node's state
 *   event 'message' {from, messages}                messages forwarded to this node by `from`;
 *                                                   deliver locally, never forward again
 *   event 'messages-dropped' {node, reason, count}  every message dropped on the way to or from
 *                                                   `node`, per reason (forward-drops.ts)
 *   Flow control: peers send only within the credit this node grants, none while `pressure` is
 *   pressured (forward-credit.ts); what waits stays bounded in the sender's queue.
 *   net.whenDelivered(node, {signal})               resolves when all forwarded so far are acked
 *   With a `journal` (`forward-journal.ts`), QoS 1/2 messages queued for peers are kept there until
 *   acked or dropped; before `start()`, `net.restoreForwarded(node, entries)` queues those kept at
 *   the last run again, resent once `node` is up. A node not back as a member within `autocleanMs`
 *   of the start is removed from the links as an autocleaned one is (its messages `removed`).
 *
 * ## Membership
 *   net.join(address)      address `name@host[:port]` or multiaddr; leaves the current cluster first
 *                          (the caller drops its own cluster data), resolves with the joined node's name
 *   net.leave()            tells the peers, disconnects, stops redialing; 'left' event
 *   net.forceLeave(node, {requestedBy})  removes another node and its routes on every node and
 *                          releases the pin of its name (logged with who asked)
 *   net.status()           {runningNodes, stoppedNodes}, this node included in runningNodes
 *   net.isRunning(node)    whether routes of `node` are usable now
 *   events 'node-up' {node, incarnation, restarted}, 'node-down' {node, reason},
 *          'node-left' {node, forced}, 'node-cleaned' {node, downForMs} (down longer than autocleanMs),
 *          'partition-healed' {node, downForMs} (a node seen down is back with the same incarnation),
 *          'left' {reason} (this node left the cluster: 'leave', 'removed' by another node, or 'join')
 *
 * ## Services (one request, one response; `service-channel.ts`)
 *   net.serve(service, (from, payload, signal) => bytes)   answers members that are up
 *   net.request(node, service, payload, {signal}) → bytes  asks one member that is up
 *   net.runningMembers()                                    the other members up now
 *
 * ## Trust
 *   A node name is pinned to the peer id of its first accepted hello, and every control message
 *   about a node (routes, hello, leave) is accepted only from that node's peer id; on gossip, only
 *   when it arrives from that peer directly (`control-trust.ts`, `member-table.ts`).
 *   net.usesDefaultSecret   whether this node runs on the public default secret (`cluster status` says so)
 *
 * Nodes are named `name@host` everywhere above; peer ids never leave this module. Listeners must
 * not throw (Node reports a listener's exception as uncaught).
 *
 * Log events (pino-style `(fields, msg)`): cluster_default_secret, cluster_started, node_up,
 * node_down, route_sync, client_sync, partition_detected, partition_healed, node_cleaned, node_left,
 * message_dropped (reasons node_down, rejected_by_peer, malformed_from_peer, undeliverable),
 * forward_failed (overflow, oversize, removed), forward_frame_unreadable, forward_settle_slow,
 * forward_restored_removed (restored messages for a node not back as a member), route_push_dropped,
 * hello_rejected, control_refused (a message about a node not sent by it, or with a far-future
 * incarnation; throttled, exact counts per reason), force_leave (with requested_by), pin_released,
 * cluster_left.
 */
import '../src/core/polyfill.js'
import type { ClusterStatus } from '../src/core/cluster-status.js'
import { DEFAULT_CLUSTER_SECRET, DEFAULT_SECRET_ADVICE } from '../src/core/config/defaults.js'
import type { Message } from '../src/core/mqtt/message.js'
import { anySignal, raceSignal } from './abort.js'
import { FORWARD_PROTOCOL, MAX_INBOUND_FORWARD_STREAMS, ROUTES_PROTOCOL } from './constants.js'
import type { ControlMessage } from './control-codec.js'
import { ControlGossip } from './control-gossip.js'
import { ControlRefusals } from './control-trust.js'
import { Discovery } from './discovery.js'
import { AlreadyStartedError, CannotRemoveSelfError, InvalidNodeAddressError, JoinFailedError, NotStartedError, UnknownNodeError } from './errors.js'
import type { ClusterEvents, EmitClusterEvent } from './events.js'
import type { JournaledMessage } from './forward-journal.js'
import type { ForwardResult } from './forward-link.js'
import { Forwarder } from './forwarder.js'
import { boundedDialProtocol, createClusterLibp2p, type ClusterLibp2p } from './libp2p-node.js'
import { guarded, type ClusterLogger } from './logger.js'
import { ClusterMembership } from './membership.js'
import { loadNodeIdentity } from './node-identity.js'
import { parseDialAddress } from './node-name.js'
import { responder } from './request-response.js'
import { SERVICE_PROTOCOL, ServiceChannel, type ServiceHandler } from './service-channel.js'
import { prologueFromSecret } from './secret-prologue.js'
import { resolveSettings, type ClusterNetworkInit, type ClusterSettings } from './settings.js'
import { emptyForwardStats, emptyTrustStats, type ClusterStats } from './stats.js'
import { TableReplication } from './table-replication.js'
import { TypedEventTarget } from './typed-event-target.js'

export type { ClusterStatus } from '../src/core/cluster-status.js'
export type { DiscoveryStrategy } from '../src/core/config/schema.js'
export type { ClusterEvents, NodeDownReason } from './events.js'
export type { ClusterNetworkInit } from './settings.js'

export interface WaitOptions {
  signal?: AbortSignal
}

type Phase = 'stopped' | 'running' | 'left'

export class ClusterNetwork extends TypedEventTarget<ClusterEvents> {
  readonly name: string
  /** What this node runs with: its init with every default filled in. */
  readonly settings: Readonly<ClusterSettings>
  private readonly logger: ClusterLogger
  private readonly forwardStats = emptyForwardStats()
  private readonly trustStats = emptyTrustStats()
  private readonly refusals: ControlRefusals
  private readonly tables: TableReplication
  private readonly forwarder: Forwarder
  private readonly membership: ClusterMembership
  private readonly discovery: Discovery
  private readonly services: ServiceChannel
  private readonly gossip: ControlGossip
  private readonly dialProtocol = boundedDialProtocol(() => this.libp2p)
  private node: ClusterLibp2p | undefined
  private phase: Phase = 'stopped'
  private stoppedOnce = false
  /** Peers given messages by `restoreForwarded`, checked for membership `autocleanMs` after the start. */
  private readonly restoredPeers = new Set<string>()
  private restoredCheck: NodeJS.Timeout | undefined

  constructor (init: ClusterNetworkInit = {}) {
    super()
    const settings = resolveSettings(init)
    this.settings = settings
    this.name = settings.name
    this.logger = settings.logger
    this.refusals = new ControlRefusals(settings.logger, this.trustStats)
    const incarnation = Date.now()
    const running = (): boolean => this.phase === 'running'
    const libp2p = (): ClusterLibp2p => this.libp2p
    const emit: EmitClusterEvent = (type, detail) => { this.emit(type, detail) }
    this.gossip = new ControlGossip({ running, received: (message, source) => { this.onGossip(message, source) }, logger: this.logger })
    this.forwarder = new Forwarder({
      localName: this.name,
      incarnation: () => this.membership.incarnation,
      openStream: async (node, signal) => await this.openForwardStream(node, signal),
      nodeOfPeer: (peerId) => {
        const name = this.membership.nameOfPeer(peerId)
        return name !== undefined && this.membership.isUp(name) ? name : undefined
      },
      deliver: (from, messages) => { emit('message', { from, messages }) },
      onRoutes: (from, control) => { guarded(this.logger, 'routes', () => { if (this.phase === 'running') this.tables.onPushed(from, control) }) },
      onUnresponsive: (node, silentMs) => { this.membership.markUnresponsive(node, silentMs) },
      onDropped: (node, reason, count) => { emit('messages-dropped', { node, reason, count }) },
      window: { messages: settings.forwardWindowMessages, bytes: settings.forwardWindowBytes },
      pressure: settings.pressure,
      settle: settings.settle,
      maxQueuedBytesPerPeer: settings.maxQueuedBytesPerPeer,
      maxQueuedMessagesPerPeer: settings.maxQueuedMessagesPerPeer,
      heartbeatIntervalMs: settings.heartbeatIntervalMs,
      peerTimeoutMs: settings.peerTimeoutMs,
      openTimeoutMs: settings.requestTimeoutMs,
      stats: this.forwardStats,
      logger: this.logger,
      ...(settings.journal === undefined ? {} : { journal: settings.journal })
    })
    this.membership = new ClusterMembership({
      settings,
      incarnation,
      libp2p,
      running,
      forwarder: this.forwarder,
      routes: {
        nodeUp: (node, nodeIncarnation) => { this.tables.nodeUp(node, nodeIncarnation) },
        removeNode: (node) => { this.tables.removeNode(node) }
      },
      dialer: {
        redialMember: (node, delayMs) => { this.discovery.redialMember(node, delayMs) },
        cancelRedial: (node) => { this.discovery.cancelRedial(node) },
        memberCleaned: (node) => { this.discovery.memberCleaned(node) }
      },
      publish: (bytes) => { this.gossip.publish(bytes) },
      emit,
      removed: (by) => { this.dropCluster('removed', by) },
      refusals: this.refusals
    })
    this.tables = new TableReplication({
      settings,
      incarnation,
      membership: this.membership,
      refusals: this.refusals,
      dial: this.dialProtocol,
      announce: (bytes) => { this.announceRoutes(bytes) },
      publish: (bytes) => { this.gossip.publish(bytes) },
      reachability: () => ({ peerId: this.peerId, addrs: this.addresses() }),
      emit
    })
    this.discovery = new Discovery({ settings, libp2p, running, membership: this.membership })
    this.services = new ServiceChannel({
      memberOfPeer: (peerId) => {
        const name = this.membership.nameOfPeer(peerId)
        return name !== undefined && this.phase === 'running' && this.membership.isUp(name) ? name : undefined
      },
      peerOf: (node) => this.membership.isUp(node) ? this.membership.peerOf(node) : undefined,
      dial: this.dialProtocol,
      timeoutMs: settings.requestTimeoutMs,
      logger: this.logger
    })
  }

  /** Start time of this node's current membership; changes on `join()`. */
  get incarnation (): number {
    return this.membership.incarnation
  }

  get started (): boolean {
    return this.phase !== 'stopped'
  }

  /** The libp2p node (diagnostics and tests); throws before `start()`. */
  get libp2p (): ClusterLibp2p {
    if (this.node === undefined) throw new NotStartedError()
    return this.node
  }

  get peerId (): string {
    return this.libp2p.peerId.toString()
  }

  /** Whether this node runs on the public default cluster secret (anyone who knows it can join). */
  get usesDefaultSecret (): boolean {
    return this.settings.secret === DEFAULT_CLUSTER_SECRET
  }

  /** Multiaddrs this node listens on, with its peer id. */
  addresses (): string[] {
    return this.libp2p.getMultiaddrs().map(String)
  }

  /** Starts the service; an instance runs once (after `stop()`, create a new one). */
  async start (): Promise<void> {
    if (this.node !== undefined || this.stoppedOnce) throw new AlreadyStartedError()
    const s = this.settings
    if (this.usesDefaultSecret) this.logger.warn({ node: this.name, advice: DEFAULT_SECRET_ADVICE }, 'cluster_default_secret')
    const privateKey = await loadNodeIdentity(this.name, s.dataDir)
    const node = await createClusterLibp2p({
      privateKey,
      listenHost: s.listenHost,
      port: s.port,
      prologue: prologueFromSecret(s.secret),
      ...(s.discovery === 'mdns' ? { mdns: { serviceTag: s.mdnsServiceTag, intervalMs: s.mdnsIntervalMs } } : {}),
      inboundConnectionThreshold: s.inboundConnectionThreshold,
      dialTimeoutMs: s.dialTimeoutMs
    })
    this.node = node
    try {
      await this.startComponents(node)
    } catch (err) {
      this.membership.stop()
      this.discovery.stop()
      this.gossip.stop()
      this.node = undefined
      await node.stop()
      throw err
    }
    this.phase = 'running'
    this.tables.start()
    this.discovery.afterStart()
    if (this.restoredPeers.size > 0) {
      this.restoredCheck = setTimeout(() => { this.dropRestoredNonMembers() }, s.autocleanMs).unref()
    }
    this.logger.info({ node: this.name, peer_id: this.peerId, incarnation: this.incarnation, addrs: this.addresses(), discovery: s.discovery }, 'cluster_started')
  }

  /** Registers every protocol and listener on the (stopped) libp2p node, then starts it. */
  private async startComponents (node: ClusterLibp2p): Promise<void> {
    await this.membership.start()
    this.discovery.start()
    await node.handle(ROUTES_PROTOCOL, responder(ROUTES_PROTOCOL, (request) => this.tables.serveSnapshot(request), this.settings.requestTimeoutMs, this.logger))
    await node.handle(FORWARD_PROTOCOL, this.forwarder.handler, { maxInboundStreams: MAX_INBOUND_FORWARD_STREAMS })
    await node.handle(SERVICE_PROTOCOL, this.services.handler)
    this.gossip.start(node)
    await node.start()
    this.gossip.subscribe()
  }

  /** Stops the node without leaving: peers see it down and keep its routes until autoclean. */
  async stop (): Promise<void> {
    const node = this.node
    if (node === undefined) return
    await this.forwarder.drain(AbortSignal.timeout(this.settings.stopDrainMs))
    this.phase = 'stopped'
    clearTimeout(this.restoredCheck)
    this.tables.stop()
    this.discovery.stop()
    this.membership.stop()
    this.forwarder.closeAll('node stopping', true)
    this.refusals.flush()
    await node.stop()
    this.gossip.stop()
    this.node = undefined
    this.stoppedOnce = true
    this.logger.info({ node: this.name }, 'cluster_stopped')
  }

  addLocalRoute (filter: string): void {
    this.tables.routes.addLocal(filter)
  }

  removeLocalRoute (filter: string): void {
    this.tables.routes.removeLocal(filter)
  }

  localRoutes (): string[] {
    return this.tables.routes.localFilters()
  }

  /** The replica of `node`'s routes, or undefined if none is held. */
  routesOf (node: string): string[] | undefined {
    return this.tables.routes.routesOf(node)
  }

  /** A client id this node now holds a session for (connected or persisted). */
  addLocalClient (clientId: string): void {
    this.tables.clients.addLocal(clientId)
  }

  /** A client id this node no longer holds a session for. */
  removeLocalClient (clientId: string): void {
    this.tables.clients.removeLocal(clientId)
  }

  localClients (): string[] {
    return this.tables.clients.localFilters()
  }

  /**
   * The other nodes that hold a session for `clientId` by their replicated client ids: usually
   * none or one; the members that are up first, each part sorted.
   */
  clientHolders (clientId: string): string[] {
    const holders = this.tables.clients.holdersOf(clientId)
    return [...holders.filter(node => this.membership.isUp(node)), ...holders.filter(node => !this.membership.isUp(node))]
  }

  /** The replica of the client ids `node` holds, or undefined if none is held. */
  clientsOf (node: string): string[] | undefined {
    return this.tables.clients.routesOf(node)
  }

  /** Sends messages to a member node; see the module comment for delivery guarantees. */
  forward (node: string, messages: readonly Message[]): ForwardResult {
    if (this.phase !== 'running' || node === this.name || this.membership.get(node) === undefined) {
      this.forwardStats.droppedUnknownNode += messages.length
      this.emit('messages-dropped', { node, reason: 'unknown_node', count: messages.length })
      return { queued: 0, dropped: messages.length }
    }
    return this.forwarder.forward(node, messages)
  }

  /**
   * Before `start()`: queues for `node` the messages the journal kept at the last run (in their
   * order), resent once it is up. A node that is not a member again within `autocleanMs` of the
   * start is removed from the links, its messages dropped as `removed`.
   */
  restoreForwarded (node: string, entries: readonly JournaledMessage[]): void {
    if (this.node !== undefined || this.stoppedOnce) throw new AlreadyStartedError()
    this.restoredPeers.add(node)
    this.forwarder.restore(node, entries)
  }

  /** Resolves once every message forwarded to `node` so far has been acknowledged. */
  async whenDelivered (node: string, options: WaitOptions = {}): Promise<void> {
    await this.forwarder.whenDelivered(node, options.signal ?? AbortSignal.timeout(this.settings.requestTimeoutMs))
  }

  /**
   * Serves an application service (see `service-channel.ts`): requests from members that are up
   * reach `handler` with the asking member's name. Register before or after `start()`.
   */
  serve (service: string, handler: ServiceHandler): void {
    this.services.serve(service, handler)
  }

  /**
   * Asks the member `node` (which must be up) to serve a request; bounded by `signal`, or by the
   * request timeout when none is given. Throws `ServiceError` (its handler failed) or
   * `RequestFailedError`.
   */
  async request (node: string, service: string, payload: Uint8Array, options: WaitOptions = {}): Promise<Uint8Array> {
    if (this.phase !== 'running') throw new NotStartedError()
    return await this.services.request(node, service, payload, options.signal ?? AbortSignal.timeout(this.settings.requestTimeoutMs))
  }

  /** The other members that are up now, sorted. */
  runningMembers (): string[] {
    return [...this.membership.running()].sort()
  }

  isRunning (node: string): boolean {
    return node === this.name ? this.phase === 'running' : this.membership.isUp(node)
  }

  status (): ClusterStatus {
    return { runningNodes: [this.name, ...this.membership.running()].sort(), stoppedNodes: this.membership.stopped() }
  }

  stats (): ClusterStats {
    return { forward: { ...this.forwardStats }, ...this.tables.statsCopy(), links: this.forwarder.backlog(), trust: { refused: { ...this.trustStats.refused } } }
  }

  /**
   * Joins the cluster of the node at `address` (`name@host[:port]` or a multiaddr). If this node
   * is in a cluster it leaves it first (telling its peers, then 'left' with reason `join`); it
   * starts a new incarnation, so every peer pulls its routes afresh. Static seeds are not dialed
   * after a join. Resolves with the joined node's name; at once, changing nothing, when that node
   * is a member up already.
   */
  async join (address: string, options: WaitOptions = {}): Promise<string> {
    if (this.node === undefined) throw new NotStartedError()
    const target = parseDialAddress(address, this.settings.portBase)
    if (target.node === this.name) throw new JoinFailedError(address, { cause: new InvalidNodeAddressError(address, 'it names this node itself') })
    if (target.node !== undefined && this.phase === 'running' && this.membership.isUp(target.node)) return target.node
    if (this.phase === 'running') {
      const alone = !this.membership.hasMembers()
      if (!alone) await this.membership.leave()
      // Alone (e.g. just restarted), the only links are those of restored messages: they stay.
      this.dropCluster('join', undefined, alone)
    }
    const incarnation = this.membership.renewIncarnation()
    this.tables.renew(incarnation)
    this.discovery.rejoin()
    this.phase = 'running'
    this.tables.start()
    this.logger.info({ node: this.name, target: address, incarnation: this.incarnation }, 'cluster_join')
    const signal = anySignal(options.signal, AbortSignal.timeout(this.settings.dialTimeoutMs + this.settings.requestTimeoutMs))
    try {
      const connection = await raceSignal(this.libp2p.dial(target.multiaddr, { signal }), signal)
      return await raceSignal(this.membership.ensureHello(connection.remotePeer), signal)
    } catch (err) {
      throw new JoinFailedError(address, { cause: err })
    }
  }

  /** Leaves the cluster: tells every peer (bounded by the request timeout), then disconnects. */
  async leave (): Promise<void> {
    if (this.phase !== 'running') return
    await this.membership.leave()
    this.dropCluster('leave')
  }

  /**
   * Removes another node from the cluster: every node drops its routes, stops dialing it and
   * releases the pin of its name. `requestedBy` says who asked, for the log (default `local`).
   */
  async forceLeave (node: string, options: { requestedBy?: string } = {}): Promise<void> {
    if (node === this.name) throw new CannotRemoveSelfError(node)
    if (this.node === undefined) throw new NotStartedError()
    await this.membership.forceLeave(node, options.requestedBy ?? 'local')
  }

  /** This node is out of the cluster: drop every peer, their routes and queued messages (unless `keepLinks`). */
  private dropCluster (reason: 'leave' | 'removed' | 'join', by?: string, keepLinks = false): void {
    this.phase = 'left'
    this.tables.stop()
    this.discovery.pause()
    if (!keepLinks) this.forwarder.closeAll(`this node left (${reason})`)
    this.tables.dropReplicas()
    this.membership.reset()
    this.logger.info({ node: this.name, reason, ...(by === undefined ? {} : { by }) }, 'cluster_left')
    this.emit('left', by === undefined ? { reason } : { reason, by })
  }

  /** Restored peers that did not come back as members: dropped as a removed member's link is. */
  private dropRestoredNonMembers (): void {
    for (const node of this.restoredPeers) {
      if (this.phase !== 'running' || this.membership.get(node) !== undefined) continue
      this.logger.info({ node, after_ms: this.settings.autocleanMs }, 'forward_restored_removed')
      this.forwarder.remove(node)
    }
    this.restoredPeers.clear()
  }

  // ---- replication (table-replication.ts) and gossip (control-gossip.ts) -------------------

  private announceRoutes (bytes: Uint8Array): void {
    if (this.phase !== 'running') return
    for (const node of this.membership.running()) this.forwarder.sendRoutes(node, bytes)
  }

  /** A message on the gossip topic that arrived from the peer `source` (not necessarily its author). */
  private onGossip (message: ControlMessage, source: string): void {
    switch (message.type) {
      case 'delta':
      case 'digest':
        this.tables.onGossip(message, source)
        break
      case 'leave':
      case 'force-leave':
        this.membership.onNotice(message, source, 'gossip')
        break
      default:
        this.logger.debug({ type: message.type }, 'gossip_unexpected')
    }
  }

  private async openForwardStream (node: string, signal: AbortSignal) {
    const peer = this.membership.peerOf(node)
    if (peer === undefined) throw new UnknownNodeError(node)
    return await this.dialProtocol(peer, FORWARD_PROTOCOL, { signal })
  }
}

/** Creates the service (not started); throws on an invalid name or seed address. */
export function createClusterNetwork (init: ClusterNetworkInit = {}): ClusterNetwork {
  return new ClusterNetwork(init)
}
