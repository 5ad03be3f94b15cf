/**
 * JWT authentication (`auth.jwt`): the CONNECT password is a compact JWS, verified with the HMAC
 * secret (HS*) or the PEM public key or certificate (RS*, PS*, ES*, EdDSA), accepting only the
 * configured algorithms and, when set, issuer and audience. `exp` is honoured exactly (the
 * connection is closed when it passes); `nbf` and `iat` get a small clock tolerance for skew
 * between the issuer's clock and ours. The username is the configured claim; every string claim
 * goes to the client's identity (ACL pattern variables).
 */
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto'
import type { JWTHeaderParameters } from 'jose'

type Jose = typeof import('jose')
let jose: Promise<Jose> | undefined

/**
 * jose is loaded with the first token, not at start: a node that loaded it at start ran the
 * cluster QoS 1 benchmark row about 20% slower (measured A/B; the cause was not found), and most
 * nodes never see a JWT.
 */
async function loadJose (): Promise<Jose> {
  jose ??= import('jose')
  return await jose
}

/** Clock skew tolerated on `nbf` and `iat`, in seconds. */
export const JWT_CLOCK_TOLERANCE_S = 5

/** What `auth.jwt` sets besides its keys. */
export interface JwtSettings {
  algorithms: readonly string[]
  usernameClaim: string
  issuer?: string
  audience?: string
}

/** The keys tokens are verified with: the HMAC secret and / or the public key. */
export interface JwtKeys {
  secret?: Uint8Array
  publicKey?: KeyObject
}

/** A verified token's username and string claims, or why it was refused (a log reason). */
export type JwtOutcome =
  | { ok: true, username: string, claims: Record<string, string>, expiresAt?: number }
  | { ok: false, reason: string }

/** A JWT key file that cannot be used. */
export class JwtKeyError extends Error {
  override name = 'JwtKeyError'
}

/** Key families each asymmetric algorithm needs (`KeyObject.asymmetricKeyType`). */
const KEY_TYPES: Record<string, readonly string[]> = {
  RS: ['rsa'],
  PS: ['rsa', 'rsa-pss'],
  ES: ['ec'],
  Ed: ['ed25519', 'ed448']
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/** Whether a CONNECT password is a compact JWS (three base64url parts), so JWT mode takes it. */
export function isCompactJws (password: Buffer | undefined): boolean {
  return password !== undefined && password.length > 0 && COMPACT_JWS.test(password.toString('latin1'))
}

/** The secret of a `secretFile`: its text without the trailing line break. */
export function parseJwtSecret (text: string): Uint8Array {
  const secret = text.replace(/\r?\n$/, '')
  if (secret.length === 0) throw new JwtKeyError('the secret is empty')
  return Buffer.from(secret, 'utf8')
}

/** The public key of a PEM SPKI public key or X.509 certificate; private keys are refused. */
export function parsePublicKey (pem: string): KeyObject {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) throw new JwtKeyError('holds a private key: give the public key (PEM) or a certificate')
  try {
    return pem.includes('-----BEGIN CERTIFICATE-----') ? new X509Certificate(pem).publicKey : createPublicKey(pem)
  } catch (err) {
    throw new JwtKeyError(`not a PEM public key or certificate: ${(err as Error).message}`)
  }
}

/** Checks that some configured asymmetric algorithm can use `key`; throws a JwtKeyError otherwise. */
export function checkKeyFits (key: KeyObject, algorithms: readonly string[]): void {
  const type = key.asymmetricKeyType ?? 'unknown'
  const usable = algorithms.filter(alg => KEY_TYPES[alg.slice(0, 2)]?.includes(type) === true)
  if (usable.length === 0) throw new JwtKeyError(`an ${type} key, but auth.jwt.algorithms (${algorithms.join(', ')}) has no algorithm for it`)
}

/** No key configured for the token's algorithm (an HS* token without a secret, or the reverse). */
class NoKeyForAlgorithm extends Error {}

function keyFor (keys: JwtKeys, header: JWTHeaderParameters): Uint8Array | KeyObject {
  const key = header.alg.startsWith('HS') ? keys.secret : keys.publicKey
  if (key === undefined) throw new NoKeyForAlgorithm()
  return key
}

/** The log reason of a verification failure. */
function reasonOf (err: unknown, errors: Jose['errors']): string {
  if (err instanceof NoKeyForAlgorithm) return 'jwt_no_key_for_algorithm'
  if (err instanceof errors.JWTExpired) return 'jwt_expired'
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'jwt_invalid_signature'
  if (err instanceof errors.JOSEAlgNotAllowed) return 'jwt_algorithm_not_allowed'
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'iss': return 'jwt_bad_issuer'
      case 'aud': return 'jwt_bad_audience'
      case 'nbf': return 'jwt_not_yet_valid'
      default: return `jwt_bad_claim_${err.claim.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 32)}`
    }
  }
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'jwt_malformed'
  return 'jwt_invalid'
}

/** Verifies a token at `now` (ms since the epoch). */
export async function verifyJwt (token: string, settings: JwtSettings, keys: JwtKeys, now = Date.now()): Promise<JwtOutcome> {
  const { jwtVerify, errors } = await loadJose()
  let payload
  try {
    ({ payload } = await jwtVerify(token, header => keyFor(keys, header), {
      algorithms: [...settings.algorithms],
      clockTolerance: JWT_CLOCK_TOLERANCE_S,
      currentDate: new Date(now),
      ...(settings.issuer !== undefined ? { issuer: settings.issuer } : {}),
      ...(settings.audience !== undefined ? { audience: settings.audience } : {})
    }))
  } catch (err) {
    return { ok: false, reason: reasonOf(err, errors) }
  }
  // The tolerance is for nbf / iat: a token past its exp would be closed at once anyway.
  if (payload.exp !== undefined && payload.exp * 1000 <= now) return { ok: false, reason: 'jwt_expired' }
  const claims: Record<string, string> = {}
  for (const [name, value] of Object.entries(payload)) {
    if (typeof value === 'string') claims[name] = value
  }
  const username = claims[settings.usernameClaim]
  if (username === undefined || username === '') return { ok: false, reason: 'jwt_missing_username_claim' }
  return payload.exp === undefined ? { ok: true, username, claims } : { ok: true, username, claims, expiresAt: payload.exp * 1000 }
}
