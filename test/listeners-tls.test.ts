/**
 * The `tls` listener over real sockets: MQTT.js over TLS (v3.1.1 and v5), messages across
 * listener types, client certificates (required, optional, from another CA) and the verified CN
 * the authenticator sees, failed handshakes that disturb no one, `Broker.listeners`, and renewed
 * certificate files taken by a reload.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import tls from 'node:tls'
import { X509Certificate } from 'node:crypto'
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestBroker, type Broker } from './helpers/broker.js'
import { connectClient, ClientConnectError, Inbox } from './helpers/mqtt-client.js'
import { createTestCertificates, type TestCertificates } from './helpers/test-certificates.js'
import { RecordingAuthenticator } from './helpers/recording-authenticator.js'
import { uniqueName, withTimeout } from './helpers/wait.js'
import { LogRecorder } from './helpers/log-recorder.js'
import type { ListenerType } from '../src/core/config/schema.js'

let certs: TestCertificates
before(async () => { certs = await createTestCertificates() })
after(() => { certs.remove() })

/** The port the broker's listener of this type bound. */
function portOf (broker: Broker, type: ListenerType): number {
  const listener = broker.node.address.listeners.find(candidate => candidate.type === type)
  assert.ok(listener, `a ${type} listener`)
  return listener.port
}

function tlsListener (extra: { caFile?: string, requireClientCert?: boolean } = {}): { type: 'tls', host: string, port: number, certFile: string, keyFile: string, caFile?: string, requireClientCert?: boolean } {
  return { type: 'tls', host: '127.0.0.1', port: 0, certFile: certs.server.certFile, keyFile: certs.server.keyFile, ...extra }
}

describe('tls listener', () => {
  it('MQTT.js connects over TLS with the CA, as v3.1.1 and as v5, and publishes to itself', async t => {
    const broker = await startTestBroker(t, { listeners: [tlsListener()] })
    const port = portOf(broker, 'tls')
    for (const protocolVersion of [4, 5] as const) {
      const client = await connectClient(t, port, { protocol: 'mqtts', ca: certs.ca.cert, protocolVersion, clientId: uniqueName(`tls-v${protocolVersion}`) })
      const inbox = new Inbox(client)
      const topic = uniqueName('tls/echo')
      await client.subscribeAsync(topic, { qos: 1 })
      await client.publishAsync(topic, 'over tls', { qos: 1 })
      assert.equal((await inbox.waitForTopic(topic)).payload.toString(), 'over tls')
    }
  })

  it('a client that does not trust the server certificate cannot connect', async t => {
    const broker = await startTestBroker(t, { listeners: [tlsListener()] })
    await assert.rejects(connectClient(t, portOf(broker, 'tls'), { protocol: 'mqtts', clientId: uniqueName('untrusting') }), ClientConnectError)
  })

  it('a tcp publisher reaches a tls subscriber and a tls publisher a tcp subscriber', async t => {
    const broker = await startTestBroker(t, { listeners: [tlsListener()] })
    const secure = await connectClient(t, portOf(broker, 'tls'), { protocol: 'mqtts', ca: certs.ca.cert, clientId: uniqueName('tls-sub') })
    const plain = await connectClient(t, broker.port, { clientId: uniqueName('tcp-sub') })
    const secureInbox = new Inbox(secure)
    const plainInbox = new Inbox(plain)
    await secure.subscribeAsync('cross/to-tls', { qos: 1 })
    await plain.subscribeAsync('cross/to-tcp', { qos: 1 })
    await plain.publishAsync('cross/to-tls', 'from tcp', { qos: 1 })
    await secure.publishAsync('cross/to-tcp', 'from tls', { qos: 1 })
    assert.equal((await secureInbox.waitForTopic('cross/to-tls')).payload.toString(), 'from tcp')
    assert.equal((await plainInbox.waitForTopic('cross/to-tcp')).payload.toString(), 'from tls')
  })

  it('Broker.listeners names each listener with the port it bound; the transport names the listener', async t => {
    const authenticator = new RecordingAuthenticator()
    const broker = await startTestBroker(t, { listeners: [tlsListener()], authenticator })
    const tlsPort = portOf(broker, 'tls')
    assert.deepEqual(broker.node.address.listeners, [
      { type: 'tcp', name: `tcp:${broker.port}`, host: '127.0.0.1', port: broker.port },
      { type: 'tls', name: `tls:${tlsPort}`, host: '127.0.0.1', port: tlsPort }
    ])
    assert.notEqual(tlsPort, 0)
    const clientId = uniqueName('named')
    await connectClient(t, tlsPort, { protocol: 'mqtts', ca: certs.ca.cert, clientId })
    assert.deepEqual(authenticator.credentialsOf(clientId)?.transport, { listener: `tls:${tlsPort}`, secure: true })
    const plainId = uniqueName('plain')
    await connectClient(t, broker.port, { clientId: plainId })
    assert.deepEqual(authenticator.credentialsOf(plainId)?.transport, { listener: `tcp:${broker.port}`, secure: false })
    assert.equal((await broker.node.status()).connections, 2)
  })

  it('with listener.enabled false only the listeners entries run', async t => {
    const broker = await startTestBroker(t, { listener: { enabled: false }, listeners: [tlsListener()] })
    assert.equal(broker.port, 0)
    assert.deepEqual(broker.node.address.listeners.map(listener => listener.type), ['tls'])
    await connectClient(t, portOf(broker, 'tls'), { protocol: 'mqtts', ca: certs.ca.cert, clientId: uniqueName('only-tls') })
  })

  it('failed TLS handshakes (plain MQTT bytes on the TLS port) are logged, throttled, and disturb no other client', async t => {
    const logs = new LogRecorder()
    const broker = await startTestBroker(t, { listeners: [tlsListener()], log: logs.log })
    const port = portOf(broker, 'tls')
    const client = await connectClient(t, port, { protocol: 'mqtts', ca: certs.ca.cert, clientId: uniqueName('bystander') })
    const inbox = new Inbox(client)
    await client.subscribeAsync('still/here')
    for (let i = 0; i < 20; i++) {
      const socket = net.connect({ host: '127.0.0.1', port })
      socket.on('error', () => {})
      socket.end(Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00]))
      await new Promise<void>(resolve => socket.once('close', () => { resolve() }))
    }
    await client.publishAsync('still/here', 'ok')
    assert.equal((await inbox.waitForTopic('still/here')).payload.toString(), 'ok')
    assert.equal(client.connected, true)
    const first = await logs.waitForEvent('tls_handshake_failed')
    assert.equal(first.count, 1)
    assert.ok(logs.events('tls_handshake_failed').length < 20, 'a flood of bad handshakes is summarised')
  })

  it('logs listener_started per listener; a loopback-only node logs no anonymous_clients_allowed warning', async t => {
    const logs = new LogRecorder()
    const broker = await startTestBroker(t, { listeners: [tlsListener()], log: logs.log })
    const started = logs.events('listener_started').map(line => ({ type: line.type, host: line.host, port: line.port }))
    assert.deepEqual(started, [{ type: 'tcp', host: '127.0.0.1', port: broker.port }, { type: 'tls', host: '127.0.0.1', port: portOf(broker, 'tls') }])
    assert.deepEqual(logs.events('anonymous_clients_allowed'), [])
  })
})

