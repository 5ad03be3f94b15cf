/**
 * The replicated tables, a component of the cluster network: this node's routes and the client ids
 * it holds sessions for, each replicated by a `RouteSync` of its own (route-sync.ts) over the same
 * channels, every message tagged with its table (control-codec.ts). It takes the deltas pushed on
 * the forward streams and the deltas and digests of the gossip topic, each accepted only from its
 * author (control-trust.ts) with an incarnation membership accepts, to the table it names; fetches
 * snapshots from the other nodes and serves its own over `ROUTES_PROTOCOL`; and keeps each table's
 * stats.
 */
import { ROUTES_PROTOCOL } from './constants.js'
import { decodeControl, type ControlMessage, type DeltaAnnouncement, type DigestAnnouncement, type TableTag } from './control-codec.js'
import type { ControlRefusals } from './control-trust.js'
import { MalformedFrameError, UnknownNodeError } from './errors.js'
import type { EmitClusterEvent } from './events.js'
import { isFarAhead } from './incarnation.js'
import type { ClusterMembership } from './membership.js'
import { requestResponse, type DialProtocol } from './request-response.js'
import type { ReplicatedTable, RouteSnapshot } from './route-messages.js'
import type { RouteEvent } from './route-replica.js'
import { RouteSync } from './route-sync.js'
import type { ClusterSettings } from './settings.js'
import { emptyRouteStats, type RouteStats } from './stats.js'

export interface TableReplicationComponents {
  settings: ClusterSettings
  /** Start time of this node's first membership. */
  incarnation: number
  membership: Pick<ClusterMembership, 'isUp' | 'get' | 'peerOf' | 'nameOfPeer' | 'acceptsRoutesOf' | 'learn'>
  refusals: ControlRefusals
  dial: DialProtocol
  /** Sends an encoded delta to every member that is up; must not throw. */
  announce: (bytes: Uint8Array) => void
  /** Publishes on the gossip topic; must not throw. */
  publish: (bytes: Uint8Array) => void
  /** Where this node can be reached, carried by its digests. */
  reachability: () => { peerId: string, addrs: string[] }
  emit: EmitClusterEvent
}

export class TableReplication {
  readonly routes: RouteSync
  readonly clients: RouteSync
  private readonly stats: Record<ReplicatedTable, RouteStats> = { routes: emptyRouteStats(), clients: emptyRouteStats() }

  constructor (private readonly components: TableReplicationComponents) {
    const { emit } = components
    this.routes = this.syncOf('routes', (event) => {
      if (event.type === 'routes-replaced') emit(event.type, { node: event.node, filters: event.filters })
      else emit(event.type, { node: event.node, added: event.added, removed: event.removed })
    })
    this.clients = this.syncOf('clients', (event) => {
      if (event.type === 'routes-replaced') emit('clients-replaced', { node: event.node, clientIds: event.filters })
      else emit('clients-changed', { node: event.node, added: event.added, removed: event.removed })
    })
  }

  private syncOf (table: ReplicatedTable, emit: (event: RouteEvent) => void): RouteSync {
    const { settings, membership } = this.components
    return new RouteSync({
      table,
      node: settings.name,
      incarnation: this.components.incarnation,
      announce: this.components.announce,
      publish: this.components.publish,
      canFetch: (node) => membership.isUp(node),
      fetchSnapshot: async (node) => await this.fetchSnapshot(node, table),
      isMember: (node) => membership.get(node) !== undefined,
      reachability: this.components.reachability,
      emit,
      limits: { entries: settings.maxReplicatedEntriesPerPeer, bytes: settings.maxReplicatedBytesPerPeer },
      flushMs: settings.routeFlushMs,
      digestIntervalMs: settings.digestIntervalMs,
      stats: this.stats[table],
      logger: settings.logger
    })
  }

  private get all (): RouteSync[] {
    return [this.routes, this.clients]
  }

