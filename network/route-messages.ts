/**
 * What nodes tell each other about their replicated sets: their routes (topic filters) and their
 * client ids (the client registry). Each node is the only writer of its own sets; every change of
 * a set gets the next sequence number of that set within the node's current incarnation. The
 * messages below are the same for every set; the control messages carrying them name the set
 * (`ReplicatedTable`). "Filter" below stands for a member of the set, whichever set it is.
 */

/** The sets replicated this way; the control messages name one (absent: `routes`). */
export type ReplicatedTable = 'routes' | 'clients'

/** Wire order: a new table is appended, so the codes of the others never change. */
export const REPLICATED_TABLES: readonly ReplicatedTable[] = ['routes', 'clients']

export type RouteOpKind = 'add' | 'remove'

export interface RouteOp {
  op: RouteOpKind
  filter: string
}

/** Consecutive changes: `ops[i]` has sequence number `fromSeq + i`. */
export interface RouteDelta {
  node: string
  incarnation: number
  fromSeq: number
  ops: RouteOp[]
  /**
   * Wall-clock time (ms since the epoch, the owner's clock) of the oldest change in the delta, for
   * the receivers' convergence histogram; absent in frames of builds before it.
   */
  changedAtMs?: number
}

/** The full route set of `node` as of `seq`. */
export interface RouteSnapshot {
  node: string
  incarnation: number
  seq: number
  filters: string[]
}

/** A summary a receiver compares with its replica to find anything it missed. */
export interface RouteDigest {
  node: string
  incarnation: number
  seq: number
  /** `FilterSetChecksum` of the route set at `seq`. */
  checksum: string
}

/** Sequence number of the last op of a delta. */
export function lastSeqOf (delta: RouteDelta): number {
  return delta.fromSeq + delta.ops.length - 1
}
