/**
 * Cluster membership, a start/stop component of the cluster network: who is in the cluster and
 * whether each node is up.
 *
 * - Hello (`HELLO_PROTOCOL`): on every new connection each side sends its name, incarnation,
 *   addresses, the members it sees up and its tombstones; a hello accepted marks the node up
 *   (first time, restarted with a new incarnation, or healed after a partition), one refused
 *   hangs up. A hello is taken in only while a connection to its peer is open: one that completes
 *   after the last connection closed would leave the node up with nothing to mark it down. Members heard of through a hello or a digest are dialed (full mesh).
 * - Incarnation: the start time of this node's current membership, renewed on `join()`.
 * - Down: the last connection to a node closed, or its forward link went silent for the peer
 *   timeout; down longer than `autocleanMs`, it is removed with its routes (autoclean).
 * - Leave notices (`MEMBERSHIP_PROTOCOL` to each member, and gossip): `leave` and `force-leave`
 *   remove a node everywhere and leave a tombstone that refuses its incarnation from then on.
 * - Trust: a name is pinned to the peer id of its first accepted hello (`member-table.ts`); a
 *   notice is accepted only from its author, a leave from the node leaving and a force-leave from
 *   the member it names as `by` (`control-trust.ts`). A force-leave releases the pin, so a node
 *   that got a new key can come back. Tombstones in a hello (the sender's word that a node left)
 *   apply only to members that are down here: a member that is up speaks for itself.
 *
 * The pure member table is `member-table.ts`; redial and discovery are `discovery.ts`.
 */
import type { Connection, PeerId, Startable } from '@libp2p/interface'
import { AUTOCLEAN_CHECK_MS, HELLO_PROTOCOL, MEMBERSHIP_PROTOCOL } from './constants.js'
import { encodeControl, type ControlMessage, type Hello, type HelloReject } from './control-codec.js'
import {
  ControlRefusedError, HelloRejectedError, HelloWithoutConnectionError, MalformedFrameError, NodeRemovedError, NotStartedError, PeerUnresponsiveError,
  UnknownNodeError
} from './errors.js'
import { describeRefused, type ControlRefusals, type RefusalReason } from './control-trust.js'
import type { EmitClusterEvent, NodeDownReason } from './events.js'
import type { Forwarder } from './forwarder.js'
import { isFarAhead } from './incarnation.js'
import { boundedDialProtocol, type ClusterLibp2p } from './libp2p-node.js'
import { guarded } from './logger.js'
import { MemberTable, type Member, type MemberInfo, type Tombstone, type UpOutcome } from './member-table.js'
import { requestResponse, responder } from './request-response.js'
import type { RouteSync } from './route-sync.js'
import type { ClusterSettings } from './settings.js'

/** What membership asks of discovery. */
export interface MemberDialer {
  /** Keep dialing a member that is down after `delayMs`, until it is up or removed. */
  redialMember: (node: string, delayMs: number) => void
  cancelRedial: (node: string) => void
  /** A member was autocleaned: dial it again if it is a static seed. */
  memberCleaned: (node: string) => void
}

export interface MembershipComponents {
  settings: ClusterSettings
  /** Start time of this node's first membership. */
  incarnation: number
  /** The libp2p node; throws before the service starts. */
  libp2p: () => ClusterLibp2p
  /** Whether this node is in a cluster now (started and not left). */
  running: () => boolean
  forwarder: Pick<Forwarder, 'peerUp' | 'peerDown' | 'remove'>
  routes: Pick<RouteSync, 'nodeUp' | 'removeNode'>
  dialer: MemberDialer
  /** Publishes an encoded control message on the gossip topic. */
  publish: (bytes: Uint8Array) => void
  emit: EmitClusterEvent
  /** This node was removed from the cluster by another node. */
  removed: (by?: string) => void
  /** Counts and logs refused control messages. */
  refusals: ControlRefusals
}

export type LeaveNotice = ControlMessage & { type: 'leave' | 'force-leave' }

/** Delay before hanging up on a peer whose hello response was refused (see `sayHello`). */
const HELLO_REJECT_HANG_UP_MS = 500

export class ClusterMembership implements Startable {
  private readonly table: MemberTable
  private readonly hellos = new Map<string, Promise<string>>()
  private readonly peerIds = new Map<string, PeerId>()
  private readonly unresponsive = new Set<string>()
  private readonly dialProtocol
  private incarnationValue: number
  private autocleanTimer: NodeJS.Timeout | undefined

