/**
 * Defaults and wire identifiers of the cluster network. Every tunable of `createClusterNetwork()`
 * falls back to a value from this file.
 */

/** Direct stream: each side sends its node name, incarnation and known members once per connection. */
export const HELLO_PROTOCOL = '/meshmq/hello/1'
/** Direct stream: request a node's full route snapshot. */
export const ROUTES_PROTOCOL = '/meshmq/routes/1'
/** Direct stream, one long-lived per peer and direction: forwarded application messages, their acks, and route deltas. */
export const FORWARD_PROTOCOL = '/meshmq/forward/2'
/** Direct stream: leave / force-leave notices. */
export const MEMBERSHIP_PROTOCOL = '/meshmq/membership/1'
/** Gossipsub topic carrying route digests and membership notices (deltas are pushed on forward streams). */
export const ROUTES_TOPIC = 'meshmq/routes/2'

/** Cluster port = base + numeric suffix of the node name (`meshmq2@host` → 4372), as in EMQX. */
export const DEFAULT_CLUSTER_PORT_BASE = 4370
export const DEFAULT_LISTEN_HOST = '0.0.0.0'
/** Node name used when none is given. */
export const DEFAULT_NODE_NAME_BASE = 'meshmq'
/**
 * Used when no secret is configured, like EMQX's default cookie: it keeps unrelated libp2p
 * swarms out but is public, so production clusters must set their own (a warning is logged).
 */
export const DEFAULT_CLUSTER_SECRET = 'meshmqsecretcookie'
export const DEFAULT_DISCOVERY = 'mdns'
export const DEFAULT_MDNS_SERVICE_TAG = '_meshmq._udp.local'
export const DEFAULT_MDNS_INTERVAL_MS = 10_000
/** Delay before the higher peer id dials an mDNS-discovered peer itself (the lower one dials at once). */
export const DEFAULT_DISCOVERY_TIE_BREAK_MS = 2_000

/** Local route changes are announced at most once per this many ms (the first after a pause at once). */
export const DEFAULT_ROUTE_FLUSH_MS = 5
/** Largest encoded route delta published in one gossip message; bigger batches are split. */
export const MAX_ROUTE_DELTA_BYTES = 256 * 1024
/**
 * Deltas up to this many operations also go on the gossip topic. Bigger ones (subscription
 * bursts) are only pushed directly: gossiping them cost every node CPU (a 100k-filter burst
 * doubled a joining node's sync time), and a missed one is repaired by digest and snapshot.
 */
export const MAX_GOSSIPED_DELTA_OPS = 512
/** Period of the route digest (node, incarnation, seq, checksum) each node publishes. */
export const DEFAULT_DIGEST_INTERVAL_MS = 5_000
/** Deltas buffered for a node while its snapshot is being fetched. */
export const MAX_BUFFERED_DELTAS = 1_024

/** A node down longer than this is removed with its routes (EMQX `cluster.autoclean`). */
export const DEFAULT_AUTOCLEAN_MS = 5 * 60_000
/** How often autoclean looks for expired down nodes. */
export const AUTOCLEAN_CHECK_MS = 1_000

/**
 * A receiver acks frames that carry only QoS 0 messages (or pings, or routes) within this delay
 * rather than on the next turn: such an ack releases nothing, it only shows the sender this end is
 * alive, so one per delay is enough. Well below `DEFAULT_PEER_TIMEOUT_MS`.
 */
export const QOS0_ACK_DELAY_MS = 100
/** A forward link with nothing to send pings its peer this often. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1_000
/** A peer that sends nothing (not even an ack) on its forward link for this long is disconnected. */
export const DEFAULT_PEER_TIMEOUT_MS = 5_000

/** Bound on every request/response exchange (hello, snapshot, notices). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000
/** Bound on one dial attempt. */
export const DEFAULT_DIAL_TIMEOUT_MS = 5_000
/** Redial backoff of lost peers and seeds. */
export const DEFAULT_REDIAL_MIN_MS = 250
export const DEFAULT_REDIAL_MAX_MS = 5_000
/** Extra delay of the redial by the node with the greater name, so a pair rarely dials twice at once. */
export const REDIAL_TIE_BREAK_MS = 500
/** Reopening a forward stream on a connected peer after a failure. */
export const FORWARD_REOPEN_MIN_MS = 50
export const FORWARD_REOPEN_MAX_MS = 5_000

/** Bytes queued (unsent plus unacknowledged) per peer before new forwards are dropped. */
export const DEFAULT_MAX_QUEUED_BYTES_PER_PEER = 64 * 1024 * 1024
/** Coalesced forward writes stop while the stream buffers more than this. */
export const FORWARD_WRITE_HIGH_WATER_MARK = 1024 * 1024
/** Largest single `stream.send()` built by the coalescing writer. */
export const FORWARD_MAX_WRITE_BYTES = 256 * 1024
/** Largest forward message (by its encoded size bound); larger messages are refused at `forward()`. */
export const MAX_FORWARD_MESSAGE_BYTES = 16 * 1024 * 1024
/** Largest forward frame: a batch of messages that holds at least one message. */
export const MAX_FORWARD_FRAME_BYTES = MAX_FORWARD_MESSAGE_BYTES + FORWARD_MAX_WRITE_BYTES
/** Largest control frame (a route snapshot). */
export const MAX_CONTROL_FRAME_BYTES = 64 * 1024 * 1024
/**
 * Decoder buffer bound: one stream 'message' event can carry many megabytes that arrived before a
 * listener attached; the 4 MiB default throws inside the listener.
 */
export const MAX_DECODER_BUFFER_BYTES = 64 * 1024 * 1024

/** Inbound connections accepted per second from one host (libp2p's default of 5 is tight for reconnect storms). */
export const DEFAULT_INBOUND_CONNECTION_THRESHOLD = 100
/** Inbound forward streams per connection (one is live; superseded ones may linger briefly). */
export const MAX_INBOUND_FORWARD_STREAMS = 8
/** `stop()` waits this long for connected forward links to get their messages acknowledged. */
export const STOP_DRAIN_MS = 2_000

/** Files in the data directory. */
export const PRIVATE_KEY_FILE = 'libp2p.key'
export const NODE_INFO_FILE = 'node.json'
