/**
 * The cluster network service: connects this broker node to the other nodes of its cluster,
 * replicates route tables and forwards messages. It knows nothing about actors; the route table
 * drives it through the API below and applies its events.
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
 *   Changes travel as ordered deltas on the gossipsub topic, also pushed to each member that is up
 *   on its forward stream (first copy wins, by sequence number); a digest on gossip and a snapshot
 *   over a direct stream repair whatever is missed (route-sync.ts).
 *
 * ## Forwarding
 *   net.forward(node, messages) → {queued, dropped}   one long-lived stream per peer; QoS 1/2 kept
 *                                                   until acked and resent after a link failure;
 *                                                   QoS 0 to a down node dropped (stats)
 *   event 'message' {from, messages}                messages forwarded to this node by `from`;
 *                                                   deliver locally, never forward again
 *   net.whenDelivered(node, {signal})               resolves when all forwarded so far are acked
 *
 * ## Membership
 *   net.join(address)      address `name@host[:port]` or multiaddr; leaves the current cluster first
 *                          (the caller drops its own cluster data), resolves with the joined node's name
 *   net.leave()            tells the peers, disconnects, stops redialing; 'left' event
 *   net.forceLeave(node)   removes another node and its routes on every node
 *   net.status()           {runningNodes, stoppedNodes}, this node included in runningNodes
 *   net.isRunning(node)    whether routes of `node` are usable now (the publish path skips down nodes)
 *   events 'node-up' {node, incarnation, restarted}, 'node-down' {node, reason},
 *          'node-left' {node, forced}, 'node-cleaned' {node, downForMs} (down longer than autocleanMs),
 *          'partition-healed' {node, downForMs} (a node seen down is back with the same incarnation),
 *          'left' {reason} (this node left the cluster: 'leave', 'removed' by another node, or 'join')
 *
 * Nodes are named `name@host` everywhere above; peer ids never leave this module. Listeners must
 * not throw (Node reports a listener's exception as uncaught).
 *
 * Log events (pino-style `(fields, msg)`): node_up, node_down, route_sync, partition_detected,
 * partition_healed, node_cleaned, node_left, forward_failed, route_push_dropped, hello_rejected,
 * cluster_left.
 */
import '../src/core/polyfill.js'
import { hostname } from 'node:os'
import { multiaddr } from '@multiformats/multiaddr'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import {
  DEFAULT_AUTOCLEAN_MS, AUTOCLEAN_CHECK_MS, DEFAULT_CLUSTER_PORT_BASE, DEFAULT_CLUSTER_SECRET, DEFAULT_DIAL_TIMEOUT_MS,
  DEFAULT_DIGEST_INTERVAL_MS, DEFAULT_DISCOVERY, DEFAULT_DISCOVERY_TIE_BREAK_MS, DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_LISTEN_HOST, DEFAULT_MAX_QUEUED_BYTES_PER_PEER, DEFAULT_MDNS_INTERVAL_MS, DEFAULT_MDNS_SERVICE_TAG,
  DEFAULT_NODE_NAME_BASE, DEFAULT_PEER_TIMEOUT_MS, DEFAULT_REDIAL_MAX_MS, DEFAULT_REDIAL_MIN_MS,
  DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_ROUTE_FLUSH_MS, FORWARD_PROTOCOL, HELLO_PROTOCOL, MEMBERSHIP_PROTOCOL,
  REDIAL_TIE_BREAK_MS, ROUTES_PROTOCOL, ROUTES_TOPIC, DEFAULT_INBOUND_CONNECTION_THRESHOLD, MAX_INBOUND_FORWARD_STREAMS,
  STOP_DRAIN_MS
} from './constants.js'
import { anySignal, raceSignal } from './abort.js'
import { decodeControl, encodeControl, type ControlMessage, type Hello, type HelloReject } from './control-codec.js'
import {
  AlreadyStartedError, CannotRemoveSelfError, HelloRejectedError, InvalidNodeAddressError, JoinFailedError, MalformedFrameError,
  NodeRemovedError, NotStartedError, PeerUnresponsiveError, UnknownNodeError
} from './errors.js'
import { Forwarder } from './forwarder.js'
import { GossipEnvelope, openGossipEnvelope } from './gossip-envelope.js'
import { createClusterLibp2p, type ClusterLibp2p } from './libp2p-node.js'
import { silentLogger, type ClusterLogger } from './logger.js'
import { Membership, type MemberInfo, type UpOutcome } from './membership.js'
import { defaultClusterPort, parseNodeAddress, parseNodeName, type NodeAddress } from './node-name.js'
import { loadNodeIdentity } from './node-identity.js'
import { Redialer } from './redialer.js'
import { requestResponse, responder } from './request-response.js'
import { RouteSync } from './route-sync.js'
import { emptyForwardStats, emptyRouteStats, type ClusterStats } from './stats.js'
import { prologueFromSecret } from './secret-prologue.js'
import { TypedEventTarget } from './typed-event-target.js'
import type { ForwardResult } from './forward-link.js'
import type { RouteSnapshot } from './route-messages.js'
import type { Message } from '../src/core/mqtt/message.js'

