/**
 * Cluster-wide reads and actions of the HTTP API. What the node holds cluster-wide is read here
 * (membership, the route table, the retained set); what only another node knows (its summary,
 * its clients' details, a kick of its client) is asked of it over the cluster's service channel,
 * service `admin.query`: a JSON request `{op, …}`, a JSON answer. Every node serves it, whether
 * or not its own HTTP API is enabled; a node that is down contributes only its name and status.
 *
 * | op           | request                          | answer                         |
 * | ------------ | -------------------------------- | ------------------------------ |
 * | `summary`    |                                  | NodeSummary                    |
 * | `client_ids` | prefix, username?, limit         | {total, clientIds}             |
 * | `clients`    | clientIds                        | ClientRow[]                    |
 * | `kick`       | clientId                         | {found}                        |
 * | `subscriptions` | clientId?, topic?, limit      | {total, subscriptions}         |
 */
import type { ClusterNetwork } from '../../network/cluster.js'
import { bySubscriber, NodeAdmin, type ClientRow, type NodeSummary, type SubscriptionRow, type SubscriptionSelection } from './node-admin.js'

const SERVICE = 'admin.query'

/** A node as the API lists it: up with its own summary, or down with its name only. */
export type NodeView = NodeSummary | { name: string, status: 'down' }

export interface ClientQuery {
  /** Only this node's clients. */
  node?: string
  /** Client ids starting with it. */
  prefix: string
  username?: string
  offset: number
  limit: number
}

/** A node named by the API is not a member of the cluster. */
export class UnknownNodeError extends Error {
  override name = 'UnknownNodeError'
  constructor (readonly node: string) { super(`no node ${node} in the cluster`) }
}

type AdminRequest =
  | { op: 'summary' }
  | { op: 'client_ids', prefix: string, username?: string, limit: number }
  | { op: 'clients', clientIds: string[] }
  | { op: 'kick', clientId: string }
  | { op: 'subscriptions', selection: SubscriptionSelection, limit: number }

function isString (value: unknown): value is string { return typeof value === 'string' }

/** The request a peer sent, checked field by field (a peer's bad input is refused alone). */
function parseRequest (payload: Uint8Array): AdminRequest {
  const request = JSON.parse(Buffer.from(payload).toString('utf8')) as Record<string, unknown>
  switch (request.op) {
    case 'summary': return { op: 'summary' }
    case 'client_ids':
      if (isString(request.prefix) && Number.isInteger(request.limit) && (request.username === undefined || isString(request.username))) {
        return { op: 'client_ids', prefix: request.prefix, limit: request.limit as number, ...(request.username === undefined ? {} : { username: request.username }) }
      }
      break
    case 'clients':
      if (Array.isArray(request.clientIds) && request.clientIds.every(isString)) return { op: 'clients', clientIds: request.clientIds }
      break
    case 'kick':
      if (isString(request.clientId)) return { op: 'kick', clientId: request.clientId }
      break
    case 'subscriptions': {
      const { clientId, topic } = (request.selection ?? {}) as Record<string, unknown>
      if (Number.isInteger(request.limit) && (clientId === undefined || isString(clientId)) && (topic === undefined || isString(topic))) {
        const selection: SubscriptionSelection = { ...(clientId === undefined ? {} : { clientId }), ...(topic === undefined ? {} : { topic }) }
        return { op: 'subscriptions', selection, limit: request.limit as number }
      }
      break
    }
  }
  throw new Error(`bad ${SERVICE} request`)
}

export class ClusterAdmin {
  constructor (readonly local: NodeAdmin, private readonly network: ClusterNetwork) {}

  /** Serves the other nodes' `admin.query` requests. */
  serve (): void {
    this.network.serve(SERVICE, async (_from, payload) => Buffer.from(JSON.stringify(await this.answer(parseRequest(payload)))))
  }

  private async answer (request: AdminRequest): Promise<unknown> {
    switch (request.op) {
      case 'summary': return await this.local.summary()
      case 'client_ids': return await this.local.clientIds(request.prefix, request.username, request.limit)
      case 'clients': return await this.local.clients(request.clientIds)
      case 'kick': return { found: await this.local.kick(request.clientId) }
      case 'subscriptions': return await this.local.subscriptions(request.selection, request.limit)
    }
  }

  /** Asks `node` (this one locally). */
  private async ask<T> (node: string, request: AdminRequest): Promise<T> {
    if (node === this.local.name) return await this.answer(request) as T
    const answer = await this.network.request(node, SERVICE, Buffer.from(JSON.stringify(request)))
    return JSON.parse(Buffer.from(answer).toString('utf8')) as T
  }

