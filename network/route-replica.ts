/**
 * Replicas of the other nodes' route sets (or client id sets: one instance per replicated table),
 * kept from their deltas, snapshots and digests. Pure: it
 * returns the route events to emit and whether a snapshot must be fetched; the caller does the I/O
 * and reports back with `applySnapshot()` or `snapshotFailed()`.
 *
 * Per node it tracks the incarnation and sequence number its set is at, and detects:
 * - a gap (a delta starting after seq + 1) → snapshot;
 * - a new incarnation (the node restarted or rejoined) → snapshot, deltas buffered meanwhile;
 * - a digest ahead of the replica, or at the same seq with another checksum → snapshot.
 * At most one snapshot per node is outstanding; deltas arriving meanwhile are buffered and replayed
 * on top of it.
 *
 * Bounded per node (`ReplicaLimits`: entries, and bytes at 2 per UTF-16 code unit), so a peer
 * holding the cluster secret cannot grow this node's memory without end: entries past the bound
 * are not held (`refused` in the update, for the caller to count and log). Such a replica is
 * `truncated`: its checksum no longer says anything (digests at the same sequence number are not
 * compared, removals of entries it never held are ignored), and once it has shed a tenth of its
 * bound it fetches a snapshot to take back what it refused.
 */
import { MAX_BUFFERED_DELTAS } from './constants.js'
import { FilterSetChecksum } from './filter-checksum.js'
import { lastSeqOf, type RouteDelta, type RouteDigest, type RouteSnapshot } from './route-messages.js'

/** What the route table applies. */
export type RouteEvent =
  | { type: 'routes-replaced', node: string, filters: string[] }
  /** The net change of one delta: `removed` are gone, `added` are new (no filter is in both). */
  | { type: 'routes-changed', node: string, added: string[], removed: string[] }

export interface ReplicaUpdate {
  events: RouteEvent[]
  /** Fetch this node's snapshot, then call `applySnapshot()` or `snapshotFailed()`. */
  snapshotNeeded: boolean
  /** Entries not held: the replica is at its bound. */
  refused?: number
}

/** How much of one node's set a replica holds at most. */
export interface ReplicaLimits {
  entries: number
  /** Bytes of entry text, 2 per UTF-16 code unit. */
  bytes: number
}

const UNBOUNDED: ReplicaLimits = Object.freeze({ entries: Infinity, bytes: Infinity })

/** Read-only view of one replica, for status and tests. */
export interface ReplicaState {
  /** Incarnation the held set belongs to; 0 before the first snapshot. */
  incarnation: number
  /** Newest incarnation heard of; above `incarnation` while its snapshot is awaited. */
  latestIncarnation: number
  seq: number
  checksum: string
  size: number
  syncing: boolean
  /** Entries were refused at the bound since the last snapshot. */
  truncated: boolean
}

interface NodeReplica {
  incarnation: number
  latestIncarnation: number
  seq: number
  filters: Set<string>
  /** Bytes of `filters`. */
  bytes: number
  checksum: FilterSetChecksum
  syncing: boolean
  buffered: RouteDelta[]
  truncated: boolean
}

const NOTHING: ReplicaUpdate = Object.freeze({ events: [], snapshotNeeded: false })

export class RouteReplicas {
  private readonly replicas = new Map<string, NodeReplica>()

  constructor (private readonly limits: ReplicaLimits = UNBOUNDED) {}

  nodes (): string[] {
    return [...this.replicas.keys()]
  }

  routesOf (node: string): ReadonlySet<string> | undefined {
    return this.replicas.get(node)?.filters
  }

  state (node: string): ReplicaState | undefined {
    const r = this.replicas.get(node)
    if (r === undefined) return undefined
    return {
      incarnation: r.incarnation,
      latestIncarnation: r.latestIncarnation,
      seq: r.seq,
      checksum: r.checksum.value,
      size: r.filters.size,
      syncing: r.syncing,
      truncated: r.truncated
    }
  }

  applyDelta (delta: RouteDelta): ReplicaUpdate {
    const r = this.replicaOf(delta.node)
    if (delta.incarnation < r.latestIncarnation || delta.ops.length === 0) return NOTHING
    if (delta.incarnation > r.latestIncarnation) {
      r.latestIncarnation = delta.incarnation
      r.buffered = []
    }
    if (r.incarnation !== delta.incarnation || r.syncing) {
      buffer(r, delta)
      return this.requestSnapshot(r)
    }
    return this.applyInOrder(delta.node, r, delta)
  }

  applyDigest (digest: RouteDigest): ReplicaUpdate {
    const r = this.replicaOf(digest.node)
    if (digest.incarnation < r.latestIncarnation) return NOTHING
    if (digest.incarnation > r.latestIncarnation) {
      r.latestIncarnation = digest.incarnation
      r.buffered = []
    }
    if (r.incarnation !== digest.incarnation) return this.requestSnapshot(r)
    if (digest.seq > r.seq) return this.requestSnapshot(r)
    if (digest.seq === r.seq && digest.checksum !== r.checksum.value && !r.truncated) return this.requestSnapshot(r)
    return NOTHING
  }

  /**
   * A node came up (new peer, restart or reconnect after a partition): fetch its snapshot, since
   * deltas may have been missed while it was unreachable.
   */
  nodeUp (node: string, incarnation: number): ReplicaUpdate {
    const r = this.replicaOf(node)
    if (incarnation < r.latestIncarnation) return NOTHING
    if (incarnation > r.latestIncarnation) {
      r.latestIncarnation = incarnation
      r.buffered = []
    }
    return this.requestSnapshot(r)
  }