describe('stopping a node with listeners', () => {
  it('closes sockets still in a TLS handshake or before their WebSocket upgrade, and their clients', async t => {
    const broker = await startTestBroker(t, { listeners: [tlsListener(), { type: 'ws', host: '127.0.0.1', port: 0 }] })
    const client = await connectClient(t, portOf(broker, 'tls'), { protocol: 'mqtts', ca: certs.ca.cert, clientId: uniqueName('connected') })
    const clientClosed = new Promise<void>(resolve => client.once('close', () => { resolve() }))
    const silent = (['tls', 'ws'] as const).map(type => {
      const socket = net.connect({ host: '127.0.0.1', port: portOf(broker, type) })
      socket.on('error', () => {})
      return new Promise<void>(resolve => socket.once('close', () => { resolve() }))
    })
    await new Promise(resolve => setTimeout(resolve, 200))
    // Well before the handshake and header timeouts (mqtt.connectTimeoutMs, 10 s).
    await withTimeout(broker.stop(), 3000, 'the node to stop')
    await withTimeout(Promise.all([clientClosed, ...silent]), 1000, 'every socket to close')
  })
})

describe('tls listener with requireClientCert', () => {
  it('refuses a client without a certificate and one whose certificate another CA signed', async t => {
    const broker = await startTestBroker(t, { listeners: [tlsListener({ caFile: certs.ca.certFile, requireClientCert: true })] })
    const port = portOf(broker, 'tls')
    await assert.rejects(connectClient(t, port, { protocol: 'mqtts', ca: certs.ca.cert, clientId: uniqueName('no-cert') }), ClientConnectError)
    const stranger = await certs.client('stranger', await certs.otherCa())
    await assert.rejects(connectClient(t, port, { protocol: 'mqtts', ca: certs.ca.cert, cert: stranger.cert, key: stranger.key, clientId: uniqueName('other-ca') }), ClientConnectError)
    assert.equal((await broker.node.status()).connections, 0)
  })

  it('accepts a certificate from the CA and hands its verified CN and subject to the authenticator', async t => {
    const authenticator = new RecordingAuthenticator()
    const broker = await startTestBroker(t, { listeners: [tlsListener({ caFile: certs.ca.certFile, requireClientCert: true })], authenticator })
    const port = portOf(broker, 'tls')
    const device = await certs.client('device-7')
    const clientId = uniqueName('device')
    const client = await connectClient(t, port, { protocol: 'mqtts', ca: certs.ca.cert, cert: device.cert, key: device.key, clientId, protocolVersion: 5 })
    assert.equal(client.connected, true)
    assert.deepEqual(authenticator.credentialsOf(clientId)?.transport, {
      listener: `tls:${port}`, secure: true, certificate: { commonName: 'device-7', subject: 'O=meshmq tests,CN=device-7' }
    })
  })
})