export type DiscoveryMode = 'mdns' | 'static' | 'manual'

export interface ClusterNetworkInit {
  /** `name@host`, unique and immutable; default `meshmq@<hostname>`. */
  name?: string
  /** Holds `libp2p.key` and `node.json`; without it the peer id changes on every start. */
  dataDir?: string
  /** Pre-shared cluster secret; nodes with another secret cannot connect. */
  secret?: string
  listenHost?: string
  /** Cluster port; default by the EMQX rule from the name (`meshmq2@h` → 4372); 0 picks a free port. */
  port?: number
  portBase?: number
  discovery?: DiscoveryMode
  /** Static discovery: `name@host[:port]` (port by the name rule when absent) or multiaddrs. */
  seeds?: string[]
  mdnsServiceTag?: string
  mdnsIntervalMs?: number
  /** A node down longer than this is removed with its routes. */
  autocleanMs?: number
  digestIntervalMs?: number
  routeFlushMs?: number
  heartbeatIntervalMs?: number
  peerTimeoutMs?: number
  requestTimeoutMs?: number
  dialTimeoutMs?: number
  redialMinMs?: number
  redialMaxMs?: number
  maxQueuedBytesPerPeer?: number
  /** Inbound connections accepted per second from one host (libp2p rate limit). */
  inboundConnectionThreshold?: number
  logger?: ClusterLogger
}

export type NodeDownReason = 'disconnected' | 'unresponsive'

export interface ClusterEvents {
  'node-up': { node: string, incarnation: number, restarted: boolean }
  'node-down': { node: string, reason: NodeDownReason }
  'node-left': { node: string, forced: boolean }
  'node-cleaned': { node: string, downForMs: number }
  'partition-healed': { node: string, downForMs: number }
  'routes-replaced': { node: string, filters: string[] }
  'routes-changed': { node: string, added: string[], removed: string[] }
  message: { from: string, messages: Message[] }
  left: { reason: 'leave' | 'removed' | 'join', by?: string }
}

/** Like EMQX `cluster status`: `[{running_nodes, [...]}, {stopped_nodes, [...]}]`. */
export interface ClusterStatus {
  runningNodes: string[]
  stoppedNodes: string[]
}

export interface WaitOptions {
  signal?: AbortSignal
}

type Phase = 'stopped' | 'running' | 'left'

interface Settings {
  name: string
  dataDir: string | undefined
  secret: string
  listenHost: string
  port: number
  portBase: number
  discovery: DiscoveryMode
  seeds: NodeAddress[]
  mdnsServiceTag: string
  mdnsIntervalMs: number
  autocleanMs: number
  digestIntervalMs: number
  routeFlushMs: number
  heartbeatIntervalMs: number
  peerTimeoutMs: number
  requestTimeoutMs: number
  dialTimeoutMs: number
  redialMinMs: number
  redialMaxMs: number
  maxQueuedBytesPerPeer: number
  inboundConnectionThreshold: number
}

export class ClusterNetwork extends TypedEventTarget<ClusterEvents> {
  readonly name: string
  private readonly settings: Settings
  private readonly logger: ClusterLogger
  private readonly membership: Membership
  private readonly redialer: Redialer
  private readonly forwardStats = emptyForwardStats()
  private readonly routeStats = emptyRouteStats()
  private readonly routes: RouteSync
  private readonly forwarder: Forwarder
  private readonly gossipEnvelope = new GossipEnvelope()
  private readonly hellos = new Map<string, Promise<string>>()
  private readonly peerIds = new Map<string, PeerId>()
  private readonly unresponsive = new Set<string>()
  private readonly discoveryTimers = new Map<string, NodeJS.Timeout>()
  private node: ClusterLibp2p | undefined
  private phase: Phase = 'stopped'
  private incarnationValue: number
  private seedsEnabled = true
  private autocleanTimer: NodeJS.Timeout | undefined
  private stoppedOnce = false

