/**
 * Replication of one of this node's sets (`table`: its routes, or its client ids; one instance
 * each, see `route-messages.ts`): announces this node's changes as ordered deltas on the gossip topic,
 * also pushed to every member that is up over its forward stream (the faster path), and a
 * periodic digest on the gossip topic; feeds
 * other nodes' deltas and digests to the replicas, and fetches a full snapshot over a direct
 * stream whenever a replica asks for one (gap, new incarnation, new or returning peer, digest
 * mismatch). A delta is never trusted to arrive: the digest catches whatever was lost. The
 * caller applies only the deltas and digests a node sends about itself (`control-trust.ts`).
 *
 * Changes are batched: the first change after a quiet period is announced on the next turn of
 * the event loop, later ones at most once per `flushMs`, so a burst of subscriptions becomes a few
 * large deltas while a lone subscription goes out at once.
 */
import { encodeControl } from './control-codec.js'
import { MAX_GOSSIPED_DELTA_OPS } from './constants.js'
import { LocalRoutes } from './local-routes.js'
import { RouteReplicas, type ReplicaLimits, type ReplicaUpdate, type RouteEvent } from './route-replica.js'
import { ThrottledLogEvent } from '../src/core/log-throttle.js'
import type { ClusterLogger } from './logger.js'
import type { ReplicatedTable, RouteDelta, RouteDigest, RouteSnapshot } from './route-messages.js'
import { observeDuration, type RouteStats } from './stats.js'

/** The log event of a snapshot applied (`<event>_failed` when its fetch failed), per table. */
const SYNC_LOG_EVENT: Record<ReplicatedTable, string> = { routes: 'route_sync', clients: 'client_sync' }

export interface RouteSyncInit {
  /** The set this instance replicates; named by every message it sends. */
  table: ReplicatedTable
  node: string
  incarnation: number
  /** Sends an encoded delta to every member that is up; must not throw. */
  announce: (bytes: Uint8Array) => void
  /** Publishes on the replication gossip topic (deltas and digests); must not throw. */
  publish: (bytes: Uint8Array) => void
  /** Whether `node` can be asked for a snapshot now (it is up). */
  canFetch: (node: string) => boolean
  /** Fetches `node`'s snapshot over a direct stream; throws on failure. */
  fetchSnapshot: (node: string) => Promise<RouteSnapshot>
  /** Whether a node's routes may still be held (it has not left or been removed meanwhile). */
  isMember: (node: string) => boolean
  /** Where this node can be reached, carried by its digest. */
  reachability: () => { peerId: string, addrs: string[] }
  emit: (event: RouteEvent) => void
  /** How much of each other node's set is held at most. Default: no bound. */
  limits?: ReplicaLimits
  flushMs: number
  digestIntervalMs: number
  stats: RouteStats
  logger: ClusterLogger
}

export class RouteSync {
  private readonly local: LocalRoutes
  private readonly replicas: RouteReplicas
  /** `replica_full` lines: throttled, with the exact count of entries refused. */
  private readonly refusedLog: ThrottledLogEvent
  private flushTimer: NodeJS.Timeout | undefined
  private flushImmediate: NodeJS.Immediate | undefined
  private lastFlushAt = 0
  /** Wall-clock time of the oldest local change not yet announced (a delta's `changedAtMs`). */
  private pendingSinceMs: number | undefined
  private digestTimer: NodeJS.Timeout | undefined
  private announcing = false

  constructor (private readonly init: RouteSyncInit) {
    this.local = new LocalRoutes(init.node, init.incarnation)
    this.replicas = new RouteReplicas(init.limits)
    this.refusedLog = new ThrottledLogEvent(line => { init.logger.warn(line, 'replica_full') })
  }

  /** Starts announcing (deltas and digests). */
  start (): void {
    this.announcing = true
    this.digestTimer ??= setInterval(() => { this.publishDigest() }, this.init.digestIntervalMs)
    // Changes made before announcing start converging now.
    if (this.local.hasPendingDelta()) {
      this.pendingSinceMs = Date.now()
      this.scheduleFlush()
    }
  }

  /** Stops announcing; local routes are still recorded. */
  stop (): void {
    this.announcing = false
    clearInterval(this.digestTimer)
    this.digestTimer = undefined
    this.cancelFlush()
  }

  addLocal (filter: string): void {
    if (this.local.add(filter)) this.changed()
  }

  removeLocal (filter: string): void {
    if (this.local.remove(filter)) this.changed()
  }

  /** A local change is pending: stamped with the time of the oldest not yet announced. */
  private changed (): void {
    this.pendingSinceMs ??= Date.now()
    this.scheduleFlush()
  }

  localFilters (): string[] {
    return this.local.snapshot().filters
  }

  localSnapshot (): RouteSnapshot {
    this.flush()
    return this.local.snapshot()
  }

  routesOf (node: string): string[] | undefined {
    const routes = this.replicas.routesOf(node)
    return routes === undefined ? undefined : [...routes]
  }

