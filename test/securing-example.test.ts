/**
 * README's "Securing a node" example, run as written: its JSON config (with this test's
 * certificates, password file, the README's ACL file and a secret file put in place of the
 * /etc/meshmq paths, ports chosen by the OS and no seeds) starts a real `meshmq start --config`
 * process, which then refuses anonymous and wrong clients, serves the password-file user over TLS
 * and secure WebSocket within the ACL, requires client certificates on the mutual-TLS listener,
 * and answers `meshmq ctl` on its locked endpoint without the default-secret warning.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ErrorWithReasonCode } from 'mqtt'
import { hashPassword, withUser } from '../src/core/auth/password-entry.js'
import { createTestCertificates, type TestCertificates } from './helpers/test-certificates.js'
import { ClientConnectError, connectClient, Inbox } from './helpers/mqtt-client.js'
import { logEvent, startNode, type NodeProcess } from './helpers/node-process.js'

const README = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8')
const PASSWORD = 'alice-secure-pass'
const NOT_AUTHORIZED = 0x87
const BAD_CREDENTIALS = 0x86

/** The first fenced block of `language` after `heading` in README. */
function readmeBlock (heading: string, language: string): string {
  const start = README.indexOf(`\n${heading}\n`)
  assert.ok(start >= 0, `README has ${heading}`)
  const match = new RegExp('```' + language + '\\n([\\s\\S]*?)\\n```').exec(README.slice(start))
  assert.ok(match !== null, `a ${language || 'plain'} block under ${heading}`)
  return match[1]!
}

interface ExampleConfig {
  node: Record<string, unknown>
  listener: { host: string, port: number }
  listeners: Array<Record<string, unknown>>
  auth: Record<string, unknown>
  cluster: Record<string, unknown>
}

/** The port a listener of the running node bound, from its `listener_started` line. */
function listenerPort (node: NodeProcess, type: string, index: number): number {
  const ports = node.logs.filter(line => line.msg === 'listener_started' && line.type === type).map(line => line.port as number)
  assert.ok(ports[index] !== undefined, `listener ${type} #${index} started`)
  return ports[index]
}

/** The CONNACK reason code MQTT.js refused a connect with. */
async function refusalCode (connecting: Promise<unknown>): Promise<number | undefined> {
  const err = await connecting.then(() => undefined, (caught: unknown) => caught)
  assert.ok(err instanceof ClientConnectError, `the connect is refused, got ${String(err)}`)
  return (err.cause as ErrorWithReasonCode | undefined)?.code
}