  constructor (init: ClusterNetworkInit = {}) {
    super()
    this.settings = resolveSettings(init)
    this.name = this.settings.name
    this.logger = init.logger ?? silentLogger
    this.incarnationValue = Date.now()
    this.membership = new Membership(this.name)
    this.redialer = new Redialer({
      minMs: this.settings.redialMinMs,
      maxMs: this.settings.redialMaxMs,
      dialTimeoutMs: this.settings.dialTimeoutMs,
      logger: this.logger
    })
    this.routes = new RouteSync({
      node: this.name,
      incarnation: this.incarnationValue,
      announce: (bytes) => { this.announceRoutes(bytes) },
      publish: (bytes) => { this.publish(bytes) },
      canFetch: (node) => this.membership.isUp(node),
      fetchSnapshot: async (node) => await this.fetchSnapshot(node),
      isMember: (node) => this.membership.get(node) !== undefined,
      reachability: () => ({ peerId: this.peerId, addrs: this.addresses() }),
      emit: (event) => {
        if (event.type === 'routes-replaced') this.emit(event.type, { node: event.node, filters: event.filters })
        else this.emit(event.type, { node: event.node, added: event.added, removed: event.removed })
      },
      flushMs: this.settings.routeFlushMs,
      digestIntervalMs: this.settings.digestIntervalMs,
      stats: this.routeStats,
      logger: this.logger
    })
    this.forwarder = new Forwarder({
      localName: this.name,
      incarnation: () => this.incarnationValue,
      openStream: async (node, signal) => await this.openForwardStream(node, signal),
      nodeOfPeer: (peerId) => {
        const name = this.membership.nameOfPeer(peerId)
        return name !== undefined && this.membership.isUp(name) ? name : undefined
      },
      deliver: (from, messages) => { this.emit('message', { from, messages }) },
      onRoutes: (from, control) => { this.guard('routes', () => { this.onPushedRoutes(from, control) }) },
      onUnresponsive: (node, silentMs) => { this.onUnresponsive(node, silentMs) },
      maxQueuedBytesPerPeer: this.settings.maxQueuedBytesPerPeer,
      heartbeatIntervalMs: this.settings.heartbeatIntervalMs,
      peerTimeoutMs: this.settings.peerTimeoutMs,
      openTimeoutMs: this.settings.requestTimeoutMs,
      stats: this.forwardStats,
      logger: this.logger
    })
  }

  /** Start time of this node's current membership; changes on `join()`. */
  get incarnation (): number {
    return this.incarnationValue
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

  /** Multiaddrs this node listens on, with its peer id. */
  addresses (): string[] {
    return this.libp2p.getMultiaddrs().map(String)
  }

  /** Starts the service; an instance runs once (after `stop()`, create a new one). */
  async start (): Promise<void> {
    if (this.node !== undefined || this.stoppedOnce) throw new AlreadyStartedError()
    const s = this.settings
    if (s.secret === DEFAULT_CLUSTER_SECRET) this.logger.warn({ node: this.name }, 'cluster_default_secret')
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
      await this.startNode(node)
    } catch (err) {
      this.node = undefined
      await node.stop()
      throw err
    }
    this.phase = 'running'
    this.routes.start()
    this.autocleanTimer = setInterval(() => { this.autoclean() }, Math.min(AUTOCLEAN_CHECK_MS, s.autocleanMs))
    this.startSeeds()
    this.logger.info({ node: this.name, peer_id: this.peerId, incarnation: this.incarnationValue, addrs: this.addresses(), discovery: s.discovery }, 'cluster_started')
  }

  private async startNode (node: ClusterLibp2p): Promise<void> {
    const s = this.settings
    await node.handle(HELLO_PROTOCOL, responder(HELLO_PROTOCOL, (request, connection) => this.onHelloRequest(request, connection), s.requestTimeoutMs, this.logger))
    await node.handle(ROUTES_PROTOCOL, responder(ROUTES_PROTOCOL, (request) => this.onSnapshotRequest(request), s.requestTimeoutMs, this.logger))
    await node.handle(MEMBERSHIP_PROTOCOL, responder(MEMBERSHIP_PROTOCOL, (request) => this.onNoticeRequest(request), s.requestTimeoutMs, this.logger))
    await node.handle(FORWARD_PROTOCOL, this.forwarder.handler, { maxInboundStreams: MAX_INBOUND_FORWARD_STREAMS })
    // A throw inside an EventTarget listener would crash the process: every listener is guarded.
    node.addEventListener('connection:open', (event) => { this.guard('connection:open', () => { this.onConnectionOpen(event.detail) }) })
    node.addEventListener('peer:disconnect', (event) => { this.guard('peer:disconnect', () => { this.onPeerDisconnect(event.detail) }) })
    node.addEventListener('peer:discovery', (event) => { this.guard('peer:discovery', () => { this.onDiscovery(event.detail.id) }) })
    node.services.pubsub.addEventListener('message', (event) => {
      if (event.detail.topic === ROUTES_TOPIC) this.guard('gossip', () => { this.onGossip(event.detail.data) })
    })
    await node.start()
    node.services.pubsub.subscribe(ROUTES_TOPIC)
  }