  /** The nodes that are up now, this one included, sorted. */
  private running (): string[] {
    return this.network.status().runningNodes
  }

  /** Every node of the cluster, sorted by name. */
  async nodes (): Promise<NodeView[]> {
    const status = this.network.status()
    const up = await Promise.all(status.runningNodes.map(async name => await this.node(name)))
    const down = status.stoppedNodes.map(name => ({ name, status: 'down' as const }))
    return [...up, ...down].sort((a, b) => a.name.localeCompare(b.name))
  }

  /** One node; a node up that does not answer in time shows as down. */
  async node (name: string): Promise<NodeView> {
    const status = this.network.status()
    if (status.runningNodes.includes(name)) {
      try {
        return await this.ask<NodeSummary>(name, { op: 'summary' })
      } catch {
        return { name, status: 'down' }
      }
    }
    if (status.stoppedNodes.includes(name)) return { name, status: 'down' }
    throw new UnknownNodeError(name)
  }

  /**
   * A page of the clients of the nodes that are up (or of `node`), sorted by client id then node:
   * each node gives its first `offset + limit` matching ids and its count, the merge picks the page,
   * and the nodes holding its clients give their details.
   */
  async clients (q: ClientQuery): Promise<{ total: number, clients: ClientRow[] }> {
    const nodes = this.nodesToAsk(q.node)
    const request: AdminRequest = { op: 'client_ids', prefix: q.prefix, limit: q.offset + q.limit, ...(q.username === undefined ? {} : { username: q.username }) }
    const answers = await Promise.all(nodes.map(async node => ({ node, ...await this.ask<{ total: number, clientIds: string[] }>(node, request) })))
    const total = answers.reduce((sum, answer) => sum + answer.total, 0)
    const page = answers.flatMap(answer => answer.clientIds.map(clientId => ({ clientId, node: answer.node })))
      .sort((a, b) => a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : a.node.localeCompare(b.node))
      .slice(q.offset, q.offset + q.limit)
    const byNode = new Map<string, string[]>()
    for (const { clientId, node } of page) byNode.set(node, [...byNode.get(node) ?? [], clientId])
    const rows = (await Promise.all([...byNode].map(async ([node, clientIds]) => await this.ask<ClientRow[]>(node, { op: 'clients', clientIds })))).flat()
    const order = new Map(page.map(({ clientId, node }, index) => [`${node}\n${clientId}`, index]))
    rows.sort((a, b) => (order.get(`${a.node}\n${a.clientId}`) ?? 0) - (order.get(`${b.node}\n${b.clientId}`) ?? 0))
    return { total, clients: rows }
  }

  /** The nodes to ask: those up, or only `node` (none when it is down; UnknownNodeError when not a member). */
  private nodesToAsk (node: string | undefined): string[] {
    const running = this.running()
    if (node === undefined) return running
    if (running.includes(node)) return [node]
    if (this.network.status().stoppedNodes.includes(node)) return []
    throw new UnknownNodeError(node)
  }

  /** A page of the subscriptions of the nodes that are up (or of `node`), sorted by client id, topic, then node. */
  async subscriptions (selection: SubscriptionSelection, node: string | undefined, offset: number, limit: number): Promise<{ total: number, subscriptions: SubscriptionRow[] }> {
    const answers = await Promise.all(this.nodesToAsk(node).map(async name =>
      await this.ask<{ total: number, subscriptions: SubscriptionRow[] }>(name, { op: 'subscriptions', selection, limit: offset + limit })))
    const total = answers.reduce((sum, answer) => sum + answer.total, 0)
    const rows = answers.flatMap(answer => answer.subscriptions)
      .sort((a, b) => bySubscriber(a, b) || a.node.localeCompare(b.node))
    return { total, subscriptions: rows.slice(offset, offset + limit) }
  }

  /** The nodes that may hold `clientId`: this one first, then those the replicated client ids name that are up. */
  private holders (clientId: string): string[] {
    const running = new Set(this.running())
    return [this.local.name, ...this.network.clientHolders(clientId).filter(node => running.has(node))]
  }

  /** The client `clientId` wherever it is held (undefined: nowhere); more than one during a takeover. */
  async client (clientId: string): Promise<ClientRow[]> {
    const rows = await Promise.all(this.holders(clientId).map(async node => await this.ask<ClientRow[]>(node, { op: 'clients', clientIds: [clientId] })))
    return rows.flat()
  }

  /** Kicks `clientId` on every node holding it; whether one did. */
  async kick (clientId: string): Promise<boolean> {
    const found = await Promise.all(this.holders(clientId).map(async node => (await this.ask<{ found: boolean }>(node, { op: 'kick', clientId })).found))
    return found.includes(true)
  }
}
