/** JSON schemas shared by the API's routes (validation of input; documentation of output). */

import { DEFAULT_PAGE_LIMIT, MAX_PAGE_DEPTH, MAX_PAGE_LIMIT } from '../admin/paging.js'

export { MAX_PAGE_DEPTH, MAX_PAGE_LIMIT }

export const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message']
} as const

/** `page` (from 1) and `limit` (up to `MAX_PAGE_LIMIT`, default 100). */
export const pagingProperties = {
  page: { type: 'integer', minimum: 1, default: 1 },
  limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE_LIMIT, default: DEFAULT_PAGE_LIMIT }
} as const

/** The `meta` of a paged answer. */
export const metaSchema = {
  type: 'object',
  properties: { page: { type: 'integer' }, limit: { type: 'integer' }, count: { type: 'integer' } },
  required: ['page', 'limit', 'count']
} as const

export interface Paging { page: number, limit: number }

export const linkSchema = {
  type: 'object',
  properties: { peer: { type: 'string' }, connected: { type: 'boolean' }, pending: { type: 'integer' }, inflight: { type: 'integer' }, bytes: { type: 'integer' }, acked: { type: 'integer' } }
} as const

export const nodeSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    status: { type: 'string', enum: ['up', 'down'] },
    version: { type: 'string' },
    uptimeSeconds: { type: 'integer' },
    connections: { type: 'integer' },
    sessions: { type: 'integer' },
    subscriptions: { type: 'integer' },
    routes: { type: 'integer' },
    links: { type: 'array', items: linkSchema },
    messagesReceived: { type: 'integer' },
    messagesSent: { type: 'integer' },
    sees: {
      type: 'object',
      properties: { up: { type: 'array', items: { type: 'string' } }, down: { type: 'array', items: { type: 'string' } } }
    }
  },
  required: ['name', 'status']
} as const

export const clientSchema = {
  type: 'object',
  properties: {
    clientId: { type: 'string' },
    node: { type: 'string' },
    username: { type: ['string', 'null'] },
    connected: { type: 'boolean' },
    connectedAt: { type: ['integer', 'null'] },
    remoteAddress: { type: 'string' },
    listener: { type: 'string' },
    protocolVersion: { type: 'integer' },
    keepalive: { type: 'integer' },
    cleanStart: { type: 'boolean' },
    expiryInterval: { type: 'integer' },
    subscriptions: { type: 'integer' },
    inflight: { type: 'integer' },
    queued: { type: 'integer' },
    queuedBytes: { type: 'integer' },
    createdAt: { type: 'integer' }
  },
  required: ['clientId', 'node', 'connected']
} as const

export const routeSchema = {
  type: 'object',
  properties: { filter: { type: 'string' }, nodes: { type: 'array', items: { type: 'string' } } }
} as const

export const retainedSchema = {
  type: 'object',
  properties: {
    topic: { type: 'string' },
    qos: { type: 'integer' },
    payload: { type: 'string' },
    encoding: { type: 'string', enum: ['utf8', 'base64'] },
    payloadBytes: { type: 'integer' },
    publisher: { type: 'string' },
    origin: { type: 'string' },
    expiresAt: { type: 'integer' }
  }
} as const

/** `{data: [...items], meta}`. */
export function pageOf (items: object): object {
  return { type: 'object', properties: { data: { type: 'array', items }, meta: metaSchema }, required: ['data', 'meta'] }
}

export const notFound = { 404: errorSchema } as const

export const subscriptionSchema = {
  type: 'object',
  properties: {
    clientId: { type: 'string' },
    node: { type: 'string' },
    topic: { type: 'string' },
    qos: { type: 'integer' },
    noLocal: { type: 'boolean' },
    retainAsPublished: { type: 'boolean' },
    retainHandling: { type: 'integer' }
  }
} as const
