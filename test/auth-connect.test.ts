/**
 * Authentication over real sockets, MQTT 3.1.1 and 5: a password file made by mosquitto_passwd,
 * anonymous clients by `auth.allowAnonymous`, the refusal CONNACK codes [MQTT-3.2.2-5]
 * (bad credentials 0x86 / 0x04, not authorized 0x87 / 0x05), the refusal counted and logged, and a
 * password file that cannot be used at start stops the node with a config error.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startBroker } from '../src/broker.js'
import { ConfigError } from '../src/core/config/config.js'
import { connectClient } from './helpers/mqtt-client.js'
import { authFixture, authTestConfig, CODES, connectWith, startAuthBroker, tempDir } from './helpers/auth-broker.js'
import { waitUntil } from './helpers/wait.js'

const PASSWD = authFixture('passwd')

for (const version of [4, 5] as const) {
  const codes = CODES[version]
  describe(`password file, MQTT ${version === 5 ? '5' : '3.1.1'}`, () => {
    it('§3.1.3.5 the right password ($7$ and $6$ hashes) is accepted: CONNACK 0', async t => {
      const { port } = await startAuthBroker(t, { passwordFile: PASSWD, allowAnonymous: false })
      for (const [username, password] of [['alice', 'alice-pass'], ['bob', 'pa:ss wörd'], ['carol', 'hunter2']] as const) {
        const { code } = await connectWith(t, port, version, { username, password: Buffer.from(password) })
        assert.equal(code, codes.accepted, username)
      }
    })

    it(`[MQTT-3.2.2-5, MQTT-3.2.2-7] a wrong password and an unknown user get CONNACK 0x${codes.badCredentials.toString(16)} and the connection closes`, async t => {
      const { port, logs } = await startAuthBroker(t, { passwordFile: PASSWD, allowAnonymous: false })
      const wrong = await connectWith(t, port, version, { username: 'alice', password: Buffer.from('nope') })
      assert.equal(wrong.code, codes.badCredentials)
      await wrong.client.closed()
      const unknown = await connectWith(t, port, version, { username: 'mallory', password: Buffer.from('alice-pass') })
      assert.equal(unknown.code, codes.badCredentials)
      await unknown.client.closed()
      const noPassword = await connectWith(t, port, version, { username: 'alice' })
      assert.equal(noPassword.code, codes.badCredentials)
      await waitUntil(() => logs().filter(line => line.msg === 'connect_refused').length === 3, 2000, 'three connect_refused lines')
      const reasons = logs().filter(line => line.msg === 'connect_refused').map(line => line.reason)
      assert.deepEqual(reasons, ['bad_password', 'unknown_user', 'no_password'])
    })

    it(`[MQTT-3.2.2-5] anonymous with allowAnonymous false: CONNACK 0x${codes.notAuthorized.toString(16)}`, async t => {
      const { port, logs } = await startAuthBroker(t, { passwordFile: PASSWD, allowAnonymous: false })
      const { code, client } = await connectWith(t, port, version, {})
      assert.equal(code, codes.notAuthorized)
      await client.closed()
      await waitUntil(() => logs().some(line => line.msg === 'connect_refused' && line.reason === 'anonymous_not_allowed'), 2000, 'the refusal logged')
    })

    it('anonymous with allowAnonymous true is accepted, while a password-file user still needs the right password', async t => {
      const { port } = await startAuthBroker(t, { passwordFile: PASSWD, allowAnonymous: true })
      assert.equal((await connectWith(t, port, version, {})).code, codes.accepted)
      assert.equal((await connectWith(t, port, version, { username: 'alice', password: Buffer.from('x') })).code, codes.badCredentials)
    })
  })
}

describe('MQTT.js client with a password file', () => {
  it('connects with its username and password and can publish to itself', async t => {
    const { port } = await startAuthBroker(t, { passwordFile: PASSWD, allowAnonymous: false })
    const client = await connectClient(t, port, { protocolVersion: 5, username: 'carol', password: 'hunter2' })
    await client.subscribeAsync('auth/echo', { qos: 1 })
    const received = new Promise<string>(resolve => client.once('message', (_topic, payload) => resolve(payload.toString())))
    await client.publishAsync('auth/echo', 'hi', { qos: 1 })
    assert.equal(await received, 'hi')
  })

  it('is refused with a wrong password (MQTT.js reports Bad User Name or Password)', async t => {
    const { port } = await startAuthBroker(t, { passwordFile: PASSWD, allowAnonymous: false })
    await assert.rejects(connectClient(t, port, { protocolVersion: 5, username: 'carol', password: 'hunter3' }), /Bad User Name or Password/i)
  })
})

describe('refusals are counted and throttled', () => {
  it('$SYS clients/auth_failed counts refusals; a burst of bad passwords logs one line with the count', async t => {
    const { port, logs } = await startAuthBroker(t, { passwordFile: PASSWD, allowAnonymous: false }, { intervalMs: 100 })
    for (let i = 0; i < 5; i++) await connectWith(t, port, 4, { username: 'alice', password: Buffer.from(`guess${i}`) })
    const watcher = await connectClient(t, port, { username: 'alice', password: 'alice-pass' })
    let failed = -1
    watcher.on('message', (topic, payload) => { if (topic.endsWith('/clients/auth_failed')) failed = Number(payload.toString()) })
    await watcher.subscribeAsync('$SYS/brokers/+/clients/auth_failed')
    // The counter is process-wide (other brokers of this test file refused clients too).
    await waitUntil(() => failed >= 5, 3000, '$SYS clients/auth_failed to count the refusals')
    await waitUntil(() => logs().filter(line => line.msg === 'connect_refused').reduce((sum, line) => sum + Number(line.count), 0) === 5, 3000, 'all five refusals in the log')
    const lines = logs().filter(line => line.msg === 'connect_refused')
    assert.ok(lines.length < 5, `${lines.length} lines for 5 refusals within a second`)
    assert.equal(lines[0]!.reason, 'bad_password')
  })
})

describe('a password file that cannot be used at start', () => {
  it('a malformed line: startBroker fails with a ConfigError naming the file and the line', async t => {
    const dir = tempDir(t)
    const file = join(dir, 'passwd')
    writeFileSync(file, '# users\nalice:plain-text\n')
    await assert.rejects(startBroker(authTestConfig(join(dir, 'data'), { passwordFile: file })), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err))
      assert.equal(err.key, 'auth.passwordFile')
      assert.ok(err.message.includes(file) && err.message.includes('line 2'), err.message)
      return true
    })
  })

  it('a missing file: `meshmq start` exits 78 (configuration error) with a message naming the key', t => {
    const dir = tempDir(t)
    const main = fileURLToPath(new URL('../src/main.js', import.meta.url))
    const result = spawnSync(process.execPath, [main, 'start'], {
      env: {
        ...process.env,
        MESHMQ_AUTH_PASSWORD_FILE: join(dir, 'missing'),
        MESHMQ_CLUSTER_DISCOVERY: 'manual',
        MESHMQ_NODE_NAME: 'authstart@127.0.0.1',
        MESHMQ_NODE_DATA_DIR: join(dir, 'data'),
        MESHMQ_LISTENER_HOST: '127.0.0.1',
        MESHMQ_LISTENER_PORT: '0',
        MESHMQ_CLUSTER_PORT: '0',
        MESHMQ_LOG_LEVEL: 'silent'
      },
      encoding: 'utf8',
      timeout: 20_000
    })
    assert.equal(result.status, 78, result.stderr)
    assert.match(result.stderr, /auth\.passwordFile: cannot read '.*missing'/)
  })
})
