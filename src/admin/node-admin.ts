/**
 * What this node knows of itself, for the HTTP API and for the other nodes that ask it through the
 * `admin.query` service (cluster-admin.ts): its summary, its clients (held by the client registry
 * actor, details by each session actor), kicks. Every read goes through the actors' mailboxes,
 * bounded by `ADMIN_QUERY_TIMEOUT_MS`.
 */
import { type Ref } from 'nact'
import { dispatch, query } from '../../actors/actor-meters.js'
import type { BrokerContext } from '../../actors/broker-context.js'
import type { LocalSubscription, RegisteredSession, RegistryMsg, RouteDump, SessionInfo } from '../../actors/messages.js'
import type { ClusterNetwork } from '../../network/cluster.js'
import { metrics } from '../core/metrics.js'
import { BROKER_VERSION } from '../core/version.js'

/** Bound on one actor query of the HTTP API. */
export const ADMIN_QUERY_TIMEOUT_MS = 5_000

/** One forward link of a node to a peer, as the network shows it. */
export interface LinkSummary {
  peer: string
  connected: boolean
  /** Messages waiting to be written. */
  pending: number
  /** QoS 1/2 messages written, awaiting the peer's ack. */
  inflight: number
  /** Bytes of both. */
  bytes: number
  /** QoS 1/2 frames the peer acknowledged since the link was created. */
  acked: number
}

/** A node that is up, as it describes itself. */
export interface NodeSummary {
  name: string
  status: 'up'
  version: string
  uptimeSeconds: number
  connections: number
  sessions: number
  subscriptions: number
  /** Filters in its route table (local and remote routes, cluster-wide). */
  routes: number
  links: LinkSummary[]
  /** PUBLISH received from and sent to clients since the node started (the dashboard's rate chart differentiates them). */
  messagesReceived: number
  messagesSent: number
  /** The other nodes as this one sees them (the dashboard shows a node some see up and others down as partitioned). */
  sees: { up: string[], down: string[] }
}

/** A client as the API lists it: the registry's facts and the session's details. */
export interface ClientRow extends SessionInfo {
  node: string
  username: string | null
  /** When its session last took a connection (ms since the epoch); null: restored, not connected since. */
  connectedAt: number | null
}

/** A subscription as the API lists it. */
export interface SubscriptionRow {
  clientId: string
  node: string
  /** The filter as subscribed (`$share/<group>/<filter>` for a shared one). */
  topic: string
  qos: number
  noLocal: boolean
  retainAsPublished: boolean
  retainHandling: number
}

/** What selects subscriptions: a client id and a filter, each exact when given. */
export interface SubscriptionSelection { clientId?: string, topic?: string }

/** Sorts subscriptions by client id, then topic. */
export function bySubscriber (a: { clientId: string, topic: string }, b: { clientId: string, topic: string }): number {
  if (a.clientId !== b.clientId) return a.clientId < b.clientId ? -1 : 1
  return a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0
}

/** A session that did not answer in time. */
export class AdminTimeoutError extends Error {
  override name = 'AdminTimeoutError'
}

/** Asks an actor with a reply callback, bounded. */
export async function ask<T> (send: (reply: (value: T) => void) => void, what: string): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new AdminTimeoutError(`${what} did not answer within ${ADMIN_QUERY_TIMEOUT_MS} ms`)) }, ADMIN_QUERY_TIMEOUT_MS)
    send(value => {
      clearTimeout(timer)
      resolve(value)
    })
  })
}

export interface NodeAdminParts {
  context: BrokerContext
  registry: Ref<RegistryMsg>
  network: ClusterNetwork
  connectionCount: () => number
  startedAt: number
}

/** The other members, up and down, as `network` sees them. */
function membershipSeen (network: ClusterNetwork, self: string): { up: string[], down: string[] } {
  if (!network.started) return { up: [], down: [] }
  const status = network.status()
  return { up: status.runningNodes.filter(name => name !== self), down: [...status.stoppedNodes] }
}

export class NodeAdmin {
  constructor (private readonly parts: NodeAdminParts) {}

  get name (): string { return this.parts.context.node }

  async summary (): Promise<NodeSummary> {
    const { context, network } = this.parts
    const routes = await query(context.routeTable, (replyTo: Ref<RouteDump>) => ({ type: 'dump', replyTo }), ADMIN_QUERY_TIMEOUT_MS)
    const links = Object.entries(network.started ? network.stats().links : {})
      .map(([peer, link]) => ({ peer, connected: link.connected, pending: link.pending, inflight: link.inflight, bytes: link.bytes, acked: link.acked }))
      .sort((a, b) => a.peer.localeCompare(b.peer))
    return {
      name: context.node,
      status: 'up',
      version: BROKER_VERSION,
      uptimeSeconds: Math.floor((Date.now() - this.parts.startedAt) / 1000),
      connections: this.parts.connectionCount(),
      sessions: metrics.sessions,
      subscriptions: metrics.subscriptions,
      routes: routes.length,
      links,
      messagesReceived: metrics.messagesReceived,
      messagesSent: metrics.messagesSent,
      sees: membershipSeen(network, context.node)
    }
  }

  /** Client ids held here starting with `prefix` (owned by `username`), sorted: the first `limit` and how many match. */
  async clientIds (prefix: string, username: string | undefined, limit: number): Promise<{ total: number, clientIds: string[] }> {
    return await ask(reply => { dispatch(this.parts.registry, { type: 'list', prefix, username, limit, reply }) }, 'the client registry')
  }

  /** The details of those of `clientIds` held here, in their order. */
  async clients (clientIds: string[]): Promise<ClientRow[]> {
    const sessions = await ask<RegisteredSession[]>(reply => { dispatch(this.parts.registry, { type: 'sessions_of', clientIds, reply }) }, 'the client registry')
    // A session that ended meanwhile never answers: it is left out.
    const rows = await Promise.allSettled(sessions.map(async registered => {
      const info = await ask<SessionInfo>(reply => { dispatch(registered.session, { type: 'info', reply }) }, `the session of ${registered.clientId}`)
      return { ...info, node: this.name, username: registered.username ?? null, connectedAt: registered.connectedAt === 0 ? null : registered.connectedAt }
    }))
    return rows.flatMap(row => row.status === 'fulfilled' ? [row.value] : [])
  }

  /** This node's subscriptions (from the trie shards) matching `selection`, sorted: the first `limit` and how many match. */
  async subscriptions (selection: SubscriptionSelection, limit: number): Promise<{ total: number, subscriptions: SubscriptionRow[] }> {
    const perShard = await Promise.all(this.parts.context.shards.map(async shard =>
      await query(shard, (replyTo: Ref<LocalSubscription[]>) => ({ type: 'local_subscriptions', replyTo }), ADMIN_QUERY_TIMEOUT_MS)))
    const rows: SubscriptionRow[] = []
    for (const { clientId, filter, options } of perShard.flat()) {
      if (selection.clientId !== undefined && clientId !== selection.clientId) continue
      if (selection.topic !== undefined && filter !== selection.topic) continue
      rows.push({ clientId, node: this.name, topic: filter, qos: options.qos, noLocal: options.noLocal, retainAsPublished: options.retainAsPublished, retainHandling: options.retainHandling })
    }
    rows.sort(bySubscriber)
    return { total: rows.length, subscriptions: rows.slice(0, limit) }
  }

  /** Kicks `clientId` if this node holds it; whether it did. */
  async kick (clientId: string): Promise<boolean> {
    return await ask(reply => { dispatch(this.parts.registry, { type: 'kick', clientId, reply }) }, 'the client registry')
  }
}
