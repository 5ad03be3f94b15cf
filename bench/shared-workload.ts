/**
 * Runs a SharedWorkload inside the generator process: subscribers (group members spread over the
 * nodes, or one plain subscriber) subscribe at QoS 1 and acknowledge every message; probes go out
 * until every subscriber has seen one (the routes are in place); then QoS 1 publishers on one node
 * publish within their in-flight window and, all together, at most `window` messages ahead of the
 * deliveries, each message numbered in its payload, and every copy is counted: exactly one
 * subscriber must receive each message.
 */
import mqtt from 'mqtt-packet'
import { BenchConnection } from './bench-connection.js'
import { RoutesNotReadyError } from './errors.js'
import { epochNow, type SharedResult, type SharedWorkload } from './workload.js'

const CONNECT_TIMEOUT_MS = 10_000
/** After the last PUBACK, how long deliveries still in flight may take. */
const DRAIN_TIMEOUT_MS = 10_000
const PROBE_INTERVAL_MS = 20
const TOPIC_PREFIX = 'bench-shared'

function puback (packetId: number): Buffer {
  return Buffer.from([0x40, 0x02, packetId >> 8, packetId & 0xff])
}

export async function runShared (w: SharedWorkload): Promise<SharedResult> {
  const signal = AbortSignal.timeout(CONNECT_TIMEOUT_MS)
  const errors: string[] = []
  const subscribers = await Promise.all(w.subscribers.map(async ({ address }, s) => await BenchConnection.open(address, { clientId: `bench-shared-sub-${s}`, keepaliveSeconds: 0, signal })))
  const publishers = await Promise.all(Array.from({ length: w.publishers }, async (_, p) => await BenchConnection.open(w.publishTo, { clientId: `bench-shared-pub-${p}`, keepaliveSeconds: 0, signal })))
  const all = [...subscribers, ...publishers]
  all.forEach((conn, i) => { conn.onClose = (reason) => { errors.push(`connection ${i}: ${reason}`) } })
  const perPublisher = Math.max(1, Math.floor(w.maxMessages / w.publishers))
  const seen = Array.from({ length: w.publishers }, () => new Uint8Array(perPublisher))
  const perSubscriber = new Array<number>(subscribers.length).fill(0)
  const probed = new Set<number>()
  let delivered = 0
  let duplicated = 0
  let lastDeliveryAt = 0
  let warmedAt = Number.POSITIVE_INFINITY
  let deliveredWarm = 0
  let published = 0
  /** Publishers waiting for deliveries to catch up with the window. */
  const held: Array<() => void> = []
  subscribers.forEach((conn, s) => {
    conn.onPublish = (buf, _topicStart, _topicEnd, payloadStart, payloadEnd, qos, packetId) => {
      if (qos > 0) conn.queue(puback(packetId))
      if (payloadEnd - payloadStart < 8) {
        probed.add(s)
        return
      }
      const p = buf.readUInt32BE(payloadStart)
      const n = buf.readUInt32BE(payloadStart + 4)
      const marks = seen[p]
      if (marks === undefined || n >= marks.length) return
      perSubscriber[s]!++
      if (marks[n] === 1) {
        duplicated++
        return
      }
      marks[n] = 1
      delivered++
      lastDeliveryAt = performance.now()
      if (lastDeliveryAt >= warmedAt) deliveredWarm++
      if (held.length > 0 && published - delivered < w.window) for (const resume of held.splice(0)) resume()
    }
  })
  try {
    await Promise.all(subscribers.map(async (conn, s) => { await conn.subscribe([w.subscribers[s]!.filter], 1, signal) }))
    const probeUntil = performance.now() + w.routeTimeoutMs
    for (let probe = 0; probed.size < subscribers.length; probe++) {
      if (performance.now() > probeUntil) throw new RoutesNotReadyError(`${subscribers.length - probed.size} of ${subscribers.length} subscribers got no probe within ${w.routeTimeoutMs} ms`)
      publishers[0]!.queue(mqtt.generate({ cmd: 'publish', topic: `${TOPIC_PREFIX}/${probe % w.topics}`, payload: Buffer.from('p'), qos: 0, dup: false, retain: false }))
      await new Promise(resolve => setTimeout(resolve, PROBE_INTERVAL_MS))
    }
    // One PUBLISH per topic, built once: each message is a copy with its packet id and number patched in.
    const payloadBytes = Math.max(8, w.payloadBytes)
    const templates = Array.from({ length: w.topics }, (_, k) =>
      mqtt.generate({ cmd: 'publish', topic: `${TOPIC_PREFIX}/${k}`, payload: Buffer.alloc(payloadBytes, 0x61), qos: 1, messageId: 1, dup: false, retain: false }))
    const startedAt = performance.now()
    warmedAt = startedAt + w.warmupSeconds * 1000
    const deadline = startedAt + w.seconds * 1000
    let acked = 0
    // Publishers still held at the end (deliveries stopped coming) are let go then.
    const stop = setTimeout(() => { for (const resume of held.splice(0)) resume() }, w.seconds * 1000 + 1)
    await Promise.all(publishers.map(async (conn, p) => await new Promise<void>((resolve) => {
      let next = 0
      let outstanding = 0
      let waiting = false
      const send = (): void => {
        waiting = false
        while (outstanding < w.inflight && next < perPublisher && performance.now() < deadline) {
          if (published - delivered >= w.window) {
            waiting = true
            held.push(send)
            break
          }
          const packet = Buffer.from(templates[(next + p) % w.topics]!)
          const payloadAt = packet.length - payloadBytes
          packet.writeUInt16BE((next % 65535) + 1, payloadAt - 2)
          packet.writeUInt32BE(p, payloadAt)
          packet.writeUInt32BE(next, payloadAt + 4)
          conn.queue(packet)
          next++
          outstanding++
          published++
        }
        if (outstanding === 0 && !waiting) resolve()
      }
      conn.onPuback = () => {
        outstanding--
        acked++
        send()
      }
      conn.onClose = (reason) => { errors.push(`publisher ${p}: ${reason}`); resolve() }
      send()
    })))
    clearTimeout(stop)
    const drainUntil = performance.now() + DRAIN_TIMEOUT_MS
    while (delivered < acked && performance.now() < drainUntil && errors.length === 0) await new Promise(resolve => setTimeout(resolve, 10))
    const seconds = Math.max(1e-3, (lastDeliveryAt - warmedAt) / 1000)
    const toEpoch = (at: number): number => epochNow() - (performance.now() - at)
    return {
      kind: 'shared',
      published,
      delivered,
      duplicated,
      lost: acked - delivered,
      deliveredPerSecond: deliveredWarm / seconds,
      measuredFromEpochMs: toEpoch(warmedAt),
      measuredToEpochMs: toEpoch(lastDeliveryAt),
      measuredDeliveries: deliveredWarm,
      perSubscriber,
      errors
    }
  } finally {
    for (const conn of all) conn.disconnect()
  }
}
