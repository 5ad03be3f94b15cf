/**
 * Every broker actor's messages, one discriminated union per actor, with the payload types they
 * carry. Actors import their protocol from here, never from each other's modules, so no actor's
 * types depend on another actor's implementation (and no import cycle runs between them). The refs
 * in these messages are typed (see nact-types.ts): a message sent to the wrong actor does not compile.
 */
import type { Ref } from 'nact'
import type { ClientLink, ConnectionEvent } from '../src/core/channel/client-link.js'
import type { ConnectRequest } from '../src/core/channel/connect.js'
import type { Message } from '../src/core/mqtt/message.js'
import type { SharedRedelivery } from '../src/core/session/shared-redelivery.js'
import type { RetainedRequest } from '../src/core/channel/channel-context.js'
import type { RetainedCursor } from '../src/core/routing/retained-store.js'
import type { RetainedEntry } from '../src/core/routing/retained-replica.js'
import type { RetainedDigest } from '../src/core/routing/retained-versions.js'
import type { Delivery, SubscriptionOptions } from '../src/core/session/session-state.js'
import type { SessionSnapshot } from '../src/core/session/session-snapshot.js'
import type { RestoredSession } from '../src/core/store/durable.js'
import './nact-types.js'

export type { SharedRedelivery }

// ---- Session (session.ts) ----------------------------------------------------------------------

export type SessionMsg =
  | ConnectionEvent
  /** The registry hands the session a new connection (first connect, reconnect or takeover). */
  | { type: 'attach', connection: ClientLink, request: ConnectRequest, attachSeq: number }
  /** Messages matched by a trie shard or sent by the retainer. */
  | { type: 'deliver', deliveries: Delivery[] }
  /**
   * A trie shard routed the messages of a `publish` with a `report`: `matched[i]` for `tokens[i]`;
   * the store writes the routing appended are those numbered in (`written[0]`, `written[1]`].
   */
  | { type: 'routed', tokens: number[], matched: boolean[], written?: [number, number] }
  /** The node's store is durable up to write `seq`: acks waiting for it may leave (session-turn.ts). */
  | { type: 'acks_durable', seq: number }
  /** The node's store is durable up to write `seq`: PUBLISH packets held for it may leave (held-publishes.ts). */
  | { type: 'publishes_durable', seq: number }
  /** The store writes of the routing reported with these tokens are committed or cancelled (session-turn.ts). */
  | { type: 'acks_settled', tokens: number[] }
  /** The session as the node's store kept it, read back at start (see session-restore.ts). */
  | { type: 'restore', restored: RestoredSession, publishWill: boolean }
  /** The session expiry timer of attach `attachSeq` fired. */
  | { type: 'session_expired', attachSeq: number }
  /** The will delay timer of attach `attachSeq` fired. */
  | { type: 'will_due', attachSeq: number }
  /** The backlog stall timer of marking `marking` fired (see session-backlog.ts). */
  | { type: 'backlog_stalled', marking: number }
  /** Node shutdown: close the connection, keep nothing. */
  | { type: 'shutdown' }
  /**
   * Another node takes the session over (see `HandOver`): close the connection (0x8E), then
   * discard the session, or hand it over and forward what its subscriptions still receive.
   */
  | { type: 'hand_over', handOver: HandOver }
  /** The session as another node handed it over; comes right before the `attach` that resumes it. */
  | { type: 'import', snapshot: SessionSnapshot, dedupeMs: number }
  /** Deliveries the old node's handed-over session forwarded here. */
  | { type: 'handover_deliver', deliveries: Delivery[] }
  /** Reply with what the session is now (the HTTP API's client details). */
  | { type: 'info', reply: (info: SessionInfo) => void }
  /** An operator kicks the client: close its connection (v5: 0x98 Administrative action) and end the session. */
  | { type: 'kick' }

/** A session as the HTTP API shows it. */
export interface SessionInfo {
  clientId: string
  connected: boolean
  /** `ip:port` of the client's connection; absent while none is connected. */
  remoteAddress?: string
  /** The listener it came through (`tcp:1883`, …). */
  listener?: string
  protocolVersion?: number
  keepalive?: number
  cleanStart?: boolean
  /** Session expiry interval, in seconds. */
  expiryInterval: number
  subscriptions: number
  inflight: number
  queued: number
  queuedBytes: number
  createdAt: number
}

// ---- Client registry (client-registry.ts) ------------------------------------------------------

/** A node's hold on a client id, compared when two nodes hold it: when its session last took a connection, and for whom. */
export interface SessionClaim {
  connectedAt: number
  /** The username that created the session; undefined: anonymous. */
  owner: string | undefined
}

/** What the node holding a session answers a node that takes it over. */
export type HandOverReply =
  /** The session, now this node's to resume. */
  | { kind: 'handed_over', snapshot: SessionSnapshot }
  /** Clean start: the session was discarded there. */
  | { kind: 'discarded' }
  /** That node holds no session for the client id (any more). */
  | { kind: 'not_found' }
  /** The session belongs to another username than the connecting client's: it stays there. */
  | { kind: 'not_authorized' }

