/**
 * The password file is reloaded without a restart: when it is rewritten in place or replaced by a
 * rename (as mosquitto_passwd and editors do), by `Broker.reloadAuth()` and by SIGHUP. A broken
 * rewrite keeps the last good file working and is logged.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { pbkdf2Sync, randomBytes } from 'node:crypto'
import { renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CODES, connectWith, startAuthBroker, tempDir } from './helpers/auth-broker.js'
import { freePorts } from './helpers/ports.js'
import { logEvent, startNode } from './helpers/node-process.js'
import { pollUntil, waitUntil } from './helpers/wait.js'
import type { Cleanup } from './helpers/mqtt-client.js'

/** A `$7$` line as mosquitto_passwd writes it (101 iterations). */
function entry (user: string, password: string): string {
  const salt = randomBytes(12)
  return `${user}:$7$101$${salt.toString('base64')}$${pbkdf2Sync(password, salt, 101, 64, 'sha512').toString('base64')}`
}

/** The CONNACK code of a v5 CONNECT with these credentials. */
async function codeFor (t: Cleanup, port: number, username: string, password: string): Promise<number> {
  return (await connectWith(t, port, 5, { username, password: Buffer.from(password) })).code
}

/** Waits (polling) until the credentials get `code`: a reload takes effect within a second. */
async function eventually (t: Cleanup, port: number, username: string, password: string, code: number): Promise<void> {
  await pollUntil(async () => await codeFor(t, port, username, password), value => value === code, 1000, `${username} to get CONNACK 0x${code.toString(16)}`, { intervalMs: 50 })
}

const { accepted, badCredentials } = CODES[5]

describe('password file reload', () => {
  it('a user added and a password changed by rewriting the file work within a second, without restart', async t => {
    const file = join(tempDir(t), 'passwd')
    writeFileSync(file, `${entry('alice', 'one')}\n`)
    const { port } = await startAuthBroker(t, { passwordFile: file, allowAnonymous: false })
    assert.equal(await codeFor(t, port, 'alice', 'one'), accepted)
    assert.equal(await codeFor(t, port, 'bob', 'bob-pass'), badCredentials)

    writeFileSync(file, `${entry('alice', 'two')}\n${entry('bob', 'bob-pass')}\n`)
    await eventually(t, port, 'bob', 'bob-pass', accepted)
    assert.equal(await codeFor(t, port, 'alice', 'two'), accepted)
    assert.equal(await codeFor(t, port, 'alice', 'one'), badCredentials)
  })

  it('a new file renamed over the old one (as mosquitto_passwd does) is read', async t => {
    const dir = tempDir(t)
    const file = join(dir, 'passwd')
    writeFileSync(file, `${entry('alice', 'one')}\n`)
    const { port } = await startAuthBroker(t, { passwordFile: file, allowAnonymous: false })
    writeFileSync(join(dir, 'passwd.tmp'), `${entry('carol', 'carol-pass')}\n`)
    renameSync(join(dir, 'passwd.tmp'), file)
    await eventually(t, port, 'carol', 'carol-pass', accepted)
    assert.equal(await codeFor(t, port, 'alice', 'one'), badCredentials, 'alice is no longer in the file')
    // Renamed over again: the watch follows the name, not the replaced file.
    writeFileSync(join(dir, 'passwd.tmp'), `${entry('dave', 'dave-pass')}\n`)
    renameSync(join(dir, 'passwd.tmp'), file)
    await eventually(t, port, 'dave', 'dave-pass', accepted)
  })

  it('Broker.reloadAuth() reads the file at once', async t => {
    const file = join(tempDir(t), 'passwd')
    writeFileSync(file, `${entry('alice', 'one')}\n`)
    const { broker, port, logs } = await startAuthBroker(t, { passwordFile: file, allowAnonymous: false })
    writeFileSync(file, `${entry('erin', 'erin-pass')}\n`)
    broker.reloadAuth()
    // No wait: the reload happened in the call (the file watch would take its settle time).
    assert.equal(await codeFor(t, port, 'erin', 'erin-pass'), accepted)
    await waitUntil(() => logs().some(line => line.msg === 'watched_file_reloaded' && line.key === 'auth.passwordFile'), 1000, 'watched_file_reloaded')
  })

  it('a broken rewrite keeps the last good file working and logs the line at fault', async t => {
    const file = join(tempDir(t), 'passwd')
    writeFileSync(file, `${entry('alice', 'one')}\n`)
    const { broker, port, logs } = await startAuthBroker(t, { passwordFile: file, allowAnonymous: false })
    writeFileSync(file, `${entry('bob', 'bob-pass')}\nalice:one\n`)
    await waitUntil(() => logs().some(line => line.msg === 'watched_file_reload_failed'), 2000, 'watched_file_reload_failed')
    broker.reloadAuth()
    const failure = logs().find(line => line.msg === 'watched_file_reload_failed')!
    assert.equal(failure.key, 'auth.passwordFile')
    assert.match(String(failure.err), /line 2/)
    assert.equal(await codeFor(t, port, 'alice', 'one'), accepted, 'the last good file still applies')
    assert.equal(await codeFor(t, port, 'bob', 'bob-pass'), badCredentials, 'nothing of the broken file applies')
    // Fixed: read again.
    writeFileSync(file, `${entry('bob', 'bob-pass')}\n`)
    await eventually(t, port, 'bob', 'bob-pass', accepted)
  })

  it('SIGHUP to `meshmq start` reloads the auth files (auth_reload_requested)', async t => {
    const file = join(tempDir(t), 'passwd')
    writeFileSync(file, `${entry('alice', 'one')}\n`)
    const [clusterPort, controlPort] = await freePorts(2)
    const node = await startNode(t, { name: 'authhup@127.0.0.1', clusterPort, controlPort, env: { MESHMQ_AUTH_PASSWORD_FILE: file, MESHMQ_AUTH_ALLOW_ANONYMOUS: 'false', MESHMQ_LISTENER_HOST: '127.0.0.1' } })
    assert.equal(await codeFor(t, node.mqttPort, 'alice', 'one'), accepted)
    writeFileSync(file, `${entry('frank', 'frank-pass')}\n`)
    node.kill('SIGHUP')
    await node.waitForLog(logEvent('auth_reload_requested'), { timeoutMs: 5000, what: 'auth_reload_requested' })
    await eventually(t, node.mqttPort, 'frank', 'frank-pass', accepted)
    assert.equal(await codeFor(t, node.mqttPort, 'alice', 'one'), badCredentials)
  })
})
