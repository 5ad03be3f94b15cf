/**
 * The `ws` and `wss` listeners over real sockets: MQTT.js over WebSocket (v3.1.1 and v5) and
 * secure WebSocket, messages across listener types, the `mqtt` subprotocol and the path, MQTT
 * packets split across or packed into WebSocket messages [MQTT-6.0.0-2], text frames
 * [MQTT-6.0.0-1], and client certificates on wss.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import mqttPacket from 'mqtt-packet'
import { startTestBroker, type Broker } from './helpers/broker.js'
import { connectClient, ClientConnectError, Inbox } from './helpers/mqtt-client.js'
import { createTestCertificates, type TestCertificates } from './helpers/test-certificates.js'
import { RecordingAuthenticator } from './helpers/recording-authenticator.js'
import { RawWebSocketClient, UpgradeRefusedError } from './helpers/websocket-client.js'
import { LogRecorder } from './helpers/log-recorder.js'
import { pollUntil, sleep, uniqueName } from './helpers/wait.js'
import type { ListenerConfig, ListenerType } from '../src/core/config/schema.js'

let certs: TestCertificates
before(async () => { certs = await createTestCertificates() })
after(() => { certs.remove() })

function listenerOf (broker: Broker, type: ListenerType): { port: number, path: string } {
  const listener = broker.node.address.listeners.find(candidate => candidate.type === type)
  assert.ok(listener, `a ${type} listener`)
  return { port: listener.port, path: listener.path ?? '' }
}

function wsUrl (broker: Broker, type: 'ws' | 'wss' = 'ws'): string {
  const { port, path } = listenerOf(broker, type)
  return `${type}://127.0.0.1:${port}${path}`
}

const WS: ListenerConfig = { type: 'ws', host: '127.0.0.1', port: 0 }

function wss (extra: Partial<ListenerConfig> = {}): ListenerConfig {
  return { type: 'wss', host: '127.0.0.1', port: 0, certFile: certs.server.certFile, keyFile: certs.server.keyFile, ...extra }
}

function connectBytes (clientId: string): Buffer {
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 30 })
}

describe('ws listener', () => {
  it('MQTT.js connects over WebSocket at /mqtt, as v3.1.1 and as v5', async t => {
    const broker = await startTestBroker(t, { listeners: [WS] })
    const { port, path } = listenerOf(broker, 'ws')
    assert.equal(path, '/mqtt')
    for (const protocolVersion of [4, 5] as const) {
      const client = await connectClient(t, port, { protocol: 'ws', path, protocolVersion, clientId: uniqueName(`ws-v${protocolVersion}`) })
      const inbox = new Inbox(client)
      const topic = uniqueName('ws/echo')
      await client.subscribeAsync(topic, { qos: 1 })
      await client.publishAsync(topic, 'over websocket', { qos: 1 })
      assert.equal((await inbox.waitForTopic(topic)).payload.toString(), 'over websocket')
    }
  })

  it('a ws subscriber gets a tcp publisher\'s message and a tcp subscriber a ws publisher\'s', async t => {
    const broker = await startTestBroker(t, { listeners: [WS] })
    const { port, path } = listenerOf(broker, 'ws')
    const web = await connectClient(t, port, { protocol: 'ws', path, clientId: uniqueName('ws-sub') })
    const plain = await connectClient(t, broker.port, { clientId: uniqueName('tcp-sub') })
    const webInbox = new Inbox(web)
    const plainInbox = new Inbox(plain)
    await web.subscribeAsync('cross/to-ws', { qos: 1 })
    await plain.subscribeAsync('cross/to-tcp', { qos: 1 })
    await plain.publishAsync('cross/to-ws', 'from tcp', { qos: 1 })
    await web.publishAsync('cross/to-tcp', 'from ws', { qos: 1 })
    assert.equal((await webInbox.waitForTopic('cross/to-ws')).payload.toString(), 'from tcp')
    assert.equal((await plainInbox.waitForTopic('cross/to-tcp')).payload.toString(), 'from ws')
  })

  it('[MQTT-6.0.0-3] [MQTT-6.0.0-4] selects the mqtt subprotocol; accepts mqttv3.1; refuses an upgrade that offers neither (HTTP 400)', async t => {
    const logs = new LogRecorder()
    const broker = await startTestBroker(t, { listeners: [WS], log: logs.log })
    const url = wsUrl(broker)
    assert.equal((await RawWebSocketClient.open(t, url, ['chat', 'mqtt'])).ws.protocol, 'mqtt')
    assert.equal((await RawWebSocketClient.open(t, url, ['mqttv3.1'])).ws.protocol, 'mqttv3.1')
    for (const protocols of [[], ['chat']]) {
      await assert.rejects(RawWebSocketClient.open(t, url, protocols), (err: unknown) => err instanceof UpgradeRefusedError && err.statusCode === 400)
    }
    const refused = await logs.waitForEvent('websocket_upgrade_refused')
    assert.equal(refused.reason, 'no mqtt subprotocol')
  })

  it('answers an upgrade on another path with HTTP 404', async t => {
    const broker = await startTestBroker(t, { listeners: [WS] })
    const { port } = listenerOf(broker, 'ws')
    for (const path of ['/', '/mqtt/x', '/other']) {
      await assert.rejects(RawWebSocketClient.open(t, `ws://127.0.0.1:${port}${path}`, ['mqtt']), (err: unknown) => err instanceof UpgradeRefusedError && err.statusCode === 404, path)
    }
  })

  it('answers an upgrade ws itself refuses (an unknown WebSocket version) with 400 and logs it', async t => {
    const logs = new LogRecorder()
    const broker = await startTestBroker(t, { listeners: [WS], log: logs.log })
    const { port } = listenerOf(broker, 'ws')
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.on('error', () => {})
    let answer = ''
    socket.setEncoding('utf8').on('data', (chunk: string) => { answer += chunk })
    socket.write(['GET /mqtt HTTP/1.1', 'Host: 127.0.0.1', 'Upgrade: websocket', 'Connection: Upgrade',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 7', 'Sec-WebSocket-Protocol: mqtt', '', ''].join('\r\n'))
    await new Promise<void>(resolve => socket.once('close', () => { resolve() }))
    assert.match(answer, /^HTTP\/1\.1 400 /)
    const refused = await logs.waitForEvent('websocket_upgrade_refused')
    assert.equal(refused.status, 400)
  })

  it('serves the configured path', async t => {
    const broker = await startTestBroker(t, { listeners: [{ ...WS, path: '/broker' }] })
    const { port, path } = listenerOf(broker, 'ws')
    assert.equal(path, '/broker')
    await connectClient(t, port, { protocol: 'ws', path: '/broker', clientId: uniqueName('custom-path') })
    await assert.rejects(RawWebSocketClient.open(t, `ws://127.0.0.1:${port}/mqtt`, ['mqtt']), (err: unknown) => err instanceof UpgradeRefusedError && err.statusCode === 404)
  })

  it('[MQTT-6.0.0-2] reads a CONNECT split across WebSocket messages and several packets in one message', async t => {
    const broker = await startTestBroker(t, { listeners: [WS] })
    const client = await RawWebSocketClient.open(t, wsUrl(broker), ['mqtt'])
    const connect = connectBytes(uniqueName('split'))
    client.sendBinary(connect.subarray(0, 1), connect.subarray(1, 5), connect.subarray(5))
    assert.equal((await client.waitForPacket('connack') as mqttPacket.IConnackPacket).returnCode, 0)
    const subscribe = mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'packed/one', qos: 0 }] })
    const publish = mqttPacket.generate({ cmd: 'publish', topic: 'packed/one', payload: Buffer.from('packed'), qos: 0, dup: false, retain: false })
    client.sendBinary(Buffer.concat([subscribe, publish.subarray(0, 3)]), publish.subarray(3))
    await client.waitForPacket('suback')
    const delivered = await client.waitForPacket('publish') as mqttPacket.IPublishPacket
    assert.equal(delivered.topic, 'packed/one')
    assert.equal(delivered.payload.toString(), 'packed')
  })

  it('[MQTT-6.0.0-1] a text frame closes that connection only', async t => {
    const logs = new LogRecorder()
    const broker = await startTestBroker(t, { listeners: [WS], log: logs.log })
    const url = wsUrl(broker)
    const bystander = await RawWebSocketClient.open(t, url, ['mqtt'])
    bystander.sendBinary(connectBytes(uniqueName('bystander')))
    await bystander.waitForPacket('connack')
    const offender = await RawWebSocketClient.open(t, url, ['mqtt'])
    offender.sendBinary(connectBytes(uniqueName('offender')))
    await offender.waitForPacket('connack')
    offender.sendText('not mqtt')
    await offender.waitForClose()
    await logs.waitForEvent('websocket_text_frame')
    bystander.sendBinary(mqttPacket.generate({ cmd: 'pingreq' }))
    await bystander.waitForPacket('pingresp')
    assert.equal(bystander.isClosed, false)
    assert.equal((await broker.node.status()).connections, 1)
  })

  it('a WebSocket message over mqtt.maxPacketSize + 64 KiB closes that connection with 1009 and is logged', async t => {
    const logs = new LogRecorder()
    const broker = await startTestBroker(t, { listeners: [WS], mqtt: { maxPacketSize: 1024 }, log: logs.log })
    const client = await RawWebSocketClient.open(t, wsUrl(broker), ['mqtt'])
    client.sendBinary(connectBytes(uniqueName('oversize')))
    await client.waitForPacket('connack')
    const closeCode = new Promise<number>(resolve => { client.ws.once('close', (code: number) => { resolve(code) }) })
    client.sendBinary(Buffer.alloc(1024 + 64 * 1024 + 1))
    assert.equal(await closeCode, 1009)
    const line = await logs.waitForEvent('websocket_frame_refused')
    assert.equal(line.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
  })

  it('a WebSocket client that does not read is a slow consumer (QoS 0 dropped, QoS 1 held back) and gets the held-back QoS 1 once it reads', async t => {
    const broker = await startTestBroker(t, { listeners: [WS], mqtt: { outgoingHighWaterBytes: 64 * 1024 }, sys: { intervalMs: 100 } })
    let slowConsumerDrops = 0
    const sys = await connectClient(t, broker.port, { clientId: uniqueName('sys') })
    sys.on('message', (_topic, payload) => { slowConsumerDrops = Number(payload.toString()) })
    await sys.subscribeAsync(`$SYS/brokers/${broker.nodeName}/messages/dropped/slow_consumer`)
    const base = uniqueName('ws/slow')
    const slow = await RawWebSocketClient.open(t, wsUrl(broker), ['mqtt'], {}, 5)
    slow.sendBinary(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: uniqueName('ws-slow'), clean: true, keepalive: 0 }))
    await slow.waitForPacket('connack')
    slow.sendBinary(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${base}/qos0`, qos: 0 }, { topic: `${base}/qos1`, qos: 1 }] }, { protocolVersion: 5 }))
    await slow.waitForPacket('suback')
    slow.ws.pause()
    const publisher = await connectClient(t, broker.port, { clientId: uniqueName('pub') })
    // QoS 0 until the broker finds the WebSocket's buffer past the high-water mark: its bufferedAmount counts.
    for (let i = 0; i < 200 && slowConsumerDrops === 0; i++) {
      await publisher.publishAsync(`${base}/qos0`, Buffer.alloc(256 * 1024), { qos: 0 })
      if (i % 8 === 7) await sleep(100)
    }
    await pollUntil(() => slowConsumerDrops, n => n > 0, 5000, 'QoS 0 dropped for the WebSocket client that does not read')
    // QoS 1 now waits in the session (fewer than the in-flight window: only the congestion holds it back)
    // and goes out when the socket drains, without the client acknowledging anything.
    const count = 16
    for (let i = 0; i < count; i++) {
      const payload = Buffer.alloc(64 * 1024)
      payload.write(String(i).padStart(8, '0'))
      await publisher.publishAsync(`${base}/qos1`, payload, { qos: 1 })
    }
    slow.ws.resume()
    const qos1 = (): mqttPacket.IPublishPacket[] => slow.packets.filter((packet): packet is mqttPacket.IPublishPacket => packet.cmd === 'publish' && packet.qos === 1)
    await pollUntil(qos1, list => list.length >= count, 10_000, `${count} QoS 1 messages, unacknowledged`)
    const received = qos1().map(packet => Number(Buffer.from(packet.payload).subarray(0, 8).toString()))
    assert.deepEqual(received, Array.from({ length: count }, (_, i) => i), 'every QoS 1 message once, in order')
  })

  it('answers a plain HTTP request with 426 on the path and 404 elsewhere', async t => {
    const broker = await startTestBroker(t, { listeners: [WS] })
    const { port } = listenerOf(broker, 'ws')
    assert.equal((await fetch(`http://127.0.0.1:${port}/mqtt`)).status, 426)
    assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 404)
  })
})

describe('wss listener', () => {
  it('MQTT.js connects over secure WebSocket with the CA and exchanges messages with a ws client', async t => {
    const broker = await startTestBroker(t, { listeners: [WS, wss()] })
    const secure = listenerOf(broker, 'wss')
    const plain = listenerOf(broker, 'ws')
    const secureClient = await connectClient(t, secure.port, { protocol: 'wss', path: secure.path, ca: certs.ca.cert, protocolVersion: 5, clientId: uniqueName('wss') })
    const webClient = await connectClient(t, plain.port, { protocol: 'ws', path: plain.path, clientId: uniqueName('ws') })
    const inbox = new Inbox(secureClient)
    await secureClient.subscribeAsync('secure/in', { qos: 1 })
    await webClient.publishAsync('secure/in', 'from ws', { qos: 1 })
    assert.equal((await inbox.waitForTopic('secure/in')).payload.toString(), 'from ws')
  })

  it('with requireClientCert refuses a client without a certificate and hands a verified CN to the authenticator', async t => {
    const authenticator = new RecordingAuthenticator()
    const broker = await startTestBroker(t, { listeners: [wss({ caFile: certs.ca.certFile, requireClientCert: true })], authenticator })
    const { port, path } = listenerOf(broker, 'wss')
    await assert.rejects(connectClient(t, port, { protocol: 'wss', path, ca: certs.ca.cert, clientId: uniqueName('no-cert') }), ClientConnectError)
    const device = await certs.client('browser-gateway')
    const clientId = uniqueName('wss-cert')
    await connectClient(t, port, { protocol: 'wss', path, ca: certs.ca.cert, cert: device.cert, key: device.key, clientId })
    assert.deepEqual(authenticator.credentialsOf(clientId)?.transport, {
      listener: `wss:${port}${path}`, secure: true, certificate: { commonName: 'browser-gateway', subject: 'O=meshmq tests,CN=browser-gateway' }
    })
  })
})