describe('tls listener with caFile and no requireClientCert', () => {
  it('lets a client in without a certificate (none reported) and reports a verified one', async t => {
    const authenticator = new RecordingAuthenticator()
    const broker = await startTestBroker(t, { listeners: [tlsListener({ caFile: certs.ca.certFile })], authenticator })
    const port = portOf(broker, 'tls')
    const anonymous = uniqueName('no-cert')
    await connectClient(t, port, { protocol: 'mqtts', ca: certs.ca.cert, clientId: anonymous })
    assert.equal(authenticator.credentialsOf(anonymous)?.transport.certificate, undefined)
    const stranger = await certs.client('stranger', await certs.otherCa())
    const unverified = uniqueName('other-ca')
    await connectClient(t, port, { protocol: 'mqtts', ca: certs.ca.cert, cert: stranger.cert, key: stranger.key, clientId: unverified })
    assert.equal(authenticator.credentialsOf(unverified)?.transport.certificate, undefined, 'a certificate the CA did not sign is not reported')
    const device = await certs.client('sensor-1')
    const verified = uniqueName('with-cert')
    await connectClient(t, port, { protocol: 'mqtts', ca: certs.ca.cert, cert: device.cert, key: device.key, clientId: verified })
    assert.equal(authenticator.credentialsOf(verified)?.transport.certificate?.commonName, 'sensor-1')
  })
})

/** The SHA-256 fingerprint of the certificate a TLS handshake with `port` presents (trusting the CA). */
async function servedFingerprint (port: number): Promise<string> {
  return await withTimeout(new Promise<string>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: certs.ca.cert, servername: 'localhost' }, () => {
      resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '')
      socket.destroy()
    })
    socket.once('error', reject)
  }), 5_000, 'a TLS handshake')
}

describe('tls listener certificate reload', () => {
  it('reload (SIGHUP for meshmq start) serves new handshakes with the renewed files, keeps open connections, and keeps the last good files when the new ones do not go together', async t => {
    const dir = mkdtempSync(join(tmpdir(), 'meshmq-tls-reload-'))
    t.after(() => { rmSync(dir, { recursive: true, force: true }) })
    const certFile = join(dir, 'server.crt')
    const keyFile = join(dir, 'server.key')
    copyFileSync(certs.server.certFile, certFile)
    copyFileSync(certs.server.keyFile, keyFile)
    const logs = new LogRecorder()
    const broker = await startTestBroker(t, { listeners: [{ type: 'tls', host: '127.0.0.1', port: 0, certFile, keyFile }], log: logs.log })
    const port = portOf(broker, 'tls')
    const first = new X509Certificate(certs.server.cert).fingerprint256
    assert.equal(await servedFingerprint(port), first)
    const open = await connectClient(t, port, { protocol: 'mqtts', ca: certs.ca.cert, clientId: uniqueName('before-reload') })
    const inbox = new Inbox(open)
    await open.subscribeAsync('reload/echo')

    const renewed = await certs.renewedServer()
    writeFileSync(certFile, renewed.cert)
    writeFileSync(keyFile, renewed.key)
    await broker.node.reload()
    assert.equal(logs.events('tls_reloaded').length, 1)
    assert.equal(await servedFingerprint(port), new X509Certificate(renewed.cert).fingerprint256, 'new handshakes get the renewed certificate')
    await open.publishAsync('reload/echo', 'still open')
    assert.equal((await inbox.waitForTopic('reload/echo')).payload.toString(), 'still open', 'a connection made before the reload keeps working')

    // A certificate written without its key yet (a renewal half done): the renewed pair stays.
    writeFileSync(certFile, certs.server.cert)
    await broker.node.reload()
    const failed = await logs.waitForEvent('tls_reload_failed')
    assert.equal(failed.listener, `tls:${port}`)
    assert.equal(await servedFingerprint(port), new X509Certificate(renewed.cert).fingerprint256)
  })
})
