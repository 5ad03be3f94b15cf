/**
 * Who may use the HTTP API: with a token configured (`http.token`, `http.tokenFile`), every request
 * must carry `Authorization: Bearer <token>` (compared in constant time), else 401. A node bound to
 * an address other than loopback refuses to start without one: anyone who can reach the port could
 * kick clients and publish.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { HttpConfig } from '../core/config/schema.js'
import { ConfigError } from '../core/config/config-error.js'
import { isLoopbackHost } from '../control-commands.js'

/** The HTTP API was asked to bind a non-loopback address without a token (a configuration error: exit 78). */
export class HttpTokenRequiredError extends ConfigError {
  override name = 'HttpTokenRequiredError'
  constructor (readonly host: string) {
    super('http.host', `'${host}' is not a loopback address: set http.token or http.tokenFile (MESHMQ_HTTP_TOKEN_FILE), or bind 127.0.0.1`)
  }
}

/** The configured token (read from `tokenFile`, trailing newline ignored), or undefined. Throws when the address needs one. */
export function httpToken (http: HttpConfig): string | undefined {
  const token = http.tokenFile === undefined ? http.token : readFileSync(http.tokenFile, 'utf8').replace(/\r?\n$/, '')
  if (token === '') throw new ConfigError(http.tokenFile === undefined ? 'http.token' : 'http.tokenFile', 'is empty')
  if (token === undefined && !isLoopbackHost(http.host)) throw new HttpTokenRequiredError(http.host)
  return token
}

function digest (text: string): Buffer { return createHash('sha256').update(text).digest() }

/** Why a request with this `Authorization` header is refused, or undefined when it may go on. */
export function authRefusal (header: string | undefined, token: string | undefined): string | undefined {
  if (token === undefined) return undefined
  const match = /^Bearer (.+)$/i.exec(header ?? '')
  if (match?.[1] === undefined) return 'this API requires Authorization: Bearer <token> (http.token)'
  return timingSafeEqual(digest(match[1]), digest(token)) ? undefined : 'wrong token'
}
