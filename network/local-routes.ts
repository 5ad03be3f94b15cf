/**
 * This node's own route set (or its set of client ids: one instance per replicated table, see
 * `route-messages.ts`), the only copy anyone may write: numbers every change within the current
 * incarnation and collects the changes not yet announced. Pure; no I/O.
 */
import { MAX_ROUTE_DELTA_BYTES } from './constants.js'
import { FilterSetChecksum } from './filter-checksum.js'
import type { RouteDelta, RouteDigest, RouteOp, RouteSnapshot } from './route-messages.js'

/** Rough wire cost of one op beyond its filter's bytes (kind byte + varint length). */
const OP_OVERHEAD_BYTES = 4

export class LocalRoutes {
  private readonly filters = new Set<string>()
  private readonly checksum = new FilterSetChecksum()
  private seq = 0
  private pending: RouteOp[] = []
  private pendingFromSeq = 1

  constructor (readonly node: string, private incarnationValue: number) {}

  get incarnation (): number {
    return this.incarnationValue
  }

  /** Sequence number of the latest change. */
  get currentSeq (): number {
    return this.seq
  }

  get size (): number {
    return this.filters.size
  }

  has (filter: string): boolean {
    return this.filters.has(filter)
  }

  /** Adds a route; false if it was already present (nothing to announce). */
  add (filter: string): boolean {
    if (this.filters.has(filter)) return false
    this.filters.add(filter)
    this.record({ op: 'add', filter })
    return true
  }

  /** Removes a route; false if it was absent. */
  remove (filter: string): boolean {
    if (!this.filters.delete(filter)) return false
    this.record({ op: 'remove', filter })
    return true
  }

  hasPendingDelta (): boolean {
    return this.pending.length > 0
  }

  /** The unannounced changes as deltas of at most `maxBytes` (roughly) each; clears them. */
  takeDeltas (maxBytes = MAX_ROUTE_DELTA_BYTES): RouteDelta[] {
    const deltas: RouteDelta[] = []
    let fromSeq = this.pendingFromSeq
    let ops: RouteOp[] = []
    let bytes = 0
    for (const op of this.pending) {
      const cost = op.filter.length * 3 + OP_OVERHEAD_BYTES
      if (ops.length > 0 && bytes + cost > maxBytes) {
        deltas.push(this.delta(fromSeq, ops))
        fromSeq += ops.length
        ops = []
        bytes = 0
      }
      ops.push(op)
      bytes += cost
    }
    if (ops.length > 0) deltas.push(this.delta(fromSeq, ops))
    this.pending = []
    this.pendingFromSeq = this.seq + 1
    return deltas
  }

  snapshot (): RouteSnapshot {
    return { node: this.node, incarnation: this.incarnationValue, seq: this.seq, filters: [...this.filters] }
  }

  digest (): RouteDigest {
    return { node: this.node, incarnation: this.incarnationValue, seq: this.seq, checksum: this.checksum.value }
  }

  /**
   * Starts a new incarnation (after `join()`): the routes stay, numbering restarts and pending
   * changes are dropped, since every peer pulls a snapshot of a new incarnation anyway.
   */
  renew (incarnation: number): void {
    this.incarnationValue = incarnation
    this.seq = 0
    this.pending = []
    this.pendingFromSeq = 1
  }

  private record (op: RouteOp): void {
    this.seq++
    this.checksum.toggle(op.filter)
    this.pending.push(op)
  }

  private delta (fromSeq: number, ops: RouteOp[]): RouteDelta {
    return { node: this.node, incarnation: this.incarnationValue, fromSeq, ops }
  }
}
