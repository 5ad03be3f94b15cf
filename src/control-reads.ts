/**
 * Runs the read-outs of `meshmq ctl` (control-read-commands.ts) with the same cluster-wide reads as
 * the HTTP API (src/admin/): the reply's `result` is the API's JSON (`meshmq ctl --json`), its
 * `text` a table for terminals.
 */
import type { BrokerContext } from '../actors/broker-context.js'
import type { ClusterNetwork } from '../network/cluster.js'
import type { ClusterAdmin } from './admin/cluster-admin.js'
import { NotFoundError } from './admin/errors.js'
import { actorTypes, nodeCounters } from './admin/node-metrics.js'
import { pageOffset } from './admin/paging.js'
import { clearRetained, listRetained } from './admin/topic-admin.js'
import type { ReadCommand } from './control-read-commands.js'

/** What the read-outs read: the node's parts, as the HTTP API gets them. */
export interface OperatorReads {
  admin: ClusterAdmin
  context: BrokerContext
  network: ClusterNetwork
  connectionCount: () => number
}

export interface ReadReply { result: unknown, text: string }

type Cell = string | number | boolean | null | undefined

/** Rows as a table: a header line, then one line per row, columns padded to their widest cell. */
export function formatTable (headers: string[], rows: Cell[][]): string {
  const cells = [headers, ...rows.map(row => row.map(cell => cell === null || cell === undefined ? '-' : String(cell)))]
  const widths = headers.map((_header, column) => Math.max(...cells.map(row => row[column]?.length ?? 0)))
  return cells.map(row => row.map((cell, column) => column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)).join('  ')).join('\n')
}

/** A page's table and its footer: which rows of how many. */
function paged (headers: string[], rows: Cell[][], page: { page: number, limit: number }, total: number): string {
  const first = (page.page - 1) * page.limit
  const footer = rows.length === 0 ? `(none of ${total})` : `(${first + 1}-${first + rows.length} of ${total}, page ${page.page})`
  return rows.length === 0 ? footer : `${formatTable(headers, rows)}\n${footer}`
}

/** The `[key, value]` pairs of a flat or nested object, nested keys dotted. */
function keyValues (object: Record<string, unknown>, prefix = ''): Cell[][] {
  return Object.entries(object).flatMap(([key, value]) => value !== null && typeof value === 'object'
    ? keyValues(value as Record<string, unknown>, `${prefix}${key}.`)
    : value === undefined ? [] : [[`${prefix}${key}`, value as Cell]])
}

export async function runRead (read: ReadCommand, parts: OperatorReads): Promise<ReadReply> {
  const { admin, context } = parts
  switch (read.kind) {
    case 'clients': {
      const { page, node, clientid, username } = read
      const { total, clients } = await admin.clients({
        prefix: clientid ?? '', offset: pageOffset(page.page, page.limit), limit: page.limit, ...(node === undefined ? {} : { node }), ...(username === undefined ? {} : { username })
      })
      const rows = clients.map(c => [c.clientId, c.node, c.username, c.connected, c.remoteAddress, c.protocolVersion, c.subscriptions, c.inflight, c.queued])
      return { result: { data: clients, meta: { ...page, count: total } }, text: paged(['clientid', 'node', 'username', 'connected', 'address', 'proto', 'subs', 'inflight', 'queued'], rows, page, total) }
    }
    case 'client': {
      const rows = await admin.client(read.clientId)
      if (rows.length === 0) throw new NotFoundError(`no client ${read.clientId}`)
      return { result: { data: rows }, text: rows.map(row => formatTable(['field', 'value'], keyValues(row as unknown as Record<string, unknown>))).join('\n\n') }
    }
    case 'kick':
      if (!await admin.kick(read.clientId)) throw new NotFoundError(`no client ${read.clientId}`)
      return { result: { kicked: read.clientId }, text: `Client ${read.clientId} kicked.` }
    case 'subscriptions': {
      const { page, node, clientid, topic } = read
      const selection = { ...(clientid === undefined ? {} : { clientId: clientid }), ...(topic === undefined ? {} : { topic }) }
      const { total, subscriptions } = await admin.subscriptions(selection, node, pageOffset(page.page, page.limit), page.limit)
      const rows = subscriptions.map(s => [s.clientId, s.node, s.topic, s.qos, s.noLocal, s.retainAsPublished, s.retainHandling])
      return { result: { data: subscriptions, meta: { ...page, count: total } }, text: paged(['clientid', 'node', 'topic', 'qos', 'nl', 'rap', 'rh'], rows, page, total) }
    }
    case 'retained': {
      const { page, topic } = read
      const { total, messages } = await listRetained(context, topic ?? '#', pageOffset(page.page, page.limit), page.limit)
      const preview = (payload: string): string => JSON.stringify(payload.length > 60 ? `${payload.slice(0, 60)}…` : payload)
      const rows = messages.map(m => [m.topic, m.qos, m.payloadBytes, m.origin, m.encoding === 'utf8' ? preview(m.payload) : `(binary, base64 in --json)`])
      return { result: { data: messages, meta: { ...page, count: total } }, text: paged(['topic', 'qos', 'bytes', 'origin', 'payload'], rows, page, total) }
    }
    case 'retained-delete':
      await clearRetained(context, read.topic)
      return { result: { deleted: read.topic }, text: `Retained message of ${read.topic} deleted.` }
    case 'metrics': {
      const counters = nodeCounters(context, parts.network, parts.connectionCount())
      const actors = actorTypes(context)
      const text = [formatTable(['metric', 'value'], keyValues(counters)), '', formatTable(['actor', 'count', 'handled', 'mailbox', 'crashes'], actors.map(a => [a.type, a.count, a.handled, a.mailboxDepth, a.crashes]))].join('\n')
      return { result: { ...counters, actors }, text }
    }
  }
}