  /** Stops the node without leaving: peers see it down and keep its routes until autoclean. */
  async stop (): Promise<void> {
    const node = this.node
    if (node === undefined) return
    await this.forwarder.drain(AbortSignal.timeout(STOP_DRAIN_MS))
    this.phase = 'stopped'
    this.routes.stop()
    this.redialer.stop()
    clearInterval(this.autocleanTimer)
    for (const timer of this.discoveryTimers.values()) clearTimeout(timer)
    this.discoveryTimers.clear()
    this.forwarder.closeAll('node stopping')
    await node.stop()
    this.node = undefined
    this.stoppedOnce = true
    this.logger.info({ node: this.name }, 'cluster_stopped')
  }

  addLocalRoute (filter: string): void {
    this.routes.addLocal(filter)
  }

  removeLocalRoute (filter: string): void {
    this.routes.removeLocal(filter)
  }

  localRoutes (): string[] {
    return this.routes.localFilters()
  }

  /** The replica of `node`'s routes, or undefined if none is held. */
  routesOf (node: string): string[] | undefined {
    return this.routes.routesOf(node)
  }

  /** Sends messages to a member node; see the module comment for delivery guarantees. */
  forward (node: string, messages: readonly Message[]): ForwardResult {
    if (this.phase !== 'running' || node === this.name || this.membership.get(node) === undefined) {
      this.forwardStats.droppedUnknownNode += messages.length
      return { queued: 0, dropped: messages.length }
    }
    return this.forwarder.forward(node, messages)
  }

  /** Resolves once every message forwarded to `node` so far has been acknowledged. */
  async whenDelivered (node: string, options: WaitOptions = {}): Promise<void> {
    await this.forwarder.whenDelivered(node, options.signal ?? AbortSignal.timeout(this.settings.requestTimeoutMs))
  }

  isRunning (node: string): boolean {
    return node === this.name ? this.phase === 'running' : this.membership.isUp(node)
  }

  status (): ClusterStatus {
    return { runningNodes: [this.name, ...this.membership.running()].sort(), stoppedNodes: this.membership.stopped() }
  }

  stats (): ClusterStats {
    return { forward: { ...this.forwardStats }, routes: { ...this.routeStats }, links: this.forwarder.backlog() }
  }

  /**
   * Joins the cluster of the node at `address` (`name@host[:port]` or a multiaddr). If this node
   * is in a cluster it leaves it first; it starts a new incarnation, so every peer pulls its routes
   * afresh. Static seeds are not dialed after a join. Resolves with the joined node's name.
   */
  async join (address: string, options: WaitOptions = {}): Promise<string> {
    if (this.node === undefined) throw new NotStartedError()
    const target = parseNodeAddress(address, this.settings.portBase)
    if (target.node === this.name) throw new JoinFailedError(address, { cause: new InvalidNodeAddressError(address, 'it names this node itself') })
    if (target.node !== undefined && this.phase === 'running' && this.membership.isUp(target.node)) return target.node
    if (this.phase === 'running' && this.membership.all().length > 0) await this.leave()
    else if (this.phase === 'running') this.dropCluster('join')
    this.incarnationValue = Math.max(Date.now(), this.incarnationValue + 1)
    this.routes.renew(this.incarnationValue)
    this.seedsEnabled = false
    this.redialer.resume()
    this.phase = 'running'
    this.routes.start()
    this.logger.info({ node: this.name, target: address, incarnation: this.incarnationValue }, 'cluster_join')
    const signal = anySignal(options.signal, AbortSignal.timeout(this.settings.dialTimeoutMs + this.settings.requestTimeoutMs))
    try {
      const connection = await raceSignal(this.libp2p.dial(target.multiaddr, { signal }), signal)
      return await raceSignal(this.ensureHello(connection.remotePeer), signal)
    } catch (err) {
      throw new JoinFailedError(address, { cause: err })
    }
  }

  /** Leaves the cluster: tells every peer (bounded by the request timeout), then disconnects. */
  async leave (): Promise<void> {
    if (this.phase !== 'running') return
    const notice: ControlMessage = { type: 'leave', node: this.name, incarnation: this.incarnationValue }
    this.publish(encodeControl(notice))
    await this.notifyMembers(notice, this.membership.running())
    this.dropCluster('leave')
  }

  /** Removes another node from the cluster: every node drops its routes and stops dialing it. */
  async forceLeave (node: string): Promise<void> {
    if (node === this.name) throw new CannotRemoveSelfError(node)
    if (this.node === undefined) throw new NotStartedError()
    const member = this.membership.get(node)
    if (member === undefined) throw new UnknownNodeError(node)
    const notice: ControlMessage = { type: 'force-leave', node, incarnation: member.incarnation, by: this.name }
    if (member.status === 'up') await this.notifyMembers(notice, [node])
    this.removeMember(node, 'forced', member.incarnation)
    this.publish(encodeControl(notice))
    await this.notifyMembers(notice, this.membership.running())
  }

  // ---- connections and hello -------------------------------------------------------------

