/**
 * What nodes tell each other about their routes. Each node is the only writer of its own route
 * set; every change gets the next sequence number of the node's current incarnation.
 */

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