describe('README: Securing a node', () => {
  let certs: TestCertificates
  let dir: string
  let node: NodeProcess
  let tlsPort: number
  let mutualTlsPort: number
  let wssPort: number
  /** The node lives for the whole suite: stopped in the suite's `after`, not the hook's. */
  const cleanups: Array<() => unknown> = []
  const suiteCleanup = { after: (fn: () => unknown) => { cleanups.push(fn) } }

  before(async () => {
    certs = await createTestCertificates()
    dir = mkdtempSync(join(tmpdir(), 'meshmq-securing-'))
    const config = JSON.parse(readmeBlock('## Securing a node', 'json')) as ExampleConfig
    const files: Record<string, string> = {
      '/etc/meshmq/server.crt': certs.server.certFile,
      '/etc/meshmq/server.key': certs.server.keyFile,
      '/etc/meshmq/devices-ca.crt': certs.ca.certFile,
      '/etc/meshmq/passwd': join(dir, 'passwd'),
      '/etc/meshmq/acl': join(dir, 'acl'),
      '/etc/meshmq/cluster.secret': join(dir, 'cluster.secret')
    }
    const local = (file: unknown): string => {
      assert.ok(typeof file === 'string' && files[file] !== undefined, `the test has a file for ${String(file)}`)
      return files[file]
    }
    config.listeners = config.listeners.map(listener => ({
      ...listener,
      host: '127.0.0.1',
      port: 0,
      ...Object.fromEntries(['certFile', 'keyFile', 'caFile'].filter(key => key in listener).map(key => [key, local(listener[key])]))
    }))
    config.auth = { ...config.auth, passwordFile: local(config.auth.passwordFile), aclFile: local(config.auth.aclFile) }
    // No seeds: nothing leaves loopback (the README's addresses are examples).
    config.cluster = { ...config.cluster, discovery: 'manual', secretFile: local(config.cluster.secretFile) }
    delete config.cluster.seeds
    writeFileSync(files['/etc/meshmq/passwd']!, withUser('', 'alice', await hashPassword(PASSWORD)))
    writeFileSync(files['/etc/meshmq/acl']!, readmeBlock('### Authorization (ACL file)', ''))
    writeFileSync(files['/etc/meshmq/cluster.secret']!, randomBytes(32).toString('hex') + '\n', { mode: 0o600 })
    // The node's name and data directory are the test's (startNode passes them as flags).
    writeFileSync(join(dir, 'meshmq.json'), JSON.stringify({ ...config, node: {} }))
    node = await startNode(suiteCleanup, { name: 'secure1@127.0.0.1', clusterPort: 0, args: ['--config', join(dir, 'meshmq.json')] })
    tlsPort = listenerPort(node, 'tls', 0)
    mutualTlsPort = listenerPort(node, 'tls', 1)
    wssPort = listenerPort(node, 'wss', 0)
  })

  after(async () => {
    for (const fn of cleanups.reverse()) await fn()
    certs.remove()
    rmSync(dir, { recursive: true, force: true })
  })

  const tls = (port: number): { protocol: 'mqtts', ca: Buffer, port: number } => ({ protocol: 'mqtts', ca: certs.ca.cert, port })

  it('refuses anonymous clients and wrong passwords, on plain TCP and TLS alike [MQTT-3.2.2-5]', async t => {
    assert.equal(await refusalCode(connectClient(t, node.mqttPort, { protocolVersion: 5 })), NOT_AUTHORIZED)
    assert.equal(await refusalCode(connectClient(t, tlsPort, { ...tls(tlsPort), protocolVersion: 5 })), NOT_AUTHORIZED)
    assert.equal(await refusalCode(connectClient(t, tlsPort, { ...tls(tlsPort), protocolVersion: 5, username: 'alice', password: 'wrong' })), BAD_CREDENTIALS)
  })

  it('serves alice over TLS and secure WebSocket within the ACL: her topics flow, a foreign one is refused (PUBACK 0x87)', async t => {
    const credentials = { username: 'alice', password: PASSWORD, protocolVersion: 5 as const }
    const subscriber = await connectClient(t, wssPort, { ...credentials, protocol: 'wss', ca: certs.ca.cert, path: '/mqtt', clientId: 'alice-wss' })
    const inbox = new Inbox(subscriber)
    await subscriber.subscribeAsync('alice/#', { qos: 1 })
    const publisher = await connectClient(t, tlsPort, { ...credentials, ...tls(tlsPort), clientId: 'alice-tls' })
    await publisher.publishAsync('alice/kitchen', 'hello', { qos: 1 })
    assert.equal((await inbox.waitForTopic('alice/kitchen')).payload.toString(), 'hello')
    const refused = await publisher.publishAsync('bob/kitchen', 'x', { qos: 1 }).then(() => undefined, (err: unknown) => err)
    assert.equal((refused as ErrorWithReasonCode | undefined)?.code, NOT_AUTHORIZED)
    // MQTT.js turns a SUBACK 0x87 into an error.
    await assert.rejects(subscriber.subscribeAsync('alice/secret/#', { qos: 1 }), /Not authorized/, 'the deny rule refuses the filter')
  })

  it('the mutual-TLS listener refuses a client without a certificate and serves one with a CA-signed certificate', async t => {
    await assert.rejects(connectClient(t, mutualTlsPort, { ...tls(mutualTlsPort), username: 'alice', password: PASSWORD }), ClientConnectError)
    const device = await certs.client('device-7')
    const client = await connectClient(t, mutualTlsPort, { ...tls(mutualTlsPort), cert: device.cert, key: device.key, username: 'alice', password: PASSWORD, clientId: 'device-7' })
    assert.ok(client.connected)
  })

  it('answers meshmq ctl on its locked endpoint, with the private secret (no default-secret warning)', async () => {
    const status = await node.ctl('cluster', 'status')
    assert.equal(status.code, 0, status.stderr)
    assert.match(status.stdout, /secure1@127\.0\.0\.1/)
    assert.doesNotMatch(status.stdout, /default secret/i)
    assert.equal(node.logs.some(line => line.msg === 'cluster_default_secret'), false)
    assert.ok(node.logs.some(logEvent('broker_started')))
  })
})
