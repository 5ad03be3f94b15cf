/** Nodes, clients and subscriptions: `/api/v1/nodes`, `/api/v1/clients`, `/api/v1/subscriptions` (cluster-wide, see cluster-admin.ts). */
import type { FastifyInstance } from 'fastify'
import type { ApiParts } from './api-parts.js'
import { clientSchema, errorSchema, nodeSchema, notFound, pageOf, pagingProperties, subscriptionSchema, type Paging } from './schemas.js'
import { NotFoundError } from '../admin/errors.js'
import { pageOffset } from '../admin/paging.js'

const clientIdParams = { type: 'object', properties: { clientid: { type: 'string', minLength: 1 } }, required: ['clientid'] } as const

export function registerClusterRoutes (app: FastifyInstance, parts: ApiParts): void {
  const { admin } = parts

  app.get('/api/v1/nodes', {
    schema: { summary: 'Every node of the cluster: up (with its summary) or down', response: { 200: { type: 'object', properties: { data: { type: 'array', items: nodeSchema } } } } }
  }, async () => ({ data: await admin.nodes() }))

  app.get<{ Params: { node: string } }>('/api/v1/nodes/:node', {
    schema: { summary: 'One node', params: { type: 'object', properties: { node: { type: 'string', minLength: 1 } }, required: ['node'] }, response: { 200: nodeSchema, ...notFound } }
  }, async request => await admin.node(request.params.node))

  app.get<{ Querystring: Paging & { node?: string, clientid?: string, username?: string } }>('/api/v1/clients', {
    schema: {
      summary: 'Clients of the nodes that are up, sorted by client id: paged, filtered by node, client id prefix, username',
      querystring: {
        type: 'object',
        properties: { ...pagingProperties, node: { type: 'string', minLength: 1 }, clientid: { type: 'string' }, username: { type: 'string' } },
        additionalProperties: false
      },
      response: { 200: pageOf(clientSchema), 400: errorSchema, ...notFound }
    }
  }, async request => {
    const { page, limit, node, clientid, username } = request.query
    const offset = pageOffset(page, limit)
    const result = await admin.clients({ prefix: clientid ?? '', offset, limit, ...(node === undefined ? {} : { node }), ...(username === undefined ? {} : { username }) })
    return { data: result.clients, meta: { page, limit, count: result.total } }
  })

  app.get<{ Params: { clientid: string } }>('/api/v1/clients/:clientid', {
    schema: { summary: 'One client, wherever it is held (two rows for a moment during a takeover)', params: clientIdParams, response: { 200: { type: 'object', properties: { data: { type: 'array', items: clientSchema } } }, ...notFound } }
  }, async request => {
    const rows = await admin.client(request.params.clientid)
    if (rows.length === 0) throw new NotFoundError(`no client ${request.params.clientid}`)
    return { data: rows }
  })

  app.delete<{ Params: { clientid: string } }>('/api/v1/clients/:clientid', {
    schema: { summary: 'Kick a client, whichever node holds it: its connection is closed (v5: 0x98) and its session ended', params: clientIdParams, response: { 204: { type: 'null', description: 'kicked' }, ...notFound } }
  }, async (request, reply) => {
    if (!await admin.kick(request.params.clientid)) throw new NotFoundError(`no client ${request.params.clientid}`)
    return await reply.code(204).send()
  })

  app.get<{ Querystring: Paging & { node?: string, clientid?: string, topic?: string } }>('/api/v1/subscriptions', {
    schema: {
      summary: 'Subscriptions of the nodes that are up, sorted by client id then topic: paged, filtered by node, client id and topic filter (exact)',
      querystring: {
        type: 'object',
        properties: { ...pagingProperties, node: { type: 'string', minLength: 1 }, clientid: { type: 'string', minLength: 1 }, topic: { type: 'string', minLength: 1 } },
        additionalProperties: false
      },
      response: { 200: pageOf(subscriptionSchema), 400: errorSchema, ...notFound }
    }
  }, async request => {
    const { page, limit, node, clientid, topic } = request.query
    const offset = pageOffset(page, limit)
    const selection = { ...(clientid === undefined ? {} : { clientId: clientid }), ...(topic === undefined ? {} : { topic }) }
    const result = await admin.subscriptions(selection, node, offset, limit)
    return { data: result.subscriptions, meta: { page, limit, count: result.total } }
  })
}