  /** Starts announcing (deltas and digests). */
  start (): void { for (const sync of this.all) sync.start() }
  /** Stops announcing; local sets are still recorded. */
  stop (): void { for (const sync of this.all) sync.stop() }
  /** A new incarnation of this node (a join): every peer pulls its sets afresh. */
  renew (incarnation: number): void { for (const sync of this.all) sync.renew(incarnation) }
  /** This node left its cluster: drop every replica. */
  dropReplicas (): void { for (const sync of this.all) sync.dropReplicas() }
  nodeUp (node: string, incarnation: number): void { for (const sync of this.all) sync.nodeUp(node, incarnation) }
  removeNode (node: string): void { for (const sync of this.all) sync.removeNode(node) }

  /** A copy of each table's stats. */
  statsCopy (): Record<ReplicatedTable, RouteStats> {
    return { routes: { ...this.stats.routes }, clients: { ...this.stats.clients } }
  }

  /**
   * A delta pushed over the forward stream of `from` (the member its connection's peer id is
   * pinned to): applied only if it is `from`'s own.
   */
  onPushed (from: string, control: Uint8Array): void {
    const { membership, refusals } = this.components
    const message = decodeControl(control)
    if (message.type !== 'delta') throw new MalformedFrameError(`${message.type} pushed by ${from} as routes`)
    const peerId = membership.peerOf(from)?.toString() ?? 'unknown'
    if (refusals.screen(message, from, peerId, 'pushed') !== undefined) return
    if (membership.acceptsRoutesOf(message.node, message.incarnation)) this.syncFor(message).onDelta(message)
  }

  /** A delta or digest on the gossip topic that arrived from the peer `source` (not necessarily its author). */
  onGossip (message: DeltaAnnouncement | DigestAnnouncement, source: string): void {
    const { membership, refusals } = this.components
    if (refusals.screen(message, membership.nameOfPeer(source), source, 'gossip') !== undefined) return
    if (!membership.acceptsRoutesOf(message.node, message.incarnation)) return
    if (message.type === 'delta') {
      this.syncFor(message).onDelta(message)
      return
    }
    // Recorded under the peer id it came from (its author's), whatever peer id it names.
    membership.learn({ name: message.node, peerId: source, incarnation: message.incarnation, addrs: message.addrs })
    this.syncFor(message).onDigest(message)
  }

  /** Answers a snapshot request on `ROUTES_PROTOCOL` with this node's set of the table it names. */
  serveSnapshot (request: ControlMessage): ControlMessage {
    if (request.type !== 'snapshot-request') throw new MalformedFrameError(`${request.type} on ${ROUTES_PROTOCOL}`)
    if (request.node !== this.components.settings.name) throw new UnknownNodeError(request.node)
    const table = request.table ?? 'routes'
    this.stats[table].snapshotsServed++
    return { type: 'snapshot', ...(table === 'routes' ? {} : { table }), ...this.syncFor(request).localSnapshot() }
  }

  private async fetchSnapshot (node: string, table: ReplicatedTable): Promise<RouteSnapshot> {
    const { membership, refusals, settings } = this.components
    const peer = membership.peerOf(node)
    if (peer === undefined) throw new UnknownNodeError(node)
    const tag = table === 'routes' ? {} : { table }
    const response = await requestResponse(this.components.dial, peer, node, ROUTES_PROTOCOL, { type: 'snapshot-request', ...tag, node }, settings.requestTimeoutMs)
    if (response.type !== 'snapshot' || response.node !== node || (response.table ?? 'routes') !== table) throw new MalformedFrameError(`expected the ${table} snapshot of ${node}`)
    if (isFarAhead(response.incarnation, Date.now())) {
      refusals.refuse('future_incarnation', { type: 'snapshot', about: node, incarnation: response.incarnation, sender: node, peerId: peer.toString(), channel: 'snapshot' })
      throw new MalformedFrameError(`snapshot of ${node} with a future incarnation`)
    }
    return response
  }

  /** The table a delta, digest or snapshot request is about. */
  private syncFor (message: TableTag): RouteSync {
    return message.table === 'clients' ? this.clients : this.routes
  }
}