  private onConnectionOpen (connection: Connection): void {
    if (this.phase !== 'running') return
    const name = this.membership.nameOfPeer(connection.remotePeer.toString())
    if (name !== undefined && this.membership.isUp(name)) return
    this.ensureHello(connection.remotePeer).catch((err) => {
      this.logger.debug({ peer_id: connection.remotePeer.toString(), err }, 'hello_failed')
    })
  }

  /** Runs one hello with `peer` (deduplicated); resolves with its node name. */
  private async ensureHello (peer: PeerId): Promise<string> {
    const key = peer.toString()
    let pending = this.hellos.get(key)
    if (pending === undefined) {
      pending = this.sayHello(peer).finally(() => this.hellos.delete(key))
      this.hellos.set(key, pending)
    }
    return await pending
  }

  private async sayHello (peer: PeerId): Promise<string> {
    const response = await requestResponse(this.dialProtocol, peer, peer.toString(), HELLO_PROTOCOL, this.helloMessage(), this.settings.requestTimeoutMs)
    if (response.type === 'hello-reject') {
      this.onHelloRejected(peer, response)
      throw new HelloRejectedError(response.reason, response.detail)
    }
    if (response.type !== 'hello' || response.peerId !== peer.toString()) throw new MalformedFrameError('hello response of another type or peer')
    if (this.phase !== 'running') throw new HelloRejectedError('left', `${this.name} left the cluster meanwhile`)
    const outcome = this.acceptHello(response, peer)
    if (outcome.kind === 'rejected') {
      this.hangUp(peer)
      throw new HelloRejectedError(outcome.reason, outcome.detail)
    }
    return response.name
  }

  private onHelloRequest (request: ControlMessage, connection: Connection): ControlMessage {
    if (request.type !== 'hello') throw new MalformedFrameError(`${request.type} on ${HELLO_PROTOCOL}`)
    if (request.peerId !== connection.remotePeer.toString()) throw new MalformedFrameError('hello from another peer id')
    if (this.phase !== 'running') return { type: 'hello-reject', reason: 'left', detail: `${this.name} is not in a cluster` }
    const outcome = this.acceptHello(request, connection.remotePeer)
    if (outcome.kind === 'rejected') return { type: 'hello-reject', reason: outcome.reason, detail: outcome.detail }
    return this.helloMessage()
  }

  private helloMessage (): Hello {
    const members: MemberInfo[] = this.membership.all().filter(m => m.status === 'up').map(({ name, peerId, incarnation, addrs }) => ({ name, peerId, incarnation, addrs }))
    return {
      type: 'hello',
      name: this.name,
      peerId: this.peerId,
      incarnation: this.incarnationValue,
      addrs: this.addresses(),
      members,
      tombstones: this.membership.tombstones()
    }
  }

  private acceptHello (hello: Hello, peer: PeerId): UpOutcome {
    const info: MemberInfo = { name: hello.name, peerId: hello.peerId, incarnation: hello.incarnation, addrs: hello.addrs }
    const outcome = this.membership.up(info, Date.now())
    if (outcome.kind === 'rejected') {
      this.logger.warn({ node: hello.name, peer_id: hello.peerId, reason: outcome.reason, detail: outcome.detail }, 'hello_rejected')
      return outcome
    }
    this.peerIds.set(hello.name, peer)
    this.redialer.cancel(redialKey(hello.name))
    if (outcome.kind === 'unchanged') {
      this.forwarder.peerUp(hello.name)
    } else {
      this.onMemberUp(hello.name, hello.incarnation, outcome)
    }
    for (const tombstone of hello.tombstones) {
      const member = this.membership.get(tombstone.name)
      if (tombstone.name !== this.name && member !== undefined && member.incarnation <= tombstone.incarnation) {
        this.removeMember(tombstone.name, 'forced', tombstone.incarnation)
      }
    }
    for (const member of hello.members) this.learnMember(member)
    return outcome
  }

  private onMemberUp (node: string, incarnation: number, outcome: UpOutcome): void {
    this.unresponsive.delete(node)
    if (outcome.kind === 'restarted') this.forwarder.peerDown(node)
    this.forwarder.peerUp(node)
    const restarted = outcome.kind === 'restarted'
    this.logger.info({ node, incarnation, restarted }, 'node_up')
    this.emit('node-up', { node, incarnation, restarted })
    if (outcome.kind === 'healed') {
      this.logger.info({ node, down_for_ms: outcome.downForMs }, 'partition_healed')
      this.emit('partition-healed', { node, downForMs: outcome.downForMs })
    }
    this.routes.nodeUp(node, incarnation)
  }

  private onHelloRejected (peer: PeerId, reject: HelloReject): void {
    this.logger.warn({ peer_id: peer.toString(), reason: reject.reason, detail: reject.detail }, 'hello_rejected')
    this.hangUp(peer)
    if (reject.reason === 'removed' && this.phase === 'running') {
      this.logger.warn({ node: this.name, detail: reject.detail }, 'removed_from_cluster')
      this.dropCluster('removed')
    }
  }

