/**
 * Checks the load generator's building blocks and one short run of each load mode against an
 * in-process Aedes. Part of `npm test`; alone: `node --import tsx --test bench/load-generator.test.ts`.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import tls from 'node:tls'
import mqtt from 'mqtt-packet'
import { Aedes } from 'aedes'
import { PublishBatcher, packetIdFor } from './publish-batcher.js'
import { FrameReader } from './frame-reader.js'
import { SequenceTracker } from './sequence-tracker.js'
import { LatencyHistogram } from './latency-histogram.js'
import { runThroughput } from './throughput-workload.js'
import { pairs, wildcardMixed } from './scenarios.js'
import { KIND_DATA, PAYLOAD_KIND_OFFSET, PAYLOAD_PUBLISHER_OFFSET, PAYLOAD_SEQ_OFFSET, PAYLOAD_TIME_OFFSET } from './payload.js'
import type { BrokerAddress } from './workload.js'
import { openIdleConnections } from './idle-workload.js'
import { buildSessions, checkSessions } from './restart-workload.js'
import { createTestCertificates } from '../test/helpers/test-certificates.js'
import { freePort } from '../test/helpers/ports.js'
import { ChildProcess, waitForPort } from './child-process.js'

function parseAll (bytes: Buffer): mqtt.IPublishPacket[] {
  const parser = mqtt.parser({ protocolVersion: 4 })
  const packets: mqtt.IPublishPacket[] = []
  parser.on('packet', (p) => { packets.push(p as mqtt.IPublishPacket) })
  parser.parse(bytes)
  return packets
}

test('a batch is well-formed PUBLISH packets with rotating topics, packet ids and payload fields', () => {
  const batcher = new PublishBatcher({ prefix: 'w/', first: 1000, count: 1000, digits: 5, suffix: '/x' }, 1, 64, 7)
  const packets = parseAll(batcher.fill(3, 999, 12.5))
  assert.deepEqual(packets.map(p => p.topic), ['w/01999/x', 'w/01000/x', 'w/01001/x'])
  assert.deepEqual(packets.map(p => p.messageId), [packetIdFor(999), packetIdFor(1000), packetIdFor(1001)])
  for (const [k, p] of packets.entries()) {
    const payload = p.payload as Buffer
    assert.equal(p.qos, 1)
    assert.equal(payload.length, 64)
    assert.equal(payload[PAYLOAD_KIND_OFFSET], KIND_DATA)
    assert.equal(payload.readUInt32BE(PAYLOAD_PUBLISHER_OFFSET), 7)
    assert.equal(payload.readUInt32BE(PAYLOAD_SEQ_OFFSET), 999 + k)
    assert.equal(payload.readDoubleBE(PAYLOAD_TIME_OFFSET), 12.5)
  }
})

test('the frame reader yields the same packets however the stream is cut', () => {
  const stream = Buffer.concat([
    new PublishBatcher({ prefix: 'a/b', first: 0, count: 1, digits: 0, suffix: '' }, 0, 200, 0).fill(2, 0, 1),
    mqtt.generate({ cmd: 'puback', messageId: 9 })
  ])
  for (const cut of [1, 2, 3, 7, 150, stream.length]) {
    const frames: string[] = []
    const reader = new FrameReader((first, _buf, frameStart, _bodyStart, end) => { frames.push(`${first >> 4}:${end - frameStart}`) })
    for (let at = 0; at < stream.length; at += cut) reader.push(stream.subarray(at, at + cut))
    assert.deepEqual(frames, ['3:208', '3:208', '4:4'], `chunks of ${cut} bytes`)
  }
})

test('the sequence tracker tells duplicates from out-of-order arrivals', () => {
  const tracker = new SequenceTracker()
  for (const seq of [0, 1, 3, 2, 2, 9000]) tracker.record(seq)
  assert.equal(tracker.unique, 5)
  assert.equal(tracker.duplicated, 1)
  assert.equal(tracker.outOfOrder, 1)
})

test('the latency histogram reports percentiles within its bucket width', () => {
  const histogram = new LatencyHistogram()
  for (let ms = 1; ms <= 100; ms++) histogram.record(ms)
  const summary = histogram.summary()
  assert.equal(summary.count, 100)
  assert.ok(Math.abs(summary.p50Ms - 50) <= 0.1 + 1e-9, `p50 ${summary.p50Ms}`)
  assert.ok(Math.abs(summary.p99Ms - 99) <= 0.1 + 1e-9, `p99 ${summary.p99Ms}`)
  assert.equal(summary.maxMs, 100)
})

async function startAedes (t: { after: (fn: () => Promise<void>) => void }): Promise<BrokerAddress> {
  const broker = await Aedes.createBroker()
  const server = net.createServer(broker.handle)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => {
    await new Promise<void>(resolve => { broker.close(() => { resolve() }) })
    await new Promise<void>(resolve => server.close(() => { resolve() }))
  })
  const address = server.address() as net.AddressInfo
  return { host: '127.0.0.1', port: address.port }
}

/** Aedes on a TLS server with the test PKI's server certificate; the address tells clients to trust its CA. */
async function startAedesTls (t: { after: (fn: () => Promise<void>) => void }): Promise<BrokerAddress> {
  const certs = await createTestCertificates()
  const broker = await Aedes.createBroker()
  const server = tls.createServer({ cert: certs.server.cert, key: certs.server.key }, broker.handle)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => {
    await new Promise<void>(resolve => { broker.close(() => { resolve() }) })
    await new Promise<void>(resolve => server.close(() => { resolve() }))
    certs.remove()
  })
  const address = server.address() as net.AddressInfo
  return { host: '127.0.0.1', port: address.port, tls: { caFile: certs.ca.certFile } }
}

