/**
 * Broker-wide monotonic counters and gauges (like `emqx_metrics`): incremented on hot paths with
 * plain integer adds, read by the $SYS publisher. Counters only ever grow; gauges go up and down.
 * One object per process: nodes embedded in one process share it (each shows the sum of all, see
 * README "HTTP API and metrics"); per-node numbers live elsewhere (actor meters, network stats,
 * delivery budget).
 */
export const metrics = {
  bytesReceived: 0,
  bytesSent: 0,
  packetsReceived: 0,
  packetsSent: 0,
  messagesReceived: 0,
  messagesSent: 0,
  /** Every message dropped, whatever the reason; `droppedByReason` splits it (see `countDropped`). */
  messagesDropped: 0,
  messagesRetained: 0,
  /** Retained publishes not stored because the retained store was at its bound. */
  retainedFull: 0,
  messagesForwarded: 0,
  /** Messages other nodes forwarded to this one. */
  messagesFromPeers: 0,
  /** TCP connections the MQTT listener accepted. */
  connectionsAccepted: 0,
  /**
   * Copies dropped as duplicates by a session just taken over from another node: a message that
   * reached it both directly and through the old node (not a lost message: its first copy was delivered).
   */
  handoverDuplicatesSuppressed: 0,
  /** Connections closed because they did not read what was sent to them (`mqtt.maxOutgoingBytes`). */
  connectionsClosedOutgoingFull: 0,
  /** Connections closed as they were accepted: the node held `mqtt.maxConnections` already. */
  connectionsRefusedMax: 0,
  /** Filters refused with Quota exceeded by `mqtt.maxSubscriptionsPerClient`. */
  subscriptionsRefused: 0,
  /** Filters refused by the ACL (SUBACK 0x80 / 0x87 Not authorized). */
  subscriptionsNotAuthorized: 0,
  /**
   * Copies of messages not sent to a subscriber the ACL gives no `read` on their topic (a `#`
   * subscriber under an ACL counts each message it may not see). PUBLISH and wills the ACL refuses
   * are drops: `droppedByReason` `not_authorized`.
   */
  deliveriesNotAuthorized: 0,
  /** Backlogged sessions that did not drain within `mqtt.backlogStallTimeoutMs`. */
  sessionsStalled: 0,
  /** Sessions this node handed over to another node where their client connected (takeover across nodes). */
  sessionsHandedOver: 0,
  /** Sessions this node took over from another node (resumed with session present). */
  sessionsTakenOver: 0,
  /** Sessions discarded here because their client connected with clean start on another node. */
  sessionsDiscardedForPeer: 0,
  /**
   * Connects whose session lived on a node that did not answer in time (down or partitioned): the
   * session started fresh here (see README "Client ids and session takeover").
   */
  sessionsTakeoverFailed: 0,
  /** Sessions closed because another node held the same client id with a later connect. */
  clientIdConflictsLost: 0,
  /** CONNECTs refused because the client id's session belongs to another username (here or on another node). */
  clientIdOwnedByOtherUser: 0,
  /** Wills of the clients of a node that died (or stayed unreachable) published by this node. */
  willsPublishedForDownNodes: 0,
  /** CONNECTs the authenticator refused (bad credentials or not authorized). */
  authFailed: 0,
  /** Connections closed because their credentials expired (a JWT's `exp`). */
  connectionsAuthExpired: 0,
  /** Messages published through the HTTP API (`POST /api/v1/publish`): not in `messagesReceived`, which counts PUBLISH packets of MQTT clients. */
  messagesPublishedByApi: 0,
  /** Gauges. */
  clientsConnected: 0,
  sessions: 0,
  subscriptions: 0
}

/** `metrics.messagesDropped` by reason (`queue_full`, `node_queue_full`, `slow_consumer`, …). */
export const droppedByReason = new Map<string, number>()

/** Counts `count` messages dropped for `reason` (a snake_case word, as in the `message_dropped` log line). */
export function countDropped (reason: string, count = 1): void {
  metrics.messagesDropped += count
  droppedByReason.set(reason, (droppedByReason.get(reason) ?? 0) + count)
}