/** A request to give up a session to node `to`. */
export interface HandOver {
  to: string
  /** Discard the session rather than hand it over (clean start, or a lost client id conflict). */
  discard: boolean
  reply: (reply: HandOverReply) => void
  /** Forwards deliveries that reach the handed-over session to `to` (in order). */
  forward: (deliveries: Delivery[]) => void
  /** How long the handed-over session keeps its subscriptions and forwards. */
  handoverMs: number
}

/** A session as the registry holds it. */
export interface RegisteredSession {
  clientId: string
  /** The username that created the session (undefined: anonymous). */
  owner: string | undefined
  /** The username its last connection gave, verified or not; else the owner. */
  username: string | undefined
  /** When it last took a connection (ms since the epoch; 0: restored and not connected since). */
  connectedAt: number
  session: Ref<SessionMsg>
}

export type RegistryMsg =
  /** A client's CONNECT was accepted by its connection: attach it to its (new or existing) session. */
  | { type: 'connect', request: ConnectRequest, connection: ClientLink }
  /** A session ended; removed (and stopped) only if no newer attach happened meanwhile. */
  | { type: 'session_ended', clientId: string, session: Ref<SessionMsg>, attachSeq: number }
  /** Reply with the number of sessions. */
  | { type: 'count', replyTo: Ref<number> }
  /** The node `from` asks for this node's session of `clientId` (see `HandOver`). */
  | { type: 'hand_over', clientId: string, from: string, discard: boolean, username: string | undefined, reply: (reply: HandOverReply) => void }
  /** The takeover of `clientId` from `node` ended; `reply` undefined when the node did not answer. */
  | { type: 'takeover_resolved', clientId: string, node: string, reply: HandOverReply | undefined, error?: string }
  /** Deliveries `from` forwarded for the session of `clientId` (taken only if `from` handed it over). */
  | { type: 'handover_deliver', clientId: string, from: string, deliveries: Delivery[] }
  /**
   * Another node now holds sessions for `clientIds` too (from the cluster's replication: a delta
   * or a snapshot); those this node holds are conflicts to resolve.
   */
  | { type: 'remote_clients_added', node: string, clientIds: string[] }
  /** Reply with when this node's session of `clientId` last took a connection (undefined: none here). */
  | { type: 'connected_at', clientId: string, reply: (claim: SessionClaim | undefined) => void }
  /** Ask `node` again for its connect time of `clientId` (the last ask failed). */
  | { type: 'conflict_recheck', clientId: string, node: string, attempt: number }
  /** The connect time `node` answered for its session of `clientId`, which this node holds too (`session`). */
  | { type: 'conflict_checked', clientId: string, node: string, session: Ref<SessionMsg>, theirs: SessionClaim | undefined }
  /** Stop every session (node shutdown); replies when done. */
  | { type: 'shutdown', replyTo: Ref<number> }
  /**
   * Reply with the client ids of the sessions held here whose id starts with `prefix` and whose
   * last connection gave `username` (when given), sorted: the first `limit`, and how many match.
   */
  | { type: 'list', prefix: string, username: string | undefined, limit: number, reply: (page: { total: number, clientIds: string[] }) => void }
  /** Reply with the sessions held here of `clientIds` (those that exist). */
  | { type: 'sessions_of', clientIds: string[], reply: (sessions: RegisteredSession[]) => void }
  /** An operator kicks `clientId` (see the session's `kick`); replies whether this node holds it. */
  | { type: 'kick', clientId: string, reply: (found: boolean) => void }
  /** The sessions the node's store kept, read back at start: each gets its actor again (replies with their number). */
  | { type: 'restore', sessions: RestoredSession[], publishWills: boolean, replyTo: Ref<number> }

// ---- Trie shard (trie-shard.ts) ----------------------------------------------------------------

/** A local subscription as the shard needs it to deliver. */
export interface Subscriber {
  clientId: string
  session: Ref<SessionMsg>
  options: SubscriptionOptions
  /** A shared subscription's member whose persistent session has no connection now: picked only when no member is online. */
  offline?: true
  /** The session is persistent and the node keeps a store: QoS 1/2 deliveries to it are recorded as they are routed. */
  durable?: true
}

/** Add or replace a client's subscription to `filter` (in `group` when shared), or remove it. */
export type SubscriptionChange =
  | { op: 'subscribe', filter: string, group?: string, subscriber: Subscriber }
  | { op: 'unsubscribe', filter: string, group?: string, clientId: string }

/** One subscription of a session of this node, as a trie shard holds it. */
export interface LocalSubscription { clientId: string, filter: string, options: SubscriptionOptions }

export interface ShardStats { filters: number, subscribers: number, matches: number, cacheHits: number }

/**
 * Who wants to know whether the messages of a publish batch matched: `tokens[i]` is the token of
 * `messages[i]` (0 for a message nobody waits on). The shard replies with a `routed` message.
 */
export interface RoutingReport { session: Ref<SessionMsg>, tokens: number[] }