  constructor (private readonly components: MembershipComponents) {
    this.table = new MemberTable(components.settings.name)
    this.incarnationValue = components.incarnation
    this.dialProtocol = boundedDialProtocol(components.libp2p)
  }

  private get name (): string {
    return this.components.settings.name
  }

  private get logger (): ClusterSettings['logger'] {
    return this.components.settings.logger
  }

  /** Start time of this node's current membership; changes on `renewIncarnation()`. */
  get incarnation (): number {
    return this.incarnationValue
  }

  /** A new membership (join): every peer pulls this node's routes afresh. */
  renewIncarnation (): number {
    this.incarnationValue = Math.max(Date.now(), this.incarnationValue + 1)
    return this.incarnationValue
  }

  /** Registers the hello and notice protocols and the connection listeners (before libp2p starts). */
  async start (): Promise<void> {
    const node = this.components.libp2p()
    const timeoutMs = this.components.settings.requestTimeoutMs
    await node.handle(HELLO_PROTOCOL, responder(HELLO_PROTOCOL, (request, connection) => this.onHelloRequest(request, connection), timeoutMs, this.logger))
    await node.handle(MEMBERSHIP_PROTOCOL, responder(MEMBERSHIP_PROTOCOL, (request, connection) => this.onNoticeRequest(request, connection), timeoutMs, this.logger))
    node.addEventListener('connection:open', (event) => { guarded(this.logger, 'connection:open', () => { this.onConnectionOpen(event.detail) }) })
    node.addEventListener('peer:disconnect', (event) => { guarded(this.logger, 'peer:disconnect', () => { this.onPeerDisconnect(event.detail) }) })
    this.autocleanTimer = setInterval(() => { this.autoclean() }, Math.min(AUTOCLEAN_CHECK_MS, this.components.settings.autocleanMs))
  }

  stop (): void {
    clearInterval(this.autocleanTimer)
    this.autocleanTimer = undefined
  }

  get (node: string): Member | undefined {
    return this.table.get(node)
  }

  isUp (node: string): boolean {
    return this.table.isUp(node)
  }

  /** The member `peerId` is pinned to (met by a hello, up or down now): who speaks on its connections. */
  nameOfPeer (peerId: string): string | undefined {
    return this.table.nameOfPeer(peerId)
  }

  peerOf (node: string): PeerId | undefined {
    return this.peerIds.get(node)
  }

  /** Names of the members up, sorted (this node not included). */
  running (): string[] {
    return this.table.running()
  }

  /** Names of the known members down, sorted. */
  stopped (): string[] {
    return this.table.stopped()
  }

  hasMembers (): boolean {
    return this.table.all().length > 0
  }

  /** Whether route messages of `node` at `incarnation` are applied (not this node, not removed). */
  acceptsRoutesOf (node: string, incarnation: number): boolean {
    return node !== this.name && !this.table.isRemoved(node, incarnation)
  }

  /** Runs one hello with `peer` (deduplicated); resolves with its node name. */
  async ensureHello (peer: PeerId): Promise<string> {
    const key = peer.toString()
    let pending = this.hellos.get(key)
    if (pending === undefined) {
      pending = this.sayHello(peer).finally(() => this.hellos.delete(key))
      this.hellos.set(key, pending)
    }
    return await pending
  }

  /** A member heard of through another node: dial it, so the cluster stays a full mesh. */
  learn (info: MemberInfo): void {
    if (!this.components.running()) return
    if (this.table.learn(info, Date.now())) this.components.dialer.redialMember(info.name, 0)
  }

  /** The forward link of `node` heard nothing for the peer timeout: drop its connections (it goes down). */
  markUnresponsive (node: string, silentMs: number): void {
    const peer = this.peerIds.get(node)
    if (peer === undefined) return
    this.unresponsive.add(node)
    this.logger.warn({ node, silent_ms: silentMs }, 'node_unresponsive')
    for (const connection of this.components.libp2p().getConnections(peer)) connection.abort(new PeerUnresponsiveError(node, silentMs))
  }

