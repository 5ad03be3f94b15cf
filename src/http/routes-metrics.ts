/**
 * The node's numbers: `/api/v1/metrics` (JSON, the counters of `$SYS`), `/api/v1/actors` (per actor
 * type: running, messages handled, mailbox depth, crashes) and Prometheus `/metrics`; the JSON is
 * `src/admin/node-metrics.ts`'s, shared with `meshmq ctl metrics`.
 */
import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import { actorTypes, nodeCounters } from '../admin/node-metrics.js'
import type { ApiParts } from './api-parts.js'

const actorSchema = {
  type: 'object',
  properties: { type: { type: 'string' }, count: { type: 'integer' }, handled: { type: 'integer' }, mailboxDepth: { type: 'integer' }, crashes: { type: 'integer' } },
  required: ['type', 'count', 'handled', 'mailboxDepth', 'crashes']
} as const

export function registerMetricRoutes (app: FastifyInstance, parts: ApiParts, prometheus: Registry): void {
  const { context, network } = parts

  app.get('/api/v1/metrics', {
    schema: {
      summary: "This node's counters and gauges, as published under $SYS/brokers/<node>/",
      response: { 200: { type: 'object', additionalProperties: true } }
    }
  }, () => nodeCounters(context, network, parts.connectionCount()))

  app.get('/api/v1/actors', {
    schema: {
      summary: 'Actors of this node by type: how many run, messages handled, mailbox depth (messages queued, not yet started), crashes',
      response: { 200: { type: 'object', properties: { data: { type: 'array', items: actorSchema } } } }
    }
  }, () => ({ data: actorTypes(context) }))

  app.get('/metrics', {
    schema: { summary: 'Prometheus metrics (text exposition format), every series labelled node', response: { 200: { type: 'string' } } }
  }, async (_request, reply) => {
    const text = await prometheus.metrics()
    return await reply.type(prometheus.contentType).send(text)
  })
}
