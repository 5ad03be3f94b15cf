/** Counters of the cluster network, mutated in place by its parts and copied out by `stats()`. */

export interface ForwardStats {
  /** Frames written to forward streams, resends included. */
  sent: number
  /** QoS 1/2 frames written again after their stream was lost. */
  resent: number
  /** QoS 1/2 frames acknowledged by their receiver. */
  acked: number
  /** Messages received from other nodes and delivered to the local broker. */
  received: number
  /** Received frames already delivered before (resends), dropped. */
  duplicates: number
  /** QoS 0 messages for a peer that was down, dropped. */
  droppedPeerDown: number
  /** Messages refused because the peer's queue reached its byte bound. */
  droppedOverflow: number
  /** Messages for a node that is not a member. */
  droppedUnknownNode: number
  /** Messages still queued for a node when it left or was removed, or when this node left. */
  droppedRemoved: number
  /** Messages larger than the forward frame limit. */
  droppedOversize: number
  /** Messages the receiving peer refused (it cannot accept them), dropped. */
  rejectedByPeer: number
  /** Messages from a peer this node refused, dropped. */
  malformedFromPeer: number
  /** Messages dropped after being the first unacknowledged one on `MAX_FORWARD_ATTEMPTS` lost streams. */
  droppedUndeliverable: number
  /** Times a link had messages to write and no credit from its peer (flow control held them back). */
  creditStalls: number
}

export interface RouteStats {
  deltasPublished: number
  deltasReceived: number
  digestsPublished: number
  snapshotsRequested: number
  snapshotsServed: number
  snapshotsFailed: number
  /** Entries of other nodes' sets not held: their replica was at its bound (`cluster.maxReplicated*PerPeer`). */
  entriesRefused: number
  /**
   * Resyncs of another node's replica, in seconds on this node's monotonic clock: from finding the
   * replica out of date (a gap in its deltas, a digest that disagrees, the node coming up or back)
   * to its snapshot applied. Successful resyncs only (failures are `snapshotsFailed`).
   */
  resyncSeconds: DurationHistogram
  /**
   * Deltas of other nodes applied here, in seconds from the oldest change they carry (on the owner's
   * wall clock) to their application on this node's: the owner's flush delay, the network and this
   * node's turn. Between hosts it includes their clock offset; below 0 counts as 0.
   */
  convergenceSeconds: DurationHistogram
}

/** Upper bounds, in seconds, of the buckets of `RouteStats.convergenceSeconds`. */
export const CONVERGENCE_BUCKETS_S: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

/** Upper bounds, in seconds, of the buckets of `RouteStats.resyncSeconds`. */
export const RESYNC_BUCKETS_S: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** Durations counted per bucket: `counts[i]` those up to `bounds[i]` and above the bound before, the last those above every bound. */
export interface DurationHistogram {
  readonly bounds: readonly number[]
  readonly counts: number[]
  sum: number
  count: number
}

export function emptyDurationHistogram (bounds: readonly number[]): DurationHistogram {
  return { bounds, counts: new Array<number>(bounds.length + 1).fill(0), sum: 0, count: 0 }
}

/** Counts one duration. */
export function observeDuration (histogram: DurationHistogram, seconds: number): void {
  let bucket = histogram.bounds.findIndex(bound => seconds <= bound)
  if (bucket < 0) bucket = histogram.bounds.length
  histogram.counts[bucket] = (histogram.counts[bucket] ?? 0) + 1
  histogram.sum += seconds
  histogram.count++
}

/** Per peer: what its forward link holds. */
export interface LinkBacklog {
  connected: boolean
  pending: number
  inflight: number
  bytes: number
  /** QoS 1/2 frames the peer acknowledged since its link was created (a node removed and added again starts at 0). */
  acked: number
  /** Credit the peer granted this node's current stream: QoS 1/2 messages and bytes it may still write. */
  credit: { messages: number, bytes: number }
}

/** Control messages refused because their sender may not say them (`control-trust.ts`), per reason. */
export interface TrustStats {
  refused: { not_author: number, unknown_sender: number, future_incarnation: number }
}

export interface ClusterStats {
  forward: ForwardStats
  routes: RouteStats
  /** The replication of the client ids (same machinery as the routes). */
  clients: RouteStats
  links: Record<string, LinkBacklog>
  trust: TrustStats
}

export function emptyForwardStats (): ForwardStats {
  return {
    sent: 0,
    resent: 0,
    acked: 0,
    received: 0,
    duplicates: 0,
    droppedPeerDown: 0,
    droppedOverflow: 0,
    droppedUnknownNode: 0,
    droppedRemoved: 0,
    droppedOversize: 0,
    rejectedByPeer: 0,
    malformedFromPeer: 0,
    droppedUndeliverable: 0,
    creditStalls: 0
  }
}

export function emptyRouteStats (): RouteStats {
  return { deltasPublished: 0, deltasReceived: 0, digestsPublished: 0, snapshotsRequested: 0, snapshotsServed: 0, snapshotsFailed: 0, entriesRefused: 0, resyncSeconds: emptyDurationHistogram(RESYNC_BUCKETS_S), convergenceSeconds: emptyDurationHistogram(CONVERGENCE_BUCKETS_S) }
}

export function emptyTrustStats (): TrustStats {
  return { refused: { not_author: 0, unknown_sender: 0, future_incarnation: 0 } }
}
