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
  return { deltasPublished: 0, deltasReceived: 0, digestsPublished: 0, snapshotsRequested: 0, snapshotsServed: 0, snapshotsFailed: 0 }
}

export function emptyTrustStats (): TrustStats {
  return { refused: { not_author: 0, unknown_sender: 0, future_incarnation: 0 } }
}
