/**
 * Wire identifiers and fixed limits of the cluster network. The tunables an operator may set
 * (timeouts, heartbeat, redial backoff, queue bound, secret, discovery) have their defaults in
 * `src/core/config/defaults.ts` (`CLUSTER_DEFAULTS`), shared with the broker config.
 */

/** Direct stream: each side sends its node name, incarnation and known members once per connection. */
export const HELLO_PROTOCOL = '/meshmq/hello/1'
/** Direct stream: request a node's full route snapshot. */
export const ROUTES_PROTOCOL = '/meshmq/routes/1'
/**
 * Direct stream, one long-lived per peer and direction: forwarded application messages, their acks
 * and refusals, the receiver's credit, and route deltas.
 */
export const FORWARD_PROTOCOL = '/meshmq/forward/4'
/** Direct stream: leave / force-leave notices. */
export const MEMBERSHIP_PROTOCOL = '/meshmq/membership/1'
/**
 * Gossipsub topic carrying route deltas of up to `MAX_GOSSIPED_DELTA_OPS` operations (every delta
 * is also pushed on the forward streams), route digests and membership notices.
 */
export const ROUTES_TOPIC = 'meshmq/routes/2'

/** Delay before the higher peer id dials an mDNS-discovered peer itself (the lower one dials at once). */
export const DISCOVERY_TIE_BREAK_MS = 2_000

/** Largest encoded route delta; bigger batches of changes are split into several deltas. */
export const MAX_ROUTE_DELTA_BYTES = 256 * 1024
/**
 * Deltas up to this many operations also go on the gossip topic. Bigger ones (subscription
 * bursts) are only pushed directly: gossiping them cost every node CPU (a 100k-filter burst
 * doubled a joining node's sync time), and a missed one is repaired by digest and snapshot.
 */
export const MAX_GOSSIPED_DELTA_OPS = 512
/** Deltas buffered for a node while its snapshot is being fetched. */
export const MAX_BUFFERED_DELTAS = 1_024

/** How often autoclean looks for expired down nodes (at most; a shorter `autocleanMs` looks more often). */
export const AUTOCLEAN_CHECK_MS = 1_000

/**
 * A receiver acks frames that carry only QoS 0 messages (or pings, or routes) within this delay
 * rather than on the next turn: such an ack releases nothing, it only shows the sender this end is
 * alive, so one per delay is enough. Well below the smallest peer timeout the config accepts.
 */
export const QOS0_ACK_DELAY_MS = 100

/** Extra delay of the redial by the node with the greater name, so a pair rarely dials twice at once. */
export const REDIAL_TIE_BREAK_MS = 500
/** Reopening a forward stream on a connected peer after a failure. */
export const FORWARD_REOPEN_MIN_MS = 50
export const FORWARD_REOPEN_MAX_MS = 5_000

/** Coalesced forward writes stop while the stream buffers more than this. */
export const FORWARD_WRITE_HIGH_WATER_MARK = 1024 * 1024
/** Largest single `stream.send()` built by the coalescing writer. */
export const FORWARD_MAX_WRITE_BYTES = 256 * 1024
/**
 * A message that was the first unacknowledged one on this many forward streams in a row, each lost
 * (the peer aborts a stream it cannot read), is dropped (`undeliverable`): a message the peer keeps
 * failing on would otherwise be resent first on every new stream and block the link for good.
 */
export const MAX_FORWARD_ATTEMPTS = 5

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

/** Inbound forward streams per connection (one is live; superseded ones may linger briefly). */
export const MAX_INBOUND_FORWARD_STREAMS = 8

/** Files in the data directory. */
export const PRIVATE_KEY_FILE = 'libp2p.key'
export const NODE_INFO_FILE = 'node.json'
