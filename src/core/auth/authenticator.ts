/**
 * Who may connect, from the `auth.*` settings (the decision only: the files are read by the wiring,
 * which hands their current contents in). In order:
 *
 * 1. `useIdentityAsUsername` on a TLS listener: the verified client certificate's CN is the
 *    username and no password is checked (mosquitto `use_identity_as_username`); a client without
 *    a verified certificate, or whose certificate has no CN, is not authorized.
 * 2. JWT configured and the password is a compact JWS: the token decides (its username claim is
 *    the username; a CONNECT username that differs is refused as bad credentials).
 * 3. A password file and a username: the file decides (unknown user or wrong password: bad
 *    credentials).
 * 4. With a password file or JWT configured, credentials none of them checked (a username without
 *    a password, a password that is not a JWT) are bad credentials: a name nobody verified never
 *    becomes the client's identity.
 * 5. Otherwise the client is anonymous: let in, with the username it sent, iff `allowAnonymous`.
 *
 * Refusal reasons are the `reason` of the listener's `connect_refused` log line.
 */
import { identityOf, type AuthDecision, type Authenticator, type ClientIdentity, type Credentials } from './identity.js'
import type { PasswordFile } from './password-file.js'
import { isCompactJws, verifyJwt, type JwtKeys, type JwtSettings } from './jwt.js'

/** The settings and the current contents of the files (getters: a reload swaps them). */
export interface AuthSources {
  allowAnonymous: boolean
  useIdentityAsUsername: boolean
  /** The password file's users; absent when `auth.passwordFile` is not set. */
  passwords?: () => PasswordFile
  /** JWT mode; absent when `auth.jwt` is not set. */
  jwt?: { settings: JwtSettings, keys: () => JwtKeys }
}

function refuse (refusal: 'bad_credentials' | 'not_authorized', reason: string): AuthDecision {
  return { ok: false, refusal, reason }
}

function withCertificate (identity: ClientIdentity, credentials: Credentials): ClientIdentity {
  const cn = credentials.transport.certificate?.commonName
  if (cn !== undefined) identity.certificateCommonName = cn
  return identity
}

export class ConfiguredAuthenticator implements Authenticator {
  constructor (private readonly sources: AuthSources) {}

  async authenticate (credentials: Credentials): Promise<AuthDecision> {
    const { sources } = this
    if (sources.useIdentityAsUsername && credentials.transport.secure) return this.byCertificate(credentials)
    if (sources.jwt !== undefined && isCompactJws(credentials.password)) return await this.byJwt(credentials, sources.jwt)
    if (sources.passwords !== undefined && credentials.username !== undefined) return await this.byPassword(credentials, sources.passwords())
    if (sources.passwords !== undefined || sources.jwt !== undefined) {
      if (credentials.password !== undefined) return refuse('bad_credentials', sources.jwt !== undefined ? 'password_not_a_jwt' : 'password_without_username')
      if (credentials.username !== undefined) return refuse('bad_credentials', 'no_password')
    }
    if (!sources.allowAnonymous) return refuse('not_authorized', 'anonymous_not_allowed')
    return identityOf(credentials)
  }

  private byCertificate (credentials: Credentials): AuthDecision {
    const certificate = credentials.transport.certificate
    if (certificate === undefined) return refuse('not_authorized', 'no_client_certificate')
    if (certificate.commonName === undefined || certificate.commonName === '') return refuse('not_authorized', 'certificate_without_cn')
    const { commonName } = certificate
    return { ok: true, identity: { clientId: credentials.clientId, username: commonName, certificateCommonName: commonName, verified: true } }
  }

  private async byJwt (credentials: Credentials, jwt: NonNullable<AuthSources['jwt']>): Promise<AuthDecision> {
    const outcome = await verifyJwt(credentials.password!.toString('latin1'), jwt.settings, jwt.keys())
    if (!outcome.ok) return refuse('bad_credentials', outcome.reason)
    if (credentials.username !== undefined && credentials.username !== '' && credentials.username !== outcome.username) {
      return refuse('bad_credentials', 'jwt_username_mismatch')
    }
    const identity = withCertificate({ clientId: credentials.clientId, username: outcome.username, claims: outcome.claims, verified: true }, credentials)
    return outcome.expiresAt === undefined ? { ok: true, identity } : { ok: true, identity, expiresAt: outcome.expiresAt }
  }

  private async byPassword (credentials: Credentials, passwords: PasswordFile): Promise<AuthDecision> {
    if (credentials.password === undefined) return refuse('bad_credentials', 'no_password')
    const check = await passwords.check(credentials.username!, credentials.password)
    if (check !== 'ok') return refuse('bad_credentials', check)
    const decision = identityOf(credentials)
    if (decision.ok) decision.identity.verified = true
    return decision
  }
}
