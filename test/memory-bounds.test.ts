/**
 * Acceptance (issue 8): a client cannot take a node's memory. The broker runs as a child process
 * with its default limits, and its peak resident memory (VmHWM in /proc) is measured while ten
 * QoS 1 subscribers stop reading under 1000 KiB publishes, and while one client subscribes 100k
 * filters; other clients keep receiving promptly meanwhile. The bounds stated here follow from
 * the defaults (README "Limits"): a client that does not read holds at most its socket's
 * high-water mark plus one packet (8 MiB + 1 MiB), and a client at most 10,000 subscriptions.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import mqtt from 'mqtt-packet'
import { startNode, type NodeProcess } from './helpers/node-process.js'
import { RawClient } from './helpers/raw-client.js'
import { connectClient, type Cleanup } from './helpers/mqtt-client.js'
import { freePorts } from './helpers/ports.js'
import { sleep, uniqueName, waitUntil } from './helpers/wait.js'

const MiB = 1024 * 1024
const procAvailable = existsSync('/proc/self/status')

/** Resident and peak resident memory of a process, in bytes, from /proc/<pid>/status. */
function memoryOf (pid: number): { rss: number, peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024
  return { rss: kib('VmRSS'), peak: kib('VmHWM') }
}

async function startBroker (t: Cleanup, name: string): Promise<NodeProcess> {
  const [clusterPort, controlPort] = await freePorts(2)
  return await startNode(t, { name, clusterPort, controlPort })
}

/** Lets the broker settle after its clients connected, then reads its resident memory. */
async function baseline (node: NodeProcess): Promise<number> {
  await sleep(500)
  return memoryOf(node.pid).rss
}

test('ten QoS 1 subscribers that stop reading under 32 × 1000 KiB publishes keep the broker\'s peak RSS within 10 × (8 + 1) MiB + 2 × 32 MiB + 30 MiB of its start; a reading subscriber gets every message', { skip: !procAvailable }, async t => {
  const node = await startBroker(t, 'memslow1@127.0.0.1')
  const topic = uniqueName('big')
  const slow: RawClient[] = []
  for (let i = 0; i < 10; i++) {
    const { client } = await RawClient.connected(node.mqttPort, { clientId: uniqueName('slow') }, { protocolVersion: 5 })
    t.after(() => client.destroy())
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] })
    await client.expect('suback')
    slow.push(client)
  }
  const reader = await connectClient(t, node.mqttPort, { protocolVersion: 5 })
  let received = 0
  reader.on('message', () => { received++ })
  await reader.subscribeAsync(topic, { qos: 1 })
  const publisher = await connectClient(t, node.mqttPort, { protocolVersion: 5 })
  const start = await baseline(node)
  for (const client of slow) client.socket.pause()

  const began = Date.now()
  const count = 32
  for (let i = 0; i < count; i++) await publisher.publishAsync(topic, Buffer.alloc(1000 * 1024, i), { qos: 1 })
  await waitUntil(() => received === count, 20_000, 'the reading subscriber to get every message')
  const elapsed = Date.now() - began
  await sleep(500)
  const { peak } = memoryOf(node.pid)
  // Each non-reading client: at most the high-water mark plus one packet; the burst itself (held in
  // the queues) and its copies encoded for the reader: 2 × 32 MiB; and 30 MiB for the rest.
  const bound = start + 10 * (8 + 1) * MiB + 2 * count * 1000 * 1024 + 30 * MiB
  t.diagnostic(`broker RSS at start ${(start / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB (bound ${(bound / MiB).toFixed(0)} MiB); reader got ${count} × 1000 KiB in ${elapsed} ms`)
  assert.ok(peak <= bound, `peak RSS ${(peak / MiB).toFixed(0)} MiB above the bound ${(bound / MiB).toFixed(0)} MiB`)
  assert.ok(elapsed < 5000, `the reading subscriber waited ${elapsed} ms`)
})

test('a client subscribing 100k filters gets Quota exceeded past 10,000, the broker\'s peak RSS stays within 80 MiB of its start and its log quiet; other clients keep receiving', { skip: !procAvailable }, async t => {
  const node = await startBroker(t, 'memsubs1@127.0.0.1')
  const { client } = await RawClient.connected(node.mqttPort, { clientId: uniqueName('many') }, { protocolVersion: 5 })
  t.after(() => client.destroy())
  const probeTopic = uniqueName('probe')
  const probe = await connectClient(t, node.mqttPort)
  let latest = 0
  let worstLatencyMs = 0
  probe.on('message', (_topic, payload) => {
    worstLatencyMs = Math.max(worstLatencyMs, Date.now() - Number(payload.toString()))
    latest++
  })
  await probe.subscribeAsync(probeTopic, { qos: 0 })
  const start = await baseline(node)
  const logsBefore = node.logPosition

  const base = uniqueName('f')
  const perPacket = 1000
  const packets = 100
  const codes: number[] = []
  let sentProbes = 0
  for (let p = 0; p < packets; p++) {
    const subscriptions = Array.from({ length: perPacket }, (_, i) => ({ topic: `${base}/${p}/${i}/+`, qos: 1 as const }))
    client.sendBytes(mqtt.generate({ cmd: 'subscribe', messageId: p + 1, subscriptions }, { protocolVersion: 5 }))
    if (p % 10 === 0) {
      probe.publish(probeTopic, String(Date.now()), { qos: 0 })
      sentProbes++
    }
  }
  for (let p = 0; p < packets; p++) codes.push(...(await client.expect('suback', 10_000)).granted as number[])
  await waitUntil(() => latest === sentProbes, 5000, 'the probe messages sent during the flood')
  await sleep(500)
  const { peak } = memoryOf(node.pid)
  const linesLogged = node.logPosition - logsBefore
  t.diagnostic(`broker RSS at start ${(start / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB; ${linesLogged} log lines; probe latency up to ${worstLatencyMs} ms`)

  assert.equal(codes.length, perPacket * packets)
  assert.deepEqual(codes.slice(0, 10_000).filter(code => code !== 1), [], 'the first 10,000 filters granted')
  assert.deepEqual(codes.slice(10_000).filter(code => code !== 0x97), [], 'every later one refused with Quota exceeded')
  assert.ok(peak - start <= 80 * MiB, `peak RSS grew ${((peak - start) / MiB).toFixed(0)} MiB`)
  assert.ok(linesLogged <= 20, `${linesLogged} log lines for one client's subscriptions`)
  assert.ok(worstLatencyMs < 2000, `a probe message took ${worstLatencyMs} ms`)
})