  /** A member heard of through another node: dial it, so the cluster stays a full mesh. */
  private learnMember (info: MemberInfo): void {
    if (this.phase !== 'running') return
    if (this.membership.learn(info, Date.now())) this.redialMember(info.name, 0)
  }

  private onPeerDisconnect (peer: PeerId): void {
    const node = this.membership.nameOfPeer(peer.toString())
    if (node === undefined || !this.membership.down(node, Date.now())) return
    const reason: 'disconnected' | 'unresponsive' = this.unresponsive.delete(node) ? 'unresponsive' : 'disconnected'
    this.forwarder.peerDown(node)
    this.logger.warn({ node, reason }, 'node_down')
    this.logger.warn({ node, reason }, 'partition_detected')
    this.emit('node-down', { node, reason })
    if (this.phase === 'running') this.redialMember(node, this.settings.redialMinMs)
  }

  private onUnresponsive (node: string, silentMs: number): void {
    const peer = this.peerIds.get(node)
    if (peer === undefined) return
    this.unresponsive.add(node)
    this.logger.warn({ node, silent_ms: silentMs }, 'node_unresponsive')
    for (const connection of this.libp2p.getConnections(peer)) connection.abort(new PeerUnresponsiveError(node, silentMs))
  }

  // ---- discovery and redial ---------------------------------------------------------------

  private startSeeds (): void {
    if (this.settings.discovery !== 'static' || !this.seedsEnabled) return
    for (const seed of this.settings.seeds) this.dialSeed(seed)
  }

  private dialSeed (seed: NodeAddress): void {
    if (seed.node === this.name) return
    this.redialer.want(seedKey(seed), async (signal) => {
      if (seed.node !== undefined && this.membership.isUp(seed.node)) return true
      const connection = await raceSignal(this.libp2p.dial(seed.multiaddr, { signal }), signal)
      const name = await this.ensureHello(connection.remotePeer)
      if (seed.node !== undefined && name !== seed.node) this.logger.warn({ seed: seed.multiaddr.toString(), expected: seed.node, actual: name }, 'seed_name_mismatch')
      return true
    }, 0)
  }

  private redialMember (node: string, delayMs: number): void {
    const tieBreak = this.name < node ? 0 : REDIAL_TIE_BREAK_MS
    this.redialer.want(redialKey(node), async (signal) => {
      const member = this.membership.get(node)
      if (member === undefined || member.status === 'up') return true
      if (member.addrs.length === 0) return false
      const connection = await raceSignal(this.libp2p.dial(member.addrs.map(a => multiaddr(a)), { signal }), signal)
      await this.ensureHello(connection.remotePeer)
      return true
    }, delayMs + tieBreak)
  }

  /** mDNS: dial a discovered peer; the lower peer id dials now, the other only as a fallback. */
  private onDiscovery (peer: PeerId): void {
    if (this.phase !== 'running' || this.settings.discovery !== 'mdns') return
    const key = peer.toString()
    const known = this.membership.nameOfPeer(key)
    if (this.discoveryTimers.has(key) || (known !== undefined && this.membership.isUp(known))) return
    if (this.libp2p.getConnections(peer).length > 0) {
      // connected but not identified (an earlier hello failed): try the hello again
      this.ensureHello(peer).catch((err) => { this.logger.debug({ peer_id: key, err }, 'hello_failed') })
      return
    }
    const delay = this.peerId < key ? 0 : DEFAULT_DISCOVERY_TIE_BREAK_MS
    this.discoveryTimers.set(key, setTimeout(() => {
      this.discoveryTimers.delete(key)
      if (this.phase !== 'running' || this.libp2p.getConnections(peer).length > 0) return
      const signal = AbortSignal.timeout(this.settings.dialTimeoutMs)
      raceSignal(this.libp2p.dial(peer, { signal }), signal).catch((err) => {
        this.logger.debug({ peer_id: key, err }, 'discovery_dial_failed')
      })
    }, delay))
  }

  // ---- routes ----------------------------------------------------------------------------

  private publish (bytes: Uint8Array): void {
    if (this.node === undefined || this.phase !== 'running') return
    this.node.services.pubsub.publish(ROUTES_TOPIC, this.gossipEnvelope.wrap(bytes)).catch((err) => {
      this.logger.debug({ err }, 'gossip_publish_failed')
    })
  }

  private announceRoutes (bytes: Uint8Array): void {
    if (this.phase !== 'running') return
    for (const node of this.membership.running()) this.forwarder.sendRoutes(node, bytes)
  }

  /** A route delta pushed by `from` over its forward stream. */
  private onPushedRoutes (from: string, control: Uint8Array): void {
    if (this.phase !== 'running') return
    const message = decodeControl(control)
    if (message.type !== 'delta' || message.node !== from) throw new MalformedFrameError(`${message.type} of ${message.type === 'delta' ? message.node : 'nobody'} pushed by ${from}`)
    if (this.acceptsRoutesOf(message.node, message.incarnation)) this.routes.onDelta(message)
  }