  applySnapshot (snapshot: RouteSnapshot): ReplicaUpdate {
    const r = this.replicaOf(snapshot.node)
    r.syncing = false
    if (snapshot.incarnation < r.latestIncarnation) return this.requestSnapshot(r)
    if (snapshot.incarnation === r.incarnation && snapshot.seq < r.seq) return NOTHING
    r.latestIncarnation = snapshot.incarnation
    r.incarnation = snapshot.incarnation
    r.seq = snapshot.seq
    let refused = 0
    r.filters = new Set()
    r.bytes = 0
    for (const filter of snapshot.filters) {
      if (r.filters.has(filter)) continue
      if (this.fits(r, filter)) this.hold(r, filter)
      else refused++
    }
    r.truncated = refused > 0
    r.checksum = FilterSetChecksum.of(r.filters)
    // The snapshot's own array when it holds no duplicate (a 100k-route join allocates enough).
    const filters = r.filters.size === snapshot.filters.length ? snapshot.filters : [...r.filters]
    const events: RouteEvent[] = [{ type: 'routes-replaced', node: snapshot.node, filters }]
    let snapshotNeeded = false
    const buffered = r.buffered
    r.buffered = []
    for (const delta of buffered.sort((a, b) => a.fromSeq - b.fromSeq)) {
      if (delta.incarnation !== r.incarnation) continue
      // A gap in the buffered deltas asked for another snapshot: keep the rest for after it.
      if (snapshotNeeded) {
        buffer(r, delta)
        continue
      }
      const update = this.applyInOrder(snapshot.node, r, delta)
      events.push(...update.events)
      snapshotNeeded ||= update.snapshotNeeded
      refused += update.refused ?? 0
    }
    return refused > 0 ? { events, snapshotNeeded, refused } : { events, snapshotNeeded }
  }

  /** The snapshot fetch failed; a later delta, digest or node-up asks again. */
  snapshotFailed (node: string): void {
    const r = this.replicas.get(node)
    if (r !== undefined) r.syncing = false
  }

  /** Drops a node's replica (left, removed or cleaned): its routes are gone. */
  remove (node: string): ReplicaUpdate {
    const r = this.replicas.get(node)
    if (r === undefined) return NOTHING
    this.replicas.delete(node)
    return { events: [{ type: 'routes-replaced', node, filters: [] }], snapshotNeeded: false }
  }

  /** Drops every replica without events (the caller drops its own copy, e.g. on `join()`). */
  clear (): void {
    this.replicas.clear()
  }

  private applyInOrder (node: string, r: NodeReplica, delta: RouteDelta): ReplicaUpdate {
    if (lastSeqOf(delta) <= r.seq) return NOTHING
    if (delta.fromSeq > r.seq + 1) {
      buffer(r, delta)
      return this.requestSnapshot(r)
    }
    // Filters touched by the delta, with whether each was present before it: only a net change
    // becomes an event (an add then a remove of the same filter cancel out).
    const before = new Map<string, boolean>()
    let refused = 0
    for (let i = r.seq + 1 - delta.fromSeq; i < delta.ops.length; i++) {
      const { op, filter } = delta.ops[i] as RouteDelta['ops'][number]
      const present = r.filters.has(filter)
      if (op === 'add' ? present : !present) continue
      if (op === 'add' && !this.fits(r, filter)) {
        refused++
        r.truncated = true
        continue
      }
      if (!before.has(filter)) before.set(filter, present)
      if (op === 'add') this.hold(r, filter)
      else this.release(r, filter)
      r.checksum.toggle(filter)
    }
    const added: string[] = []
    const removed: string[] = []
    for (const [filter, present] of before) {
      if (r.filters.has(filter) === present) continue
      if (present) removed.push(filter)
      else added.push(filter)
    }
    const events: RouteEvent[] = added.length > 0 || removed.length > 0 ? [{ type: 'routes-changed', node, added, removed }] : []
    r.seq = lastSeqOf(delta)
    // Room again after refusals: a snapshot takes back what was refused.
    const snapshotNeeded = r.truncated && refused === 0 && removed.length > 0 && this.hasRoomAgain(r) && !r.syncing
    if (snapshotNeeded) r.syncing = true
    return refused > 0 ? { events, snapshotNeeded, refused } : { events, snapshotNeeded }
  }

  /** Whether `filter` can be held within the limits. */
  private fits (r: NodeReplica, filter: string): boolean {
    return r.filters.size < this.limits.entries && r.bytes + filter.length * 2 <= this.limits.bytes
  }

  private hold (r: NodeReplica, filter: string): void {
    r.filters.add(filter)
    r.bytes += filter.length * 2
  }

  private release (r: NodeReplica, filter: string): void {
    r.filters.delete(filter)
    r.bytes -= filter.length * 2
  }

  /** A tenth of the bound is free again (entries and bytes). */
  private hasRoomAgain (r: NodeReplica): boolean {
    return r.filters.size <= this.limits.entries * 0.9 && r.bytes <= this.limits.bytes * 0.9
  }

  private requestSnapshot (r: NodeReplica): ReplicaUpdate {
    if (r.syncing) return NOTHING
    r.syncing = true
    return { events: [], snapshotNeeded: true }
  }

  private replicaOf (node: string): NodeReplica {
    let r = this.replicas.get(node)
    if (r === undefined) {
      r = { incarnation: 0, latestIncarnation: 0, seq: 0, filters: new Set(), bytes: 0, checksum: new FilterSetChecksum(), syncing: false, buffered: [], truncated: false }
      this.replicas.set(node, r)
    }
    return r
  }
}

function buffer (r: NodeReplica, delta: RouteDelta): void {
  if (r.buffered.length >= MAX_BUFFERED_DELTAS) r.buffered.shift()
  r.buffered.push(delta)
}