const settings = { seconds: 0.5, payloadBytes: 64, maxMessages: 20_000, window: 200, inflight: 50, pacedRate: 2_000 }

test('a flat-out QoS 1 run against a correct broker delivers every message once and in order', async (t) => {
  const address = await startAedes(t)
  const result = await runThroughput(pairs(settings, address, address, 1, null))
  assert.ok(result.published > 0)
  assert.equal(result.expected, result.published)
  assert.equal(result.delivered, result.published)
  assert.deepEqual([result.lost, result.duplicated, result.outOfOrder, result.unexpected, result.unacked], [0, 0, 0, 0, 0])
  assert.deepEqual(result.errors, [])
  assert.ok(result.deliveredPerSecond > 0)
})

test('a mixed wildcard run against a correct broker delivers every message once, to the owner of its topic', async (t) => {
  const address = await startAedes(t)
  const result = await runThroughput(wildcardMixed({ ...settings, seconds: 0.3 }, address, address))
  assert.ok(result.published > 0)
  assert.equal(result.expected, result.published)
  assert.equal(result.delivered, result.published)
  assert.deepEqual([result.lost, result.duplicated, result.outOfOrder, result.unexpected, result.unacked], [0, 0, 0, 0, 0])
  assert.deepEqual(result.errors, [])
  assert.equal(result.perSubscriber.length, 100)
  assert.equal(result.perSubscriber.reduce((a, b) => a + b, 0), result.delivered)
})

test('a persistent-subscriber QoS 1 run connects the subscribers with clean session 0 and delivers every message once', async (t) => {
  const address = await startAedes(t)
  const result = await runThroughput({ ...pairs(settings, address, address, 1, null), persistentSubscribers: true })
  assert.ok(result.published > 0)
  assert.deepEqual([result.lost, result.duplicated, result.outOfOrder, result.unexpected, result.unacked], [0, 0, 0, 0, 0])
})

test('restart workloads: sessions built offline get their queued messages when they come back with session present [MQTT-3.2.2-2]', async (t) => {
  const address = await startAedes(t)
  const built = await buildSessions({ kind: 'restart-build', address, sessions: 200, perSession: 3, clientIdPrefix: 'rt-', topicPrefix: 'r/', concurrency: 20, publishers: 3, inflight: 10, timeoutMs: 30_000 })
  assert.deepEqual([built.sessions, built.published, built.errors], [200, 600, []])
  const checked = await checkSessions({ kind: 'restart-check', address, sample: [0, 99, 199], perSession: 3, clientIdPrefix: 'rt-', timeoutMs: 10_000 })
  assert.deepEqual([checked.present, checked.complete, checked.received, checked.duplicated, checked.unexpected, checked.errors], [3, 3, 9, 0, 0, []])
  const unknown = await checkSessions({ kind: 'restart-check', address, sample: [5000], perSession: 3, clientIdPrefix: 'rt-', timeoutMs: 10_000 })
  assert.deepEqual([unknown.present, unknown.complete], [0, 0])
})

test('a paced run publishes at the asked rate and measures latency', async (t) => {
  const address = await startAedes(t)
  const result = await runThroughput(pairs(settings, address, address, 0, settings.pacedRate))
  assert.ok(Math.abs(result.published - settings.pacedRate * settings.seconds) <= 20 + settings.pacedRate * 0.02, `published ${result.published}`)
  assert.equal(result.lost, 0)
  assert.ok(result.latency.count > 0)
  assert.ok(result.latency.p50Ms > 0 && result.latency.p50Ms <= result.latency.p99Ms)
})