  private onGossip (data: Uint8Array): void {
    if (this.phase !== 'running') return
    let message: ControlMessage
    try {
      message = decodeControl(openGossipEnvelope(data))
    } catch (err) {
      this.logger.debug({ err }, 'gossip_malformed')
      return
    }
    switch (message.type) {
      case 'delta':
        if (this.acceptsRoutesOf(message.node, message.incarnation)) this.routes.onDelta(message)
        break
      case 'digest':
        if (!this.acceptsRoutesOf(message.node, message.incarnation)) break
        this.learnMember({ name: message.node, peerId: message.peerId, incarnation: message.incarnation, addrs: message.addrs })
        this.routes.onDigest(message)
        break
      case 'leave':
      case 'force-leave':
        this.onNotice(message)
        break
      default:
        this.logger.debug({ type: message.type }, 'gossip_unexpected')
    }
  }

  private acceptsRoutesOf (node: string, incarnation: number): boolean {
    return node !== this.name && !this.membership.isRemoved(node, incarnation)
  }

  private async fetchSnapshot (node: string): Promise<RouteSnapshot> {
    const peer = this.peerIds.get(node)
    if (peer === undefined) throw new UnknownNodeError(node)
    const response = await requestResponse(this.dialProtocol, peer, node, ROUTES_PROTOCOL, { type: 'snapshot-request', node }, this.settings.requestTimeoutMs)
    if (response.type !== 'snapshot' || response.node !== node) throw new MalformedFrameError(`expected the snapshot of ${node}`)
    return response
  }

  private onSnapshotRequest (request: ControlMessage): ControlMessage {
    if (request.type !== 'snapshot-request') throw new MalformedFrameError(`${request.type} on ${ROUTES_PROTOCOL}`)
    if (request.node !== this.name) throw new UnknownNodeError(request.node)
    this.routeStats.snapshotsServed++
    return { type: 'snapshot', ...this.routes.localSnapshot() }
  }

  // ---- membership changes ----------------------------------------------------------------

  private onNoticeRequest (request: ControlMessage): ControlMessage {
    if (request.type !== 'leave' && request.type !== 'force-leave') throw new MalformedFrameError(`${request.type} on ${MEMBERSHIP_PROTOCOL}`)
    this.onNotice(request)
    return { type: 'notice-ack' }
  }

  private onNotice (notice: ControlMessage & { type: 'leave' | 'force-leave' }): void {
    if (this.phase !== 'running') return
    if (notice.node === this.name) {
      if (notice.type === 'force-leave' && notice.incarnation === this.incarnationValue) {
        this.logger.warn({ node: this.name, by: notice.by }, 'removed_from_cluster')
        this.dropCluster('removed', notice.by)
      }
      return
    }
    const member = this.membership.get(notice.node)
    if (member !== undefined && member.incarnation > notice.incarnation) return
    this.removeMember(notice.node, notice.type === 'leave' ? 'left' : 'forced', notice.incarnation)
  }

  /** Forgets a member and its routes: it left, was force-left, or was down too long. */
  private removeMember (node: string, how: 'left' | 'forced' | 'cleaned', tombstoneIncarnation?: number): void {
    const member = this.membership.remove(node, how === 'cleaned' || tombstoneIncarnation === undefined ? undefined : { incarnation: tombstoneIncarnation })
    if (member === undefined) return
    this.redialer.cancel(redialKey(node))
    this.forwarder.remove(node)
    this.routes.removeNode(node)
    const peer = this.peerIds.get(node)
    this.peerIds.delete(node)
    this.unresponsive.delete(node)
    if (how === 'cleaned') {
      const downForMs = Date.now() - member.since
      this.logger.warn({ node, down_for_ms: downForMs }, 'node_cleaned')
      this.emit('node-cleaned', { node, downForMs })
      const seed = this.settings.seeds.find(s => s.node === node)
      if (seed !== undefined && this.seedsEnabled && this.settings.discovery === 'static') this.dialSeed(seed)
      return
    }
    if (peer !== undefined) this.hangUp(peer, new NodeRemovedError(node))
    this.logger.info({ node, forced: how === 'forced' }, 'node_left')
    this.emit('node-left', { node, forced: how === 'forced' })
  }

  private autoclean (): void {
    if (this.phase !== 'running') return
    for (const node of this.membership.expired(Date.now(), this.settings.autocleanMs)) this.removeMember(node, 'cleaned')
  }

