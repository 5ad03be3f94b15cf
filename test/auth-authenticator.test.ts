/**
 * The authenticator's decisions, transport by transport (the TLS listener fills the verified
 * certificate; here TransportInfo is built directly): the certificate CN as username
 * (`useIdentityAsUsername`), JWT before the password file, credentials nobody verified refused,
 * anonymous clients by `allowAnonymous`, and the identity each accepted client gets.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { SignJWT } from 'jose'
import { ConfiguredAuthenticator, type AuthSources } from '../src/core/auth/authenticator.js'
import { parsePasswordFile } from '../src/core/auth/password-file.js'
import type { Credentials, TransportInfo } from '../src/core/auth/identity.js'
import { authFixture } from './helpers/auth-broker.js'

const TLS_WITH_CERT: TransportInfo = { listener: 'tls:8883', secure: true, certificate: { commonName: 'sensor-17', subject: 'CN=sensor-17,O=Acme' } }
const TLS_NO_CERT: TransportInfo = { listener: 'tls:8883', secure: true }
const TLS_CERT_NO_CN: TransportInfo = { listener: 'tls:8883', secure: true, certificate: { subject: 'O=Acme' } }
const TCP: TransportInfo = { listener: 'tcp:1883', secure: false }

const passwords = parsePasswordFile(readFileSync(authFixture('passwd'), 'utf8'))
const secret = Buffer.from('unit-test-secret-unit-test-secret')
const jwt: NonNullable<AuthSources['jwt']> = { settings: { algorithms: ['HS256'], usernameClaim: 'sub' }, keys: () => ({ secret }) }

function credentials (transport: TransportInfo, username?: string, password?: string): Credentials {
  const result: Credentials = { clientId: 'c1', protocolVersion: 5, transport }
  if (username !== undefined) result.username = username
  if (password !== undefined) result.password = Buffer.from(password)
  return result
}

function authenticator (sources: Partial<AuthSources>): ConfiguredAuthenticator {
  return new ConfiguredAuthenticator({ allowAnonymous: false, useIdentityAsUsername: false, ...sources })
}

describe('useIdentityAsUsername', () => {
  const auth = authenticator({ useIdentityAsUsername: true, passwords: () => passwords })

  it('a verified certificate\'s CN is the username; no password is checked (as mosquitto use_identity_as_username)', async () => {
    const decision = await auth.authenticate(credentials(TLS_WITH_CERT, 'ignored', 'wrong'))
    assert.deepEqual(decision, { ok: true, identity: { clientId: 'c1', username: 'sensor-17', certificateCommonName: 'sensor-17', verified: true } })
  })

  it('a client on a TLS listener without a verified certificate is not authorized, even with a good password', async () => {
    assert.deepEqual(await auth.authenticate(credentials(TLS_NO_CERT, 'alice', 'alice-pass')), { ok: false, refusal: 'not_authorized', reason: 'no_client_certificate' })
    assert.deepEqual(await auth.authenticate(credentials(TLS_CERT_NO_CN)), { ok: false, refusal: 'not_authorized', reason: 'certificate_without_cn' })
  })

  it('plain TCP listeners keep the password rules', async () => {
    const decision = await auth.authenticate(credentials(TCP, 'alice', 'alice-pass'))
    assert.deepEqual(decision, { ok: true, identity: { clientId: 'c1', username: 'alice', verified: true } })
  })

  it('without useIdentityAsUsername a certificate CN is kept in the identity next to the password user', async () => {
    const decision = await authenticator({ passwords: () => passwords }).authenticate(credentials(TLS_WITH_CERT, 'alice', 'alice-pass'))
    assert.deepEqual(decision, { ok: true, identity: { clientId: 'c1', username: 'alice', certificateCommonName: 'sensor-17', verified: true } })
  })
})

describe('JWT and password file together', () => {
  const auth = authenticator({ passwords: () => passwords, jwt })

  it('a compact JWS password goes to JWT: username from the claim, string claims in the identity, exp as expiresAt', async () => {
    const exp = Math.floor(Date.now() / 1000) + 60
    const token = await new SignJWT({ sub: 'svc-9', tenant: 'acme', level: 3 }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(secret)
    const decision = await auth.authenticate(credentials(TCP, undefined, token))
    assert.deepEqual(decision, { ok: true, identity: { clientId: 'c1', username: 'svc-9', claims: { sub: 'svc-9', tenant: 'acme' }, verified: true }, expiresAt: exp * 1000 })
  })

  it('a token without the username claim is refused', async () => {
    const token = await new SignJWT({ tenant: 'acme' }).setProtectedHeader({ alg: 'HS256' }).sign(secret)
    assert.deepEqual(await auth.authenticate(credentials(TCP, undefined, token)), { ok: false, refusal: 'bad_credentials', reason: 'jwt_missing_username_claim' })
  })

  it('any other password goes to the password file', async () => {
    assert.equal((await auth.authenticate(credentials(TCP, 'carol', 'hunter2'))).ok, true)
    assert.deepEqual(await auth.authenticate(credentials(TCP, 'carol', 'x')), { ok: false, refusal: 'bad_credentials', reason: 'bad_password' })
  })
})

describe('credentials nobody verified, and anonymous clients', () => {
  it('a JWT-only node refuses a username without a password and a password that is not a token', async () => {
    const auth = authenticator({ allowAnonymous: true, jwt })
    assert.deepEqual(await auth.authenticate(credentials(TCP, 'alice')), { ok: false, refusal: 'bad_credentials', reason: 'no_password' })
    assert.deepEqual(await auth.authenticate(credentials(TCP, 'alice', 'secret')), { ok: false, refusal: 'bad_credentials', reason: 'password_not_a_jwt' })
    assert.equal((await auth.authenticate(credentials(TCP))).ok, true, 'no credentials at all: anonymous, allowed here')
  })

  it('a password without a username (MQTT 5) is refused by a password-file node', async () => {
    const auth = authenticator({ allowAnonymous: true, passwords: () => passwords })
    assert.deepEqual(await auth.authenticate(credentials(TCP, undefined, 'alice-pass')), { ok: false, refusal: 'bad_credentials', reason: 'password_without_username' })
  })

  it('anonymous clients: in with allowAnonymous, else not authorized', async () => {
    assert.deepEqual(await authenticator({ allowAnonymous: true }).authenticate(credentials(TCP)), { ok: true, identity: { clientId: 'c1' } })
    assert.deepEqual(await authenticator({}).authenticate(credentials(TCP)), { ok: false, refusal: 'not_authorized', reason: 'anonymous_not_allowed' })
  })

  it('with no method configured a username is not verified: in with allowAnonymous (the default), else not authorized', async () => {
    assert.deepEqual(await authenticator({ allowAnonymous: true }).authenticate(credentials(TCP, 'anyone', 'anything')), { ok: true, identity: { clientId: 'c1', username: 'anyone' } })
    assert.deepEqual(await authenticator({}).authenticate(credentials(TCP, 'anyone', 'anything')), { ok: false, refusal: 'not_authorized', reason: 'anonymous_not_allowed' })
  })

  it('a reloaded password file applies to the next CONNECT (the source is read on each one)', async () => {
    let current = passwords
    const auth = authenticator({ passwords: () => current })
    assert.equal((await auth.authenticate(credentials(TCP, 'zed', 'zed-pass'))).ok, false)
    current = parsePasswordFile('zed:$6$c2FsdA==$' + createHash('sha512').update('zed-pass').update('salt').digest('base64') + '\n')
    assert.equal((await auth.authenticate(credentials(TCP, 'zed', 'zed-pass'))).ok, true)
  })
})