/** filter → nodes having a route for it. */
export type RouteDump = Array<{ filter: string, nodes: string[] }>

/** Remote-route messages name only the filters that live in the receiving shard (see shard-index.ts). */
export type ShardMsg =
  /** A session's subscription changes of one actor turn, applied in order. */
  | { type: 'subscriptions', changes: SubscriptionChange[] }
  /**
   * Route a batch of messages published on this node (or received from a peer, with `fromPeer`).
   * With `report`, the shard answers whether each message found a destination (see RoutingReport).
   */
  | { type: 'publish', messages: Message[], fromPeer?: boolean, report?: RoutingReport }
  /**
   * Messages member `departed` of their shared subscriptions took and left unacknowledged (its
   * connection dropped): hand each to another member; `persists` when the departed session stays.
   */
  | { type: 'redispatch', items: SharedRedelivery[], departed: string, persists: boolean }
  /** A remote node gained routes for `added` and lost those for `removed`. */
  | { type: 'remote_routes_changed', node: string, added: string[], removed: string[] }
  /** A remote node's routes in this shard are now exactly `filters` (after a snapshot). */
  | { type: 'remote_routes_replaced', node: string, filters: string[] }
  /** Forget every remote route of a node. */
  | { type: 'remote_node_removed', node: string }
  /** Forget every remote route of every node. */
  | { type: 'remote_nodes_cleared' }
  /** Reply with the remote routes this shard holds, unsorted. */
  | { type: 'remote_routes_dump', replyTo: Ref<RouteDump> }
  /** Reply with the shard's counters. */
  | { type: 'stats', replyTo: Ref<ShardStats> }
  /** Reply with this node's subscriptions in this shard (shared ones as `$share/<group>/<filter>`), unsorted. */
  | { type: 'local_subscriptions', replyTo: Ref<LocalSubscription[]> }

// ---- Route table (route-table.ts) --------------------------------------------------------------

/** A route a shard gained (its first local subscriber) or lost (its last one). */
export interface LocalRouteChange { route: string, added: boolean }

export type RouteTableMsg =
  /** A shard's local routes changed in one turn, in this order. */
  | { type: 'local_routes_changed', changes: LocalRouteChange[], shard: number }
  /** A remote node's route set changed (from the cluster layer); no filter is in both lists. */
  | { type: 'remote_routes_changed', node: string, added: string[], removed: string[] }
  /** Replace all routes of a remote node (after a snapshot). */
  | { type: 'remote_routes_replaced', node: string, filters: string[] }
  /** Forget a remote node and all its routes. */
  | { type: 'remote_node_removed', node: string }
  /** Forget every remote node (this node left its cluster or joins another). */
  | { type: 'remote_nodes_cleared' }
  /** Reply with every route, local and remote, sorted by filter (nodes sorted too). */
  | { type: 'dump', replyTo: Ref<RouteDump> }

// ---- Retainer (retainer.ts) --------------------------------------------------------------------

export type RetainerMsg =
  /**
   * Store (or, with an empty payload, clear) the retained message of each message's topic;
   * `unbounded` for the node's own `$SYS` topics, stored even when the store is at its bound.
   */
  | { type: 'retain', messages: Message[], unbounded?: true }
  /** Send the retained messages matching each filter of one SUBSCRIBE to the session that sent it. */
  | { type: 'send_retained', requests: RetainedRequest[], session: Ref<SessionMsg> }
  /**
   * The rest of a `send_retained`, taken a slice per actor turn (the retainer sends it to itself):
   * requests from index `from` on, `cursor` part-way through `requests[from]` when set.
   */
  | { type: 'send_retained_rest', requests: RetainedRequest[], from: number, cursor?: RetainedCursor, session: Ref<SessionMsg> }
  /** Reply with the number of retained messages. */
  | { type: 'count', replyTo: Ref<number> }
  /**
   * Reply with the retained messages matching `filter` (`$` topics only when the filter names them,
   * as for a subscriber): `limit` of them after skipping `offset`, and how many match.
   */
  | { type: 'list', filter: string, offset: number, limit: number, reply: (page: { total: number, messages: Message[] }) => void }
  /** Apply entries written on another node (cluster-wide retained set; last writer wins). */
  | { type: 'retain_replicated', from: string, entries: RetainedEntry[] }
  /** Reply with every replicated entry held (messages and tombstones), for a peer's pull. */
  | { type: 'replicated_snapshot', replyTo: Ref<RetainedEntry[]> }
  /** Reply with the digest of the replicated set. */
  | { type: 'replicated_digest', replyTo: Ref<RetainedDigest> }
  /** Drop every replicated message (this node joins another cluster); replies with how many. */
  | { type: 'replicated_clear', replyTo: Ref<number> }
  /** The retained messages the node's store kept, read back at start (replies with how many were taken). */
  | { type: 'restore', entries: RetainedEntry[], replyTo: Ref<number> }

// ---- $SYS publisher (sys-publisher.ts) ---------------------------------------------------------

export type SysMsg =
  /** Publish the current statistics. */
  { type: 'tick' }