  /** This node is out of the cluster: drop every peer, their routes and queued messages. */
  private dropCluster (reason: 'leave' | 'removed' | 'join', by?: string): void {
    this.phase = 'left'
    this.routes.stop()
    this.redialer.stop()
    this.forwarder.closeAll(`this node left (${reason})`)
    this.routes.dropReplicas()
    const peers = [...this.peerIds.values()]
    this.membership.reset()
    this.peerIds.clear()
    this.unresponsive.clear()
    for (const peer of peers) this.hangUp(peer)
    this.logger.info({ node: this.name, reason, ...(by === undefined ? {} : { by }) }, 'cluster_left')
    this.emit('left', by === undefined ? { reason } : { reason, by })
  }

  /** Sends a leave/force-leave notice to each node directly; failures are logged, not thrown. */
  private async notifyMembers (notice: ControlMessage, nodes: string[]): Promise<void> {
    await Promise.all(nodes.map(async (node) => {
      const peer = this.peerIds.get(node)
      if (peer === undefined) return
      try {
        await requestResponse(this.dialProtocol, peer, node, MEMBERSHIP_PROTOCOL, notice, this.settings.requestTimeoutMs)
      } catch (err) {
        this.logger.warn({ node, notice: notice.type, err }, 'notice_failed')
      }
    }))
  }

  private async openForwardStream (node: string, signal: AbortSignal) {
    const peer = this.peerIds.get(node)
    if (peer === undefined) throw new UnknownNodeError(node)
    return await raceSignal(this.libp2p.dialProtocol(peer, FORWARD_PROTOCOL, { signal }), signal, discardStream)
  }

  private readonly dialProtocol = async (peer: PeerId, protocol: string, options: { signal: AbortSignal }) =>
    await raceSignal(this.libp2p.dialProtocol(peer, protocol, options), options.signal, discardStream)

  private guard (what: string, handle: () => void): void {
    try {
      handle()
    } catch (err) {
      this.logger.error({ event: what, err }, 'cluster_handler_failed')
    }
  }

  private hangUp (peer: PeerId, reason?: Error): void {
    if (this.node === undefined) return
    if (reason !== undefined) {
      for (const connection of this.node.getConnections(peer)) connection.abort(reason)
      return
    }
    this.node.hangUp(peer, { signal: AbortSignal.timeout(this.settings.requestTimeoutMs) }).catch((err) => {
      this.logger.debug({ peer_id: peer.toString(), err }, 'hang_up_failed')
    })
  }
}

/** Creates the service (not started); throws on an invalid name or seed address. */
export function createClusterNetwork (init: ClusterNetworkInit = {}): ClusterNetwork {
  return new ClusterNetwork(init)
}

function resolveSettings (init: ClusterNetworkInit): Settings {
  const name = init.name ?? `${DEFAULT_NODE_NAME_BASE}@${hostname()}`
  parseNodeName(name)
  const portBase = init.portBase ?? DEFAULT_CLUSTER_PORT_BASE
  return {
    name,
    dataDir: init.dataDir,
    secret: init.secret ?? DEFAULT_CLUSTER_SECRET,
    listenHost: init.listenHost ?? DEFAULT_LISTEN_HOST,
    port: init.port ?? defaultClusterPort(name, portBase),
    portBase,
    discovery: init.discovery ?? DEFAULT_DISCOVERY,
    seeds: (init.seeds ?? []).map(seed => parseNodeAddress(seed, portBase)),
    mdnsServiceTag: init.mdnsServiceTag ?? DEFAULT_MDNS_SERVICE_TAG,
    mdnsIntervalMs: init.mdnsIntervalMs ?? DEFAULT_MDNS_INTERVAL_MS,
    autocleanMs: init.autocleanMs ?? DEFAULT_AUTOCLEAN_MS,
    digestIntervalMs: init.digestIntervalMs ?? DEFAULT_DIGEST_INTERVAL_MS,
    routeFlushMs: init.routeFlushMs ?? DEFAULT_ROUTE_FLUSH_MS,
    heartbeatIntervalMs: init.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
    peerTimeoutMs: init.peerTimeoutMs ?? DEFAULT_PEER_TIMEOUT_MS,
    requestTimeoutMs: init.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    dialTimeoutMs: init.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS,
    redialMinMs: init.redialMinMs ?? DEFAULT_REDIAL_MIN_MS,
    redialMaxMs: init.redialMaxMs ?? DEFAULT_REDIAL_MAX_MS,
    maxQueuedBytesPerPeer: init.maxQueuedBytesPerPeer ?? DEFAULT_MAX_QUEUED_BYTES_PER_PEER,
    inboundConnectionThreshold: init.inboundConnectionThreshold ?? DEFAULT_INBOUND_CONNECTION_THRESHOLD
  }
}

function discardStream (stream: Stream): void {
  stream.abort(new Error('opened after its caller gave up'))
}

function redialKey (node: string): string {
  return `node:${node}`
}

function seedKey (seed: NodeAddress): string {
  return `seed:${seed.multiaddr.toString()}`
}
