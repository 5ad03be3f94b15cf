/**
 * Routes, retained messages and publishing: `/api/v1/routes`, `/api/v1/retained`, `/api/v1/publish`.
 * The route table is replicated on every node, so this node's copy is the cluster's; retained
 * messages and publishing are `src/admin/topic-admin.ts`'s (shared with `meshmq ctl`).
 */
import { type Ref } from 'nact'
import { query } from '../../actors/actor-meters.js'
import type { FastifyInstance } from 'fastify'
import type { RouteDump } from '../../actors/messages.js'
import type { ApiParts } from './api-parts.js'
import { ADMIN_QUERY_TIMEOUT_MS } from '../admin/node-admin.js'
import { clearRetained, listRetained, MAX_RETAINED_PAGE, publish, RETAINED_PREVIEW_BYTES, type PublishRequest } from '../admin/topic-admin.js'
import { errorSchema, notFound, pageOf, pagingProperties, retainedSchema, routeSchema, type Paging } from './schemas.js'
import { pageOffset } from '../admin/paging.js'

export function registerTopicRoutes (app: FastifyInstance, parts: ApiParts): void {
  const { context } = parts

  app.get<{ Querystring: Paging & { node?: string } }>('/api/v1/routes', {
    schema: {
      summary: 'The route table (cluster-wide): each topic filter and the nodes with a subscriber for it, sorted, paged',
      querystring: { type: 'object', properties: { ...pagingProperties, node: { type: 'string', minLength: 1 } }, additionalProperties: false },
      response: { 200: pageOf(routeSchema), 400: errorSchema }
    }
  }, async request => {
    const { page, limit, node } = request.query
    const offset = (page - 1) * limit
    const dump = await query(context.routeTable, (replyTo: Ref<RouteDump>) => ({ type: 'dump', replyTo }), ADMIN_QUERY_TIMEOUT_MS)
    const routes = node === undefined ? dump : dump.filter(route => route.nodes.includes(node))
    return { data: routes.slice(offset, offset + limit), meta: { page, limit, count: routes.length } }
  })

  app.get<{ Querystring: Paging & { topic?: string } }>('/api/v1/retained', {
    schema: {
      summary: `Retained messages (cluster-wide) matching a topic filter (default #), paged (at most ${MAX_RETAINED_PAGE}); payloads cut to ${RETAINED_PREVIEW_BYTES} bytes`,
      querystring: {
        type: 'object',
        properties: { ...pagingProperties, limit: { type: 'integer', minimum: 1, maximum: MAX_RETAINED_PAGE, default: 20 }, topic: { type: 'string', minLength: 1 } },
        additionalProperties: false
      },
      response: { 200: pageOf(retainedSchema), 400: errorSchema }
    }
  }, async request => {
    const { page, limit, topic } = request.query
    const offset = pageOffset(page, limit)
    const result = await listRetained(context, topic ?? '#', offset, limit)
    return { data: result.messages, meta: { page, limit, count: result.total } }
  })

  app.delete<{ Params: { topic: string } }>('/api/v1/retained/:topic', {
    schema: {
      summary: 'Clear the retained message of a topic (URL-encoded), cluster-wide',
      params: { type: 'object', properties: { topic: { type: 'string', minLength: 1 } }, required: ['topic'] },
      response: { 204: { type: 'null', description: 'cleared' }, 400: errorSchema, ...notFound }
    }
  }, async (request, reply) => {
    await clearRetained(context, request.params.topic)
    return await reply.code(204).send()
  })

  app.post<{ Body: PublishRequest }>('/api/v1/publish', {
    schema: {
      summary: 'Publish a message as a client would: routed cluster-wide, retained when asked',
      body: {
        type: 'object',
        properties: {
          topic: { type: 'string', minLength: 1 },
          payload: { type: 'string' },
          encoding: { type: 'string', enum: ['plain', 'base64'], default: 'plain' },
          qos: { type: 'integer', enum: [0, 1, 2], default: 0 },
          retain: { type: 'boolean', default: false }
        },
        required: ['topic', 'payload'],
        additionalProperties: false
      },
      response: { 200: { type: 'object', properties: { topic: { type: 'string' }, payloadBytes: { type: 'integer' } } }, 400: errorSchema }
    }
  }, request => publish(context, request.body))
}
