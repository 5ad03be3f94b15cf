/**
 * JWT authentication over real sockets: the CONNECT password is a token signed with the HMAC
 * secret (HS256) or a key whose public half (PEM) or certificate the broker holds (RS256, ES256);
 * bad signatures, expired tokens, other algorithms, issuers and audiences are refused as bad
 * credentials [MQTT-3.2.2-5], and a connection is closed when its token expires, idle or not
 * (v5: DISCONNECT 0x87 Not authorized first, as EMQX does).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync, createPrivateKey, type KeyObject } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import { startBroker } from '../src/broker.js'
import { ConfigError } from '../src/core/config/config.js'
import { authFixture, authTestConfig, CODES, connectWith, startAuthBroker, tempDir } from './helpers/auth-broker.js'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import { waitUntil } from './helpers/wait.js'

const SECRET = 'meshmq-test-secret-of-at-least-32-bytes'

interface TokenOptions {
  alg?: string
  /** Seconds since the epoch; none: the token does not expire. */
  exp?: number
  claims?: Record<string, unknown>
}

async function token (key: KeyObject | Uint8Array, options: TokenOptions = {}): Promise<string> {
  const jwt = new SignJWT({ sub: 'alice', tenant: 'acme', ...options.claims }).setProtectedHeader({ alg: options.alg ?? 'HS256' }).setIssuedAt()
  if (options.exp !== undefined) jwt.setExpirationTime(options.exp)
  return await jwt.sign(key)
}

const secretKey = Buffer.from(SECRET)
const nowS = (): number => Math.floor(Date.now() / 1000)

for (const version of [4, 5] as const) {
  const codes = CODES[version]
  describe(`JWT (HS256), MQTT ${version === 5 ? '5' : '3.1.1'}`, () => {
    it('a valid token as the password is accepted, with no username or the token\'s own', async t => {
      const { port } = await startAuthBroker(t, { allowAnonymous: false, jwt: { secret: SECRET } })
      const password = Buffer.from(await token(secretKey, { exp: nowS() + 600 }))
      assert.equal((await connectWith(t, port, version, { username: 'alice', password })).code, codes.accepted)
      // An empty username (MQTT.js and mqtt-packet send no password without a username) [MQTT-3.1.2-22].
      assert.equal((await connectWith(t, port, version, { username: '', password })).code, codes.accepted)
    })

    it(`[MQTT-3.2.2-5] a bad signature, an expired token, another username and a non-JWT password get 0x${codes.badCredentials.toString(16)}`, async t => {
      const { port, logs } = await startAuthBroker(t, { allowAnonymous: false, jwt: { secret: SECRET } })
      const cases: Array<[string, string, string]> = [
        ['alice', await token(Buffer.from('another secret of the same kind....')), 'jwt_invalid_signature'],
        ['alice', await token(secretKey, { exp: nowS() - 1 }), 'jwt_expired'],
        ['bob', await token(secretKey), 'jwt_username_mismatch'],
        ['alice', 'not-a-token', 'password_not_a_jwt'],
        ['alice', await token(secretKey, { alg: 'HS384' }), 'jwt_algorithm_not_allowed']
      ]
      for (const [username, password] of cases) {
        const { code } = await connectWith(t, port, version, { username, password: Buffer.from(password) })
        assert.equal(code, codes.badCredentials, password)
      }
      await waitUntil(() => logs().filter(line => line.msg === 'connect_refused').length === cases.length, 2000, 'every refusal logged')
      assert.deepEqual(logs().filter(line => line.msg === 'connect_refused').map(line => line.reason), cases.map(([, , reason]) => reason))
    })

    it(`a connection whose token expires is closed then, even idle${version === 5 ? ' (DISCONNECT 0x87 first)' : ''}, and logged auth_expired`, async t => {
      const { port, logs } = await startAuthBroker(t, { allowAnonymous: false, jwt: { secret: SECRET } })
      const exp = nowS() + 3
      const { code, client } = await connectWith(t, port, version, { username: 'alice', password: Buffer.from(await token(secretKey, { exp })) })
      assert.equal(code, codes.accepted)
      if (version === 5) {
        const disconnect = await client.expect('disconnect', 5000)
        assert.equal(disconnect.reasonCode, 0x87)
      }
      await client.closed(5000)
      const closedAt = Date.now()
      assert.ok(closedAt >= exp * 1000, `closed ${exp * 1000 - closedAt} ms before exp`)
      assert.ok(closedAt < exp * 1000 + 1500, `closed ${closedAt - exp * 1000} ms after exp`)
      await waitUntil(() => logs().some(line => line.msg === 'auth_expired'), 1000, 'auth_expired logged')
    })
  })
}