test('the generator speaks TLS: a flat-out QoS 1 run and idle connects over TLS, trusting the CA', async (t) => {
  const address = await startAedesTls(t)
  const result = await runThroughput(pairs(settings, address, address, 1, null))
  assert.ok(result.published > 0)
  assert.equal(result.delivered, result.published)
  assert.deepEqual([result.lost, result.duplicated, result.outOfOrder, result.unexpected, result.unacked], [0, 0, 0, 0, 0])
  assert.deepEqual(result.errors, [])
  const idle = await openIdleConnections({ kind: 'idle', connectTo: address, connections: 20, concurrency: 5, clientIdPrefix: 'tls-idle', timeoutMs: 10_000 })
  idle.close()
  assert.equal(idle.ready.connected, 20)
  assert.equal(idle.ready.failed, 0, idle.ready.firstError ?? '')
})

test('the bare-socket floor answers each CONNECT with an accepting CONNACK and holds the connections', async () => {
  const port = await freePort()
  const floor = new ChildProcess('floor', { command: process.execPath, args: [new URL('bare-socket-server.js', import.meta.url).pathname, String(port)], cpu: null })
  try {
    await waitForPort('127.0.0.1', port, floor, 10_000)
    const idle = await openIdleConnections({ kind: 'idle', connectTo: { host: '127.0.0.1', port }, connections: 50, concurrency: 10, clientIdPrefix: 'floor', timeoutMs: 10_000 })
    idle.close()
    assert.deepEqual([idle.ready.connected, idle.ready.failed], [50, 0], idle.ready.firstError ?? '')
  } finally {
    await floor.stop()
  }
})

for (const qos of [0, 1] as const) {
  test(`the relay floor carries a paced QoS ${qos} run of pairs: every message once, in order, with latency measured`, async () => {
    const port = await freePort()
    const floor = new ChildProcess('floor', { command: process.execPath, args: [new URL('bare-socket-server.js', import.meta.url).pathname, String(port), '--relay'], cpu: null })
    try {
      await waitForPort('127.0.0.1', port, floor, 10_000)
      const address = { host: '127.0.0.1', port }
      const result = await runThroughput(pairs(settings, address, address, qos, settings.pacedRate))
      assert.ok(result.published > 0)
      assert.equal(result.delivered, result.published)
      assert.deepEqual([result.lost, result.duplicated, result.outOfOrder, result.unexpected, result.unacked], [0, 0, 0, 0, 0])
      assert.deepEqual(result.errors, [])
      assert.ok(result.latency.count > 0 && result.latency.p50Ms <= result.latency.p99Ms)
    } finally {
      await floor.stop()
    }
  })
}

test('a subscribe-only run against the relay floor times the SUBACKs of 10k filters, cold and warm, and publishes nothing', async () => {
  const port = await freePort()
  const floor = new ChildProcess('floor', { command: process.execPath, args: [new URL('bare-socket-server.js', import.meta.url).pathname, String(port), '--relay'], cpu: null })
  try {
    await waitForPort('127.0.0.1', port, floor, 10_000)
    const address = { host: '127.0.0.1', port }
    const result = await runThroughput({ ...wildcardMixed(settings, address, address), subscribeOnly: true })
    assert.deepEqual(result.errors, [])
    assert.ok(result.subscribeMs > 0)
    assert.ok(result.warmSubscribeMs !== undefined && result.warmSubscribeMs > 0)
    assert.deepEqual([result.published, result.expected, result.delivered, result.lost], [0, 0, 0, 0])
  } finally {
    await floor.stop()
  }
})

test('the CPU sampler attributes a busy child process about one CPU second per second of its window', async () => {
  const { spawn } = await import('node:child_process')
  const { CpuSampler } = await import('./cpu-sampler.js')
  const { epochNow } = await import('./workload.js')
  const child = spawn(process.execPath, ['-e', 'const end = Date.now() + 1500; while (Date.now() < end) {}'])
  try {
    const sampler = new CpuSampler([child.pid!], 50)
    await new Promise(resolve => setTimeout(resolve, 300))
    const from = epochNow()
    await new Promise(resolve => setTimeout(resolve, 800))
    const to = epochNow()
    await new Promise(resolve => setTimeout(resolve, 100))
    sampler.stop()
    const cpuMs = sampler.cpuMsBetween(child.pid!, from, to)
    assert.ok(cpuMs !== null, 'samples around both ends of the window')
    // At most the window (one thread); at least a share of it even when the test runs beside
    // another on a 2-core machine (npm test runs two files at a time).
    assert.ok(cpuMs > 300 && cpuMs < 1000, `a spinning process used ${cpuMs} ms of CPU in an 800 ms window`)
    assert.equal(sampler.cpuMsBetween(child.pid!, from - 60_000, to), null, 'no sample before the window: no figure')
  } finally {
    child.kill('SIGKILL')
  }
})