  /**
   * A leave or force-leave notice from `peerId`, received directly or on gossip: applied only from
   * its author (see `control-trust.ts`). Returns why it was refused, if it was.
   */
  onNotice (notice: LeaveNotice, peerId: string, channel: 'gossip' | 'notice'): RefusalReason | undefined {
    if (!this.components.running()) return undefined
    const sender = this.table.nameOfPeer(peerId)
    const refusal = this.components.refusals.screen(notice, sender, peerId, channel)
    if (refusal !== undefined) return refusal
    const known = this.table.get(notice.node)
    if (known?.status === 'up' && notice.incarnation > known.incarnation) {
      // A member that is up told this node its incarnation itself: a notice for a later one is made up.
      this.components.refusals.refuse('future_incarnation', describeRefused(notice, sender, peerId, channel))
      return 'future_incarnation'
    }
    if (notice.node === this.name) {
      if (notice.type === 'force-leave' && notice.incarnation === this.incarnationValue) {
        this.logger.warn({ node: this.name, by: notice.by }, 'removed_from_cluster')
        this.components.removed(notice.by)
      }
      return undefined
    }
    if (known !== undefined && known.incarnation > notice.incarnation) return undefined
    if (notice.type === 'leave') this.removeMember(notice.node, 'left', notice.incarnation)
    else this.removeMember(notice.node, 'forced', notice.incarnation, { by: notice.by, releasePin: true })
    return undefined
  }

  /** Tells every member this node leaves (bounded by the request timeout); the caller then drops the cluster. */
  async leave (): Promise<void> {
    const notice: ControlMessage = { type: 'leave', node: this.name, incarnation: this.incarnationValue }
    this.components.publish(encodeControl(notice))
    await this.notifyMembers(notice, this.table.running())
  }

  /**
   * Removes another node (not this one) from the cluster: every node drops its routes, stops
   * dialing it and releases the pin of its name (so it may come back under a new key, by a fresh
   * join). Works on a member, or on a name only pinned (it left or was cleaned). Logged with
   * `requestedBy`, who asked. Throws `UnknownNodeError` for a name that is neither.
   */
  async forceLeave (node: string, requestedBy: string): Promise<void> {
    const member = this.table.get(node)
    const pin = this.table.pinOf(node)
    if (member === undefined && pin === undefined) throw new UnknownNodeError(node)
    const incarnation = member?.incarnation ?? pin?.incarnation ?? 0
    this.logger.warn({ node, incarnation, requested_by: requestedBy }, 'force_leave')
    const notice: ControlMessage = { type: 'force-leave', node, incarnation, by: this.name }
    if (member?.status === 'up') await this.notifyMembers(notice, [node])
    this.removeMember(node, 'forced', incarnation, { by: this.name, releasePin: true })
    this.components.publish(encodeControl(notice))
    await this.notifyMembers(notice, this.table.running())
  }

  /** Forgets every member, tombstones included, and hangs up on them (this node left the cluster). */
  reset (): void {
    const peers = [...this.peerIds.values()]
    this.table.reset()
    this.peerIds.clear()
    this.unresponsive.clear()
    for (const peer of peers) this.hangUp(peer)
  }

  private onConnectionOpen (connection: Connection): void {
    if (!this.components.running()) return
    const name = this.table.nameOfPeer(connection.remotePeer.toString())
    if (name !== undefined && this.table.isUp(name)) return
    this.ensureHello(connection.remotePeer).catch((err: unknown) => {
      this.logger.debug({ peer_id: connection.remotePeer.toString(), err }, 'hello_failed')
    })
  }

  private async sayHello (peer: PeerId): Promise<string> {
    const response = await requestResponse(this.dialProtocol, peer, peer.toString(), HELLO_PROTOCOL, this.helloMessage(), this.components.settings.requestTimeoutMs)
    if (response.type === 'hello-reject') {
      this.onHelloRejected(peer, response)
      throw new HelloRejectedError(response.reason, response.detail)
    }
    if (response.type !== 'hello' || response.peerId !== peer.toString()) throw new MalformedFrameError('hello response of another type or peer')
    if (!this.components.running()) throw new HelloRejectedError('left', `${this.name} left the cluster meanwhile`)
    if (!this.isConnected(peer)) throw new HelloWithoutConnectionError(response.name)
    const outcome = this.acceptHello(response, peer)
    if (outcome.kind === 'rejected') {
      // The peer may be saying hello to this node at the same time (both sides do on a new
      // connection): hang up once that exchange could answer it with the reason, so a refused
      // `cluster join` says why rather than that its stream closed.
      const timer = setTimeout(() => { if (this.table.nameOfPeer(peer.toString()) === undefined) this.hangUp(peer) },
        Math.min(HELLO_REJECT_HANG_UP_MS, this.components.settings.requestTimeoutMs))
      timer.unref()
      throw new HelloRejectedError(outcome.reason, outcome.detail)
    }
    return response.name
  }

