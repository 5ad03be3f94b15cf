/**
 * The node's HTTP listener (`http.*`): the management API under `/api/v1` (fastify, every input
 * checked by the route's JSON schema: a bad one is answered 400 with a message), its OpenAPI
 * document at `/api/v1/openapi.json`, and Prometheus `/metrics`. Errors map to statuses here: an
 * unknown node, client or topic is 404, a token missing or wrong 401, an actor that does not answer
 * in time 504, another node that cannot be asked (or whose answer failed) 502. Each request is logged at debug level as `http_request`.
 * The web dashboard is served at `/` (static-routes.ts, public) with its own reads (routes-dashboard.ts).
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify'
import type { HttpConfig } from '../core/config/schema.js'
import type { Logger } from '../core/log.js'
import type { ApiParts } from './api-parts.js'
import { authRefusal, httpToken } from './auth.js'
import { AdminTimeoutError } from '../admin/node-admin.js'
import { UnknownNodeError } from '../admin/cluster-admin.js'
import { BadRequestError, NotFoundError } from '../admin/errors.js'
import { RequestFailedError, ServiceError } from '../../network/errors.js'
import { OpenApiDocument } from './openapi.js'
import { createPrometheusRegistry } from './prometheus.js'
import { actorTypes } from '../admin/node-metrics.js'
import { registerClusterRoutes } from './routes-cluster.js'
import { registerTopicRoutes } from './routes-topics.js'
import { registerMetricRoutes } from './routes-metrics.js'
import { registerDashboardRoutes } from './routes-dashboard.js'
import { registerStaticRoutes } from './static-routes.js'
import { LogStreamHub, logStreamLimitsOf } from './log-stream.js'
import { fixedDefaults } from '../core/config/defaults.js'

/** Largest request body accepted, in bytes (a publish's payload, base64). */
const BODY_LIMIT_BYTES = 4 * 1024 * 1024

export interface HttpAddress { host: string, port: number }

export interface HttpServer {
  readonly address: HttpAddress
  close: () => Promise<void>
}

/** The status and message of an error a route threw. */
function statusOf (err: FastifyError | Error): { status: number, error: string } {
  if ('validation' in err) return { status: 400, error: 'Bad Request' }
  if (err instanceof BadRequestError) return { status: 400, error: 'Bad Request' }
  if (err instanceof NotFoundError || err instanceof UnknownNodeError) return { status: 404, error: 'Not Found' }
  if (err instanceof AdminTimeoutError) return { status: 504, error: 'Gateway Timeout' }
  if (err instanceof RequestFailedError || err instanceof ServiceError) return { status: 502, error: 'Bad Gateway' }
  const status = 'statusCode' in err && typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500
  return { status, error: status === 500 ? 'Internal Server Error' : 'Bad Request' }
}

/** The fastify app with every route; not listening (tests may `inject`). */
export function createHttpApp (parts: ApiParts, token: string | undefined, log: Logger, config: HttpConfig = fixedDefaults().http): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: BODY_LIMIT_BYTES, ajv: { customOptions: { coerceTypes: true, removeAdditional: false } } })
  const openapi = new OpenApiDocument()
  app.addHook('onRoute', route => { openapi.add(route) })
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config.public === true) return
    const refusal = authRefusal(request.headers.authorization, token)
    if (refusal === undefined) return
    log.warn({ remote: request.ip, url: request.url, reason: refusal }, 'http_refused')
    await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'Unauthorized', message: refusal })
  })
  app.addHook('onResponse', async (request, reply) => {
    log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'http_request')
  })
  app.setErrorHandler(async (err: FastifyError | Error, request, reply) => {
    const { status, error } = statusOf(err)
    if (status === 500) log.error({ err, method: request.method, url: request.url }, 'http_error')
    await reply.code(status).send({ error, message: err.message })
  })
  app.setNotFoundHandler(async (request, reply) => {
    await reply.code(404).send({ error: 'Not Found', message: `no route ${request.method} ${request.url}` })
  })
  const prometheus = createPrometheusRegistry({
    node: parts.context.node,
    connections: parts.connectionCount,
    budget: parts.context.deliveryBudget,
    network: parts.network,
    routes: async () => (await parts.routes()).length,
    actors: () => actorTypes(parts.context)
  })
  app.addHook('onClose', (_instance, done) => { prometheus.stop(); done() })
  registerClusterRoutes(app, parts)
  registerTopicRoutes(app, parts)
  registerMetricRoutes(app, parts, prometheus.registry)
  const logStreams = new LogStreamHub(parts.logTap, logStreamLimitsOf(config))
  registerDashboardRoutes(app, parts, logStreams)
  registerStaticRoutes(app)
  // Open log streams would hold the server's close: they end first.
  app.addHook('preClose', (done) => { logStreams.closeAll(); done() })
  app.get('/api/v1/openapi.json', { schema: { summary: 'This document' } }, () => openapi.toJSON())
  return app
}

/** Starts the HTTP listener; throws `HttpTokenRequiredError` on a non-loopback host without a token, or the bind error. */
export async function startHttpServer (config: HttpConfig, parts: ApiParts, log: Logger): Promise<HttpServer> {
  const token = httpToken(config)
  const app = createHttpApp(parts, token, log, config)
  await app.listen({ host: config.host, port: config.port })
  const bound = app.server.address()
  const address = { host: config.host, port: typeof bound === 'object' && bound !== null ? bound.port : config.port }
  log.info({ ...address, token: token !== undefined }, 'http_listening')
  return { address, close: async () => { await app.close() } }
}
