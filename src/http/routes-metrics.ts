/**
 * The node's numbers: `/api/v1/metrics` (JSON, the counters of `$SYS`), `/api/v1/actors` (per actor
 * type) and Prometheus `/metrics`.
 *
 * Actors: nact exposes neither a mailbox's depth nor a count of messages handled, so only what the
 * broker knows is given: how many actors of each type run and how many crashed.
 */
import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import { actorCrashes, droppedByReason, metrics } from '../core/metrics.js'
import type { ApiParts } from './api-parts.js'

const actorSchema = {
  type: 'object',
  properties: { type: { type: 'string' }, count: { type: 'integer' }, crashes: { type: 'integer' } },
  required: ['type', 'count', 'crashes']
} as const

export function registerMetricRoutes (app: FastifyInstance, parts: ApiParts, prometheus: Registry): void {
  const { context, network } = parts

  app.get('/api/v1/metrics', {
    schema: {
      summary: "This node's counters and gauges, as published under $SYS/brokers/<node>/",
      response: { 200: { type: 'object', additionalProperties: true } }
    }
  }, () => {
    const budget = context.deliveryBudget
    const store = context.durable?.stats()
    return {
      node: context.node,
      ...metrics,
      connections: parts.connectionCount(),
      droppedByReason: Object.fromEntries(droppedByReason),
      queued: { messages: budget.heldMessages, bytes: budget.heldBytes, sessionsBacklogged: budget.backlogged },
      forward: network.started ? network.stats().forward : undefined,
      ...(store === undefined ? {} : { store })
    }
  })

  app.get('/api/v1/actors', {
    schema: {
      summary: 'Actors of this node by type: how many run and how many crashed (nact exposes no mailbox depth or message count)',
      response: { 200: { type: 'object', properties: { data: { type: 'array', items: actorSchema } } } }
    }
  }, () => {
    const counts: Array<[string, number]> = [
      ['session', metrics.sessions],
      ['trie_shard', context.shards.length],
      ['route_table', 1],
      ['retainer', 1],
      ['client_registry', 1],
      ['sys_publisher', 1]
    ]
    const types = new Set([...counts.map(([type]) => type), ...actorCrashes.keys()])
    const count = new Map(counts)
    return { data: [...types].map(type => ({ type, count: count.get(type) ?? 0, crashes: actorCrashes.get(type) ?? 0 })) }
  })

  app.get('/metrics', {
    schema: { summary: 'Prometheus metrics (text exposition format), every series labelled node', response: { 200: { type: 'string' } } }
  }, async (_request, reply) => {
    const text = await prometheus.metrics()
    return await reply.type(prometheus.contentType).send(text)
  })
}
