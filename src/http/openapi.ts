/**
 * The API's OpenAPI 3 document, built from the routes as registered (their JSON schemas), so it
 * cannot leave a route out: each route's `params`, `querystring`, `body` and `response` schemas
 * become its parameters, request body and responses; its `summary` its summary.
 */
import type { RouteOptions } from 'fastify'
import { BROKER_VERSION } from '../core/version.js'

type JsonSchema = Record<string, unknown>

/** What a route's schema may hold. */
interface RouteSchema {
  summary?: string
  params?: JsonSchema
  querystring?: JsonSchema
  body?: JsonSchema
  response?: Record<string, JsonSchema>
}

/** `/api/v1/clients/:clientid` → `/api/v1/clients/{clientid}`. */
export function openApiPath (url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
}

function parameters (where: 'path' | 'query', schema: JsonSchema | undefined): JsonSchema[] {
  const properties = (schema?.properties ?? {}) as Record<string, JsonSchema>
  const required = new Set((schema?.required ?? []) as string[])
  return Object.entries(properties).map(([name, property]) => ({ name, in: where, required: where === 'path' || required.has(name), schema: property }))
}

export class OpenApiDocument {
  private readonly paths: Record<string, Record<string, JsonSchema>> = {}

  /** Adds a route (fastify's `onRoute` hook); HEAD routes fastify adds for GETs are left out. */
  add (route: RouteOptions): void {
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter(method => method !== 'HEAD')
    const schema = (route.schema ?? {}) as RouteSchema
    const path = openApiPath(route.url)
    for (const method of methods) {
      const responses: Record<string, JsonSchema> = {}
      for (const [code, response] of Object.entries(schema.response ?? { 200: {} })) {
        responses[code] = { description: typeof response.description === 'string' ? response.description : `status ${code}`, content: { 'application/json': { schema: response } } }
      }
      const operation: JsonSchema = {
        summary: schema.summary ?? `${method} ${path}`,
        parameters: [...parameters('path', schema.params), ...parameters('query', schema.querystring)],
        responses
      }
      if (schema.body !== undefined) operation.requestBody = { required: true, content: { 'application/json': { schema: schema.body } } }
      this.paths[path] = { ...this.paths[path], [method.toLowerCase()]: operation }
    }
  }

  toJSON (): JsonSchema {
    return {
      openapi: '3.0.3',
      info: { title: 'meshmq HTTP API', version: BROKER_VERSION },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
      paths: this.paths
    }
  }
}

declare module 'fastify' {
  interface FastifySchema {
    /** The route's summary in the OpenAPI document. */
    summary?: string
  }
}