  /** The nodes whose replica holds `member`, sorted. */
  holdersOf (member: string): string[] {
    return this.replicas.nodes().filter(node => this.replicas.routesOf(node)?.has(member) === true).sort()
  }

  onDelta (delta: RouteDelta): void {
    this.init.stats.deltasReceived++
    const update = this.replicas.applyDelta(delta)
    if (delta.changedAtMs !== undefined && update.events.length > 0) {
      observeDuration(this.init.stats.convergenceSeconds, Math.max(0, Date.now() - delta.changedAtMs) / 1000)
    }
    this.apply(delta.node, update)
  }

  onDigest (digest: RouteDigest): void {
    this.apply(digest.node, this.replicas.applyDigest(digest))
  }

  /** A node came up (first time, restarted or back from a partition): resync its routes. */
  nodeUp (node: string, incarnation: number): void {
    this.apply(node, this.replicas.nodeUp(node, incarnation))
  }

  /** A node left or was removed: its routes are dropped (`routes-replaced` with none). */
  removeNode (node: string): void {
    this.apply(node, this.replicas.remove(node))
  }

  /**
   * Drops every replica, emitting `routes-replaced` with no routes for each (this node left).
   */
  dropReplicas (): void {
    for (const node of this.replicas.nodes()) this.removeNode(node)
  }

  /** A new incarnation of this node (join): numbering restarts, routes stay. */
  renew (incarnation: number): void {
    this.local.renew(incarnation)
  }

  /** Publishes pending local changes now. */
  flush (): void {
    this.cancelFlush()
    this.lastFlushAt = performance.now()
    const deltas = this.local.takeDeltas()
    const changedAtMs = this.pendingSinceMs ?? Date.now()
    this.pendingSinceMs = undefined
    if (!this.announcing) return
    for (const delta of deltas) {
      // A delta is pushed directly to the members that are up, and also goes on the gossip topic
      // (the replication channel every member hears); a receiver applies whichever copy comes
      // first and ignores the other by its sequence numbers. The push goes first: it is a write
      // on a stream already open to each member, while gossip (unsigned, see `libp2p-node.ts`)
      // goes through gossipsub. Either copy counts only from this node itself, the direct
      // sender (`control-trust.ts`): gossip is never relayed. Bursts above
      // `MAX_GOSSIPED_DELTA_OPS` go by the push only.
      const bytes = encodeControl({ type: 'delta', table: this.init.table, ...delta, changedAtMs })
      this.init.announce(bytes)
      if (delta.ops.length <= MAX_GOSSIPED_DELTA_OPS) this.init.publish(bytes)
      this.init.stats.deltasPublished++
    }
  }

  private publishDigest (): void {
    this.flush()
    this.init.publish(encodeControl({ type: 'digest', table: this.init.table, ...this.local.digest(), ...this.init.reachability() }))
    this.init.stats.digestsPublished++
  }

  private scheduleFlush (): void {
    if (!this.announcing || this.flushTimer !== undefined || this.flushImmediate !== undefined) return
    const wait = this.lastFlushAt + this.init.flushMs - performance.now()
    if (wait <= 0) this.flushImmediate = setImmediate(() => { this.flush() })
    else this.flushTimer = setTimeout(() => { this.flush() }, wait)
  }

  private cancelFlush (): void {
    clearTimeout(this.flushTimer)
    clearImmediate(this.flushImmediate)
    this.flushTimer = undefined
    this.flushImmediate = undefined
  }

  private apply (node: string, update: ReplicaUpdate): void {
    for (const event of update.events) this.init.emit(event)
    const refused = update.refused
    if (refused !== undefined) {
      this.init.stats.entriesRefused += refused
      const limits = this.init.limits
      this.refusedLog.add({ count: refused }, { node, table: this.init.table, limit_entries: limits?.entries, limit_bytes: limits?.bytes })
    }
    if (update.snapshotNeeded) void this.sync(node)
  }

  private async sync (node: string): Promise<void> {
    if (!this.init.canFetch(node)) {
      this.replicas.snapshotFailed(node)
      return
    }
    this.init.stats.snapshotsRequested++
    const started = performance.now()
    let snapshot: RouteSnapshot
    try {
      snapshot = await this.init.fetchSnapshot(node)
    } catch (err) {
      this.init.stats.snapshotsFailed++
      this.replicas.snapshotFailed(node)
      this.init.logger.warn({ node, err }, `${SYNC_LOG_EVENT[this.init.table]}_failed`)
      return
    }
    if (!this.init.isMember(node)) {
      this.replicas.snapshotFailed(node)
      return
    }
    this.init.logger.info({ node, incarnation: snapshot.incarnation, seq: snapshot.seq, [this.init.table]: snapshot.filters.length }, SYNC_LOG_EVENT[this.init.table])
    this.apply(node, this.replicas.applySnapshot(snapshot))
    observeDuration(this.init.stats.resyncSeconds, (performance.now() - started) / 1000)
  }
}