describe('JWT: expiry and will', () => {
  it('the will of a client closed at its token\'s expiry is published (not a normal disconnect)', async t => {
    const { port } = await startAuthBroker(t, { allowAnonymous: false, jwt: { secret: SECRET } })
    const watcher = await connectClient(t, port, { protocolVersion: 5, username: 'watcher', password: await token(secretKey, { claims: { sub: 'watcher' } }) })
    const inbox = new Inbox(watcher)
    await watcher.subscribeAsync('auth/will', { qos: 1 })
    await connectWith(t, port, 5, {
      username: 'alice',
      password: Buffer.from(await token(secretKey, { exp: nowS() + 2 })),
      will: { topic: 'auth/will', payload: Buffer.from('gone'), qos: 1, retain: false }
    })
    const [message] = await inbox.waitForCount(1, 5000)
    assert.equal(message!.payload.toString(), 'gone')
  })
})

describe('JWT with public keys', () => {
  it('RS256 with a PEM public key file', async t => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const file = join(tempDir(t), 'rsa.pem')
    writeFileSync(file, publicKey.export({ type: 'spki', format: 'pem' }))
    const { port } = await startAuthBroker(t, { allowAnonymous: false, jwt: { publicKeyFile: file, algorithms: ['RS256'] } })
    assert.equal((await connectWith(t, port, 5, { username: '', password: Buffer.from(await token(privateKey, { alg: 'RS256' })) })).code, 0)
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    assert.equal((await connectWith(t, port, 5, { username: '', password: Buffer.from(await token(other, { alg: 'RS256' })) })).code, 0x86)
    assert.equal((await connectWith(t, port, 5, { username: '', password: Buffer.from(await token(secretKey)) })).code, 0x86, 'an HS256 token is not accepted')
  })

  it('ES256 with an X.509 certificate, with issuer and audience required', async t => {
    const privateKey = createPrivateKey(readFileSync(authFixture('jwt-es256-key.pem')))
    const { port, logs } = await startAuthBroker(t, { allowAnonymous: false, jwt: { publicKeyFile: authFixture('jwt-es256-cert.pem'), issuer: 'https://issuer.test', audience: 'meshmq' } })
    const good = await token(privateKey, { alg: 'ES256', claims: { iss: 'https://issuer.test', aud: 'meshmq' } })
    assert.equal((await connectWith(t, port, 4, { username: 'alice', password: Buffer.from(good) })).code, 0)
    const otherIssuer = await token(privateKey, { alg: 'ES256', claims: { iss: 'https://evil.test', aud: 'meshmq' } })
    assert.equal((await connectWith(t, port, 4, { username: 'alice', password: Buffer.from(otherIssuer) })).code, 4)
    const otherAudience = await token(privateKey, { alg: 'ES256', claims: { iss: 'https://issuer.test', aud: 'other' } })
    assert.equal((await connectWith(t, port, 4, { username: 'alice', password: Buffer.from(otherAudience) })).code, 4)
    await waitUntil(() => logs().filter(line => line.msg === 'connect_refused').length === 2, 2000, 'two refusals logged')
    assert.deepEqual(logs().filter(line => line.msg === 'connect_refused').map(line => line.reason), ['jwt_bad_issuer', 'jwt_bad_audience'])
  })

  it('both auth.jwt.secret and auth.jwt.secretFile stop the start', async t => {
    const dir = tempDir(t)
    writeFileSync(join(dir, 'secret'), 'file secret\n')
    await assert.rejects(startBroker(authTestConfig(join(dir, 'data'), { jwt: { secret: SECRET, secretFile: join(dir, 'secret') } })), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err))
      assert.equal(err.key, 'auth.jwt.secretFile')
      return true
    })
  })

  it('a private key given as publicKeyFile, or a key no configured algorithm fits, stops the start', async t => {
    const dir = tempDir(t)
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    writeFileSync(join(dir, 'private.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }))
    writeFileSync(join(dir, 'ec.pem'), publicKey.export({ type: 'spki', format: 'pem' }))
    const attempts: Array<[string, string[], RegExp]> = [
      ['private.pem', ['ES256'], /private key/],
      ['ec.pem', ['RS256'], /no algorithm for it/]
    ]
    for (const [name, algorithms, message] of attempts) {
      await assert.rejects(startBroker(authTestConfig(join(dir, 'data'), { jwt: { publicKeyFile: join(dir, name), algorithms } })), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err))
        assert.equal(err.key, 'auth.jwt.publicKeyFile')
        assert.match(err.message, message)
        return true
      })
    }
  })
})

describe('JWT secret file', () => {
  it('is reloaded by Broker.reloadAuth(): tokens of the new secret pass, those of the old one no longer', async t => {
    const file = join(tempDir(t), 'secret')
    writeFileSync(file, 'first secret of the node, long enough\n')
    const { broker, port } = await startAuthBroker(t, { allowAnonymous: false, jwt: { secretFile: file } })
    const first = await token(Buffer.from('first secret of the node, long enough'))
    assert.equal((await connectWith(t, port, 5, { username: '', password: Buffer.from(first) })).code, 0, 'the trailing newline is not part of the secret')
    writeFileSync(file, 'second secret of the node, long enough\n')
    broker.reloadAuth()
    assert.equal((await connectWith(t, port, 5, { username: '', password: Buffer.from(first) })).code, 0x86)
    const second = await token(Buffer.from('second secret of the node, long enough'))
    assert.equal((await connectWith(t, port, 5, { username: '', password: Buffer.from(second) })).code, 0)
  })
})