  private onHelloRequest (request: ControlMessage, connection: Connection): ControlMessage {
    if (request.type !== 'hello') throw new MalformedFrameError(`${request.type} on ${HELLO_PROTOCOL}`)
    if (request.peerId !== connection.remotePeer.toString()) throw new MalformedFrameError('hello from another peer id')
    if (!this.components.running()) return { type: 'hello-reject', reason: 'left', detail: `${this.name} is not in a cluster` }
    if (!this.isConnected(connection.remotePeer)) throw new HelloWithoutConnectionError(request.name)
    const outcome = this.acceptHello(request, connection.remotePeer)
    if (outcome.kind === 'rejected') return { type: 'hello-reject', reason: outcome.reason, detail: outcome.detail }
    return this.helloMessage()
  }

  private helloMessage (): Hello {
    const node = this.components.libp2p()
    const members: MemberInfo[] = this.table.all().filter(m => m.status === 'up').map(({ name, peerId, incarnation, addrs }) => ({ name, peerId, incarnation, addrs }))
    return {
      type: 'hello',
      name: this.name,
      peerId: node.peerId.toString(),
      incarnation: this.incarnationValue,
      addrs: node.getMultiaddrs().map(String),
      members,
      tombstones: this.table.tombstones()
    }
  }

  /**
   * Whether a connection to `peer` is open now. A member is up only while it is: the close of its
   * last connection (`peer:disconnect`) is what marks it down, so a hello that completes after
   * that close (its response read before, processed after) must not mark it up again; it would
   * stay up with no connection, no forward link and so no peer timeout.
   */
  private isConnected (peer: PeerId): boolean {
    return this.components.libp2p().getConnections(peer).some(connection => connection.status === 'open')
  }

  /** A hello whose `peerId` is the connection's remote peer (checked by the caller). */
  private acceptHello (hello: Hello, peer: PeerId): UpOutcome {
    const now = Date.now()
    const info: MemberInfo = { name: hello.name, peerId: hello.peerId, incarnation: hello.incarnation, addrs: hello.addrs }
    const outcome = this.table.up(info, now)
    if (outcome.kind === 'rejected') {
      this.logger.warn({ node: hello.name, peer_id: hello.peerId, reason: outcome.reason, detail: outcome.detail }, 'hello_rejected')
      return outcome
    }
    this.peerIds.set(hello.name, peer)
    this.components.dialer.cancelRedial(hello.name)
    if (outcome.kind === 'unchanged') {
      this.components.forwarder.peerUp(hello.name)
    } else {
      this.onMemberUp(hello.name, hello.incarnation, outcome)
    }
    for (const tombstone of hello.tombstones) this.applyTombstone(tombstone, hello.name, hello.peerId, now)
    for (const member of hello.members) this.learn(member)
    return outcome
  }

  /**
   * A tombstone in `sender`'s hello: its word that a node left or was removed. Applied to a member
   * that is down here (one that is up speaks for itself), as a removal by `sender`; the pin stays.
   */
  private applyTombstone (tombstone: Tombstone, sender: string, peerId: string, now: number): void {
    const member = this.table.get(tombstone.name)
    if (tombstone.name === this.name || member === undefined || member.status === 'up' || member.incarnation > tombstone.incarnation) return
    if (isFarAhead(tombstone.incarnation, now)) {
      this.components.refusals.refuse('future_incarnation', { type: 'tombstone', about: tombstone.name, incarnation: tombstone.incarnation, sender, peerId, channel: 'hello' })
      return
    }
    this.removeMember(tombstone.name, 'forced', tombstone.incarnation, { by: sender })
  }

  private onMemberUp (node: string, incarnation: number, outcome: UpOutcome): void {
    const { forwarder, emit } = this.components
    this.unresponsive.delete(node)
    if (outcome.kind === 'restarted') forwarder.peerDown(node)
    forwarder.peerUp(node)
    const restarted = outcome.kind === 'restarted'
    this.logger.info({ node, incarnation, restarted }, 'node_up')
    emit('node-up', { node, incarnation, restarted })
    if (outcome.kind === 'healed') {
      this.logger.info({ node, down_for_ms: outcome.downForMs }, 'partition_healed')
      emit('partition-healed', { node, downForMs: outcome.downForMs })
    }
    this.components.routes.nodeUp(node, incarnation)
  }

