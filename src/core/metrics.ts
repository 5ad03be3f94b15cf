/**
 * Broker-wide monotonic counters and gauges (like `emqx_metrics`): incremented on hot paths with
 * plain integer adds, read by the $SYS publisher. Counters only ever grow; gauges go up and down.
 */
export const metrics = {
  bytesReceived: 0,
  bytesSent: 0,
  packetsReceived: 0,
  packetsSent: 0,
  messagesReceived: 0,
  messagesSent: 0,
  messagesDropped: 0,
  messagesRetained: 0,
  /** Retained publishes not stored because the retained store was at its bound. */
  retainedFull: 0,
  messagesForwarded: 0,
  messagesFromPeers: 0,
  connectionsAccepted: 0,
  /** Gauges. */
  clientsConnected: 0,
  sessions: 0,
  subscriptions: 0
}
