/**
 * The web dashboard's static files (`npm run build` bundles web/ into dist/web/): the page at `/`,
 * its scripts and styles under `/assets/<name>`. They hold no data, so they are served without the
 * API token (the page asks for it and sends it with each API call). The files are read once, when
 * the HTTP app is made, into a map by name: only those names are served (no path reaches the disk,
 * so none can leave the folder); any other is a 404. Names carry a content hash, so an asset may be
 * cached for good; the page itself is revalidated each time. Each file is gzipped once at load and
 * sent so to a browser that accepts it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { constants, gzipSync } from 'node:zlib'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { NotFoundError } from '../admin/errors.js'

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon'
}

/** What the page may load and connect to: its own origin, and MQTT over WebSocket on any port. */
const PAGE_POLICY = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

interface StaticFile { body: Buffer, gzipped: Buffer, type: string }

/** The built dashboard folder: `dist/web` beside the compiled `dist/src`, or under the project root when run from sources. */
export function dashboardDir (): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url))
  const candidates = [join(here, '..', '..', 'web'), join(here, '..', '..', 'dist', 'web')]
  return candidates.find(dir => existsSync(join(dir, 'index.html')))
}

/** Every file of `dir` (not its subfolders) by name. */
export function readStaticFiles (dir: string | undefined): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>()
  if (dir === undefined) return files
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    const type = CONTENT_TYPES[extname(name)]
    if (type === undefined || !statSync(path).isFile()) continue
    const body = readFileSync(path)
    files.set(name, { body, gzipped: gzipSync(body, { level: constants.Z_BEST_COMPRESSION }), type })
  }
  return files
}

export function registerStaticRoutes (app: FastifyInstance, files: Map<string, StaticFile> = readStaticFiles(dashboardDir())): void {
  const send = async (request: FastifyRequest, reply: FastifyReply, file: StaticFile, cache: string): Promise<FastifyReply> => {
    const gzip = /\bgzip\b/.test(request.headers['accept-encoding'] ?? '')
    if (gzip) reply.header('content-encoding', 'gzip')
    return await reply.type(file.type).header('cache-control', cache).header('vary', 'accept-encoding').header('x-content-type-options', 'nosniff')
      .send(gzip ? file.gzipped : file.body)
  }

  app.get('/', { config: { public: true }, schema: { summary: 'The web dashboard (HTML; public: it asks for the API token)' } }, async (request, reply) => {
    const page = files.get('index.html')
    if (page === undefined) throw new NotFoundError('the dashboard is not built: run `npm run build`')
    reply.header('content-security-policy', PAGE_POLICY).header('referrer-policy', 'no-referrer')
    return await send(request, reply, page, 'no-cache')
  })

  app.get<{ Params: { file: string } }>('/assets/:file', {
    config: { public: true },
    schema: { summary: "The dashboard's scripts and styles (content-hashed names; public)", params: { type: 'object', properties: { file: { type: 'string' } }, required: ['file'] } }
  }, async (request, reply) => {
    const file = request.params.file === 'index.html' ? undefined : files.get(request.params.file)
    if (file === undefined) throw new NotFoundError(`no dashboard file ${request.params.file}`)
    return await send(request, reply, file, 'public, max-age=31536000, immutable')
  })
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without the API token (the dashboard's static files). */
    public?: boolean
  }
}
