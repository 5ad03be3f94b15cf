/**
 * Routes, retained messages and publishing: `/api/v1/routes`, `/api/v1/retained`, `/api/v1/publish`.
 * The route table and the retained set are replicated on every node, so this node's copy is the
 * cluster's. A publish enters the broker as a client's would (routed cluster-wide, retained when
 * asked); a retained message is cleared through the retainer, which replicates the clear as a
 * retained publish with an empty payload would, without sending subscribers an empty message.
 */
import { dispatch, query, type Ref } from 'nact'
import type { FastifyInstance } from 'fastify'
import type { Message, QoS } from '../core/mqtt/message.js'
import { isValidTopicName, levelCount } from '../core/mqtt/topic.js'
import { PublishBatch } from '../../actors/publish-batch.js'
import type { RouteDump } from '../../actors/messages.js'
import type { ApiParts } from './api-parts.js'
import { ask, ADMIN_QUERY_TIMEOUT_MS } from './node-admin.js'
import { errorSchema, MAX_PAGE_DEPTH, notFound, pageOf, pagingProperties, retainedSchema, routeSchema, type Paging } from './schemas.js'
import { BadRequestError, NotFoundError, PageTooDeepError } from './errors.js'

/** The most retained messages one page lists (payloads can be large). */
export const MAX_RETAINED_PAGE = 100
/** Payload bytes a retained listing shows of each message. */
export const RETAINED_PREVIEW_BYTES = 1024
/** Who a message published through the API comes from (its `publisher`, as a client id is). */
export const API_PUBLISHER = '$http_api'

function checkTopic (topic: string, maxLevels: number): void {
  if (!isValidTopicName(topic)) throw new BadRequestError(`invalid topic name '${topic}': non-empty, no wildcards (+ #), no NUL`)
  if (levelCount(topic) > maxLevels) throw new BadRequestError(`topic has more than mqtt.maxTopicLevels (${maxLevels}) levels`)
}

/** A payload as JSON carries it: UTF-8 text as is, anything else base64. */
function payloadView (payload: Buffer): { payload: string, encoding: 'utf8' | 'base64' } {
  const text = payload.toString('utf8')
  return Buffer.byteLength(text) === payload.length && Buffer.from(text, 'utf8').equals(payload)
    ? { payload: text, encoding: 'utf8' }
    : { payload: payload.toString('base64'), encoding: 'base64' }
}

function retainedRow (message: Message): object {
  const view = payloadView(message.payload.subarray(0, RETAINED_PREVIEW_BYTES))
  return {
    topic: message.topic,
    qos: message.qos,
    ...view,
    payloadBytes: message.payload.length,
    publisher: message.publisher,
    origin: message.origin,
    ...(message.expiresAt === undefined ? {} : { expiresAt: message.expiresAt })
  }
}

interface PublishBody { topic: string, payload: string, encoding?: 'plain' | 'base64', qos?: QoS, retain?: boolean }

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
    const offset = (page - 1) * limit
    if (offset + limit > MAX_PAGE_DEPTH) throw new PageTooDeepError(MAX_PAGE_DEPTH)
    const filter = topic ?? '#'
    const result = await ask<{ total: number, messages: Message[] }>(reply => { dispatch(context.retainer, { type: 'list', filter, offset, limit, reply }) }, 'the retainer')
    return { data: result.messages.map(retainedRow), meta: { page, limit, count: result.total } }
  })

  app.delete<{ Params: { topic: string } }>('/api/v1/retained/:topic', {
    schema: {
      summary: 'Clear the retained message of a topic (URL-encoded), cluster-wide',
      params: { type: 'object', properties: { topic: { type: 'string', minLength: 1 } }, required: ['topic'] },
      response: { 204: { type: 'null', description: 'cleared' }, 400: errorSchema, ...notFound }
    }
  }, async (request, reply) => {
    const { topic } = request.params
    checkTopic(topic, context.config.mqtt.maxTopicLevels)
    const found = await ask<{ total: number, messages: Message[] }>(send => { dispatch(context.retainer, { type: 'list', filter: topic, offset: 0, limit: 1, reply: send }) }, 'the retainer')
    if (found.total === 0) throw new NotFoundError(`no retained message on ${topic}`)
    const clear: Message = { topic, payload: Buffer.alloc(0), qos: 0, retain: true, publisher: API_PUBLISHER, origin: context.node }
    dispatch(context.retainer, { type: 'retain', messages: [clear] })
    return await reply.code(204).send()
  })

  app.post<{ Body: PublishBody }>('/api/v1/publish', {
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
  }, request => {
    const { topic, encoding, qos, retain } = request.body
    checkTopic(topic, context.config.mqtt.maxTopicLevels)
    if (topic.startsWith('$SYS') && !context.config.auth.allowSysPublish) throw new BadRequestError('$SYS topics are the broker\'s (auth.allowSysPublish)')
    if (encoding === 'base64' && !/^[A-Za-z0-9+/]*={0,2}$/.test(request.body.payload)) throw new BadRequestError('payload is not base64')
    const payload = Buffer.from(request.body.payload, encoding === 'base64' ? 'base64' : 'utf8')
    if (payload.length > context.config.mqtt.maxPacketSize) throw new BadRequestError(`payload larger than mqtt.maxPacketSize (${context.config.mqtt.maxPacketSize} bytes)`)
    const batch = new PublishBatch(context)
    batch.add({ topic, payload, qos: qos ?? 0, retain: retain ?? false, publisher: API_PUBLISHER, origin: context.node })
    batch.flush()
    return { topic, payloadBytes: payload.length }
  })
}