  private onHelloRejected (peer: PeerId, reject: HelloReject): void {
    this.logger.warn({ peer_id: peer.toString(), reason: reject.reason, detail: reject.detail }, 'hello_rejected')
    this.hangUp(peer)
    if (reject.reason === 'removed' && this.components.running()) {
      this.logger.warn({ node: this.name, detail: reject.detail }, 'removed_from_cluster')
      this.components.removed()
    }
  }

  private onPeerDisconnect (peer: PeerId): void {
    const node = this.table.nameOfPeer(peer.toString())
    if (node === undefined || !this.table.down(node, Date.now())) return
    const reason: NodeDownReason = this.unresponsive.delete(node) ? 'unresponsive' : 'disconnected'
    this.components.forwarder.peerDown(node)
    this.logger.warn({ node, reason }, 'node_down')
    this.logger.warn({ node, reason }, 'partition_detected')
    this.components.emit('node-down', { node, reason })
    if (this.components.running()) this.components.dialer.redialMember(node, this.components.settings.redialMinMs)
  }

  private onNoticeRequest (request: ControlMessage, connection: Connection): ControlMessage {
    if (request.type !== 'leave' && request.type !== 'force-leave') throw new MalformedFrameError(`${request.type} on ${MEMBERSHIP_PROTOCOL}`)
    const refusal = this.onNotice(request, connection.remotePeer.toString(), 'notice')
    if (refusal !== undefined) throw new ControlRefusedError(refusal, `${request.type} of ${request.node} from peer ${connection.remotePeer.toString()}`)
    return { type: 'notice-ack' }
  }

  /**
   * Forgets a member and its routes: it left, was force-left (`by` that member; the pin of its
   * name released if `releasePin`), or was down too long.
   */
  private removeMember (node: string, how: 'left' | 'forced' | 'cleaned', tombstoneIncarnation?: number, options: { by?: string, releasePin?: boolean } = {}): void {
    const tombstone = how === 'cleaned' || tombstoneIncarnation === undefined ? undefined : { incarnation: tombstoneIncarnation }
    const hadPin = this.table.pinOf(node) !== undefined
    const member = this.table.remove(node, tombstone, options.releasePin)
    if (member === undefined) {
      if (options.releasePin === true && hadPin) this.logger.info({ node, by: options.by }, 'pin_released')
      return
    }
    const { dialer, forwarder, routes, emit } = this.components
    dialer.cancelRedial(node)
    forwarder.remove(node)
    routes.removeNode(node)
    const peer = this.peerIds.get(node)
    this.peerIds.delete(node)
    this.unresponsive.delete(node)
    if (how === 'cleaned') {
      const downForMs = Date.now() - member.since
      this.logger.warn({ node, down_for_ms: downForMs }, 'node_cleaned')
      emit('node-cleaned', { node, downForMs })
      dialer.memberCleaned(node)
      return
    }
    if (peer !== undefined) this.hangUp(peer, new NodeRemovedError(node))
    this.logger.info({ node, forced: how === 'forced', ...(options.by === undefined ? {} : { by: options.by }) }, 'node_left')
    emit('node-left', { node, forced: how === 'forced' })
  }

  private autoclean (): void {
    if (!this.components.running()) return
    for (const node of this.table.expired(Date.now(), this.components.settings.autocleanMs)) this.removeMember(node, 'cleaned')
  }

  /** Sends a leave/force-leave notice to each node directly; failures are logged, not thrown. */
  private async notifyMembers (notice: ControlMessage, nodes: string[]): Promise<void> {
    await Promise.all(nodes.map(async (node) => {
      const peer = this.peerIds.get(node)
      if (peer === undefined) return
      try {
        await requestResponse(this.dialProtocol, peer, node, MEMBERSHIP_PROTOCOL, notice, this.components.settings.requestTimeoutMs)
      } catch (err) {
        this.logger.warn({ node, notice: notice.type, err }, 'notice_failed')
      }
    }))
  }

  /** Closes the connections to `peer`: aborted with `reason`, or hung up politely without one. */
  private hangUp (peer: PeerId, reason?: Error): void {
    let node: ClusterLibp2p
    try {
      node = this.components.libp2p()
    } catch (err) {
      if (err instanceof NotStartedError) return
      throw err
    }
    if (reason !== undefined) {
      for (const connection of node.getConnections(peer)) connection.abort(reason)
      return
    }
    node.hangUp(peer, { signal: AbortSignal.timeout(this.components.settings.requestTimeoutMs) }).catch((err: unknown) => {
      this.logger.debug({ peer_id: peer.toString(), err }, 'hang_up_failed')
    })
  }
}
