/**
 * What the web dashboard reads besides the rest of the API: `GET /api/v1/dashboard` (this node's
 * name and MQTT listeners, so the page finds its WebSocket listener, and the log stream's bounds)
 * and `GET /api/v1/logs/stream` (server-sent events of the node's log, see log-stream.ts).
 */
import type { FastifyInstance } from 'fastify'
import type { ApiParts } from './api-parts.js'
import { errorSchema } from './schemas.js'
import { BROKER_VERSION } from '../core/version.js'
import type { LogFilter, LogStreamHub } from './log-stream.js'

const listenerSchema = {
  type: 'object',
  properties: { type: { type: 'string' }, name: { type: 'string' }, host: { type: 'string' }, port: { type: 'integer' }, path: { type: 'string' } }
} as const

export function registerDashboardRoutes (app: FastifyInstance, parts: ApiParts, hub: LogStreamHub): void {
  app.get('/api/v1/dashboard', {
    schema: {
      summary: "What the dashboard needs to know of this node: its name, version, MQTT listeners (a ws or wss one serves the watch panel) and the log stream's bounds",
      response: {
        200: {
          type: 'object',
          properties: {
            node: { type: 'string' },
            version: { type: 'string' },
            listeners: { type: 'array', items: listenerSchema },
            logStream: {
              type: 'object',
              properties: {
                available: { type: 'boolean' },
                recentLines: { type: 'integer' },
                maxStreams: { type: 'integer' },
                queueLines: { type: 'integer' },
                queueBytes: { type: 'integer' },
                streams: { type: 'integer' },
                dropped: { type: 'integer' }
              }
            }
          }
        }
      }
    }
  }, () => ({
    node: parts.context.node,
    version: BROKER_VERSION,
    listeners: parts.listeners ?? [],
    logStream: {
      available: hub.available,
      recentLines: parts.logTap?.limits.maxLines ?? 0,
      ...hub.limits,
      streams: hub.streams,
      dropped: hub.dropped
    }
  }))

  app.get<{ Querystring: LogFilter }>('/api/v1/logs/stream', {
    schema: {
      summary: "Live tail of this node's log events as server-sent events (`event: log`, data one JSON log line; `event: gap`, data {dropped} when a slow reader lost lines), recent ones first; filtered by actor type, client id prefix and topic filter",
      querystring: {
        type: 'object',
        properties: { actor: { type: 'string', minLength: 1 }, clientid: { type: 'string', minLength: 1 }, topic: { type: 'string', minLength: 1 } },
        additionalProperties: false
      },
      response: { 200: { type: 'string', description: 'text/event-stream' }, 400: errorSchema, 503: errorSchema }
    }
  }, async (request, reply) => {
    if (!hub.available) return await reply.code(503).send({ error: 'Service Unavailable', message: 'this node logs through a logger it was given: no log stream' })
    if (hub.full) return await reply.code(503).send({ error: 'Service Unavailable', message: `${hub.limits.maxStreams} log streams are open on this node (the bound)` })
    const { actor, clientid, topic } = request.query
    const filter: LogFilter = { ...(actor === undefined ? {} : { actor }), ...(clientid === undefined ? {} : { clientid }), ...(topic === undefined ? {} : { topic }) }
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', connection: 'keep-alive' })
    res.write(': meshmq log stream\n\n')
    hub.open(res, filter)
    return reply
  })
}
