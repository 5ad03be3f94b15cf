/**
 * Runs a ThroughputWorkload inside the generator process: connects subscribers and publishers,
 * waits until a probe from every publisher reached every subscriber that expects it, then publishes
 * (paced or flat out) until the message or time bound, drains, and counts what arrived.
 *
 * Flat out, a publisher may run at most `window` messages ahead of its slowest subscriber, so the
 * broker's queues stay bounded and the delivered rate is one the broker sustains; at QoS 1 it also
 * keeps at most `inflight` PUBLISHes without PUBACK.
 *
 * With a topic set (`topic-set.ts`) each message goes to one random topic of the set and exactly
 * its owner receives it: a publisher then runs at most `window` messages ahead of the deliveries
 * of its messages, and every delivery is checked against the topic it was published to.
 */
import { setMaxListeners } from 'node:events'
import { BenchConnection } from './bench-connection.js'
import { runSubscribeOnly } from './subscribe-only.js'
import { LatencyHistogram } from './latency-histogram.js'
import { KIND_DATA, KIND_PROBE, MIN_PAYLOAD_BYTES, PAYLOAD_KIND_OFFSET, PAYLOAD_PUBLISHER_OFFSET, PAYLOAD_SEQ_OFFSET, PAYLOAD_TIME_OFFSET } from './payload.js'
import { PublishBatcher, packetIdFor } from './publish-batcher.js'
import { SequenceTracker } from './sequence-tracker.js'
import { RoutesNotReadyError, UsageError } from './errors.js'
import { prepareTopicSet, type PreparedTopicSet } from './topic-set.js'
import { cpuMs, type ThroughputResult, type ThroughputWorkload, type TopicRotation } from './workload.js'

const SETUP_TIMEOUT_MS = 60_000
const PROBE_INTERVAL_MS = 20
/** A probe not yet delivered is sent again after PROBE_INTERVAL_MS, or later for many probes: at most this many per ms. */
const PROBES_PER_MS = 100
const PACED_TICK_MS = 1
/** The drain after the last publish ends when nothing arrived for this long… */
const DRAIN_IDLE_MS = 1_000
/** …or after this long in any case. */
const DRAIN_MAX_MS = 10_000
const MAX_WRITE_BYTES = 64 * 1024

/** Builds one publisher's PUBLISH packets: a topic rotation or a topic set. */
interface Batcher {
  /** Bytes of the largest packet. */
  readonly packetBytes: number
  fill: (count: number, firstSeq: number, sentAt: number) => Buffer
  probe: (topicIndex: number, sentAt: number) => Buffer
}

interface Publisher {
  index: number
  conn: BenchConnection
  data: Batcher
  probes: Batcher
  /** Trackers of the subscribers that expect this publisher's messages (with a topic set: the one tracker of all its deliveries). */
  receivers: SequenceTracker[]
  sent: number
  limit: number
  unacked: number
  inFlight: Uint8Array
  waitingForDrain: boolean
}

interface Subscriber {
  conn: BenchConnection
  /** Tracker per publisher index; undefined for publishers it does not expect. */
  trackers: Array<SequenceTracker | undefined>
  /** Distinct messages received. */
  delivered: number
  acks: Buffer
  ackBytes: number
  ackFlushScheduled: boolean
}

/** A route probe from a publisher to its topic number `topicIndex`, and the subscribers it has not reached yet. */
interface RouteProbe {
  publisher: number
  topicIndex: number
  missing: Set<number>
  sentAt: number
}

export async function runThroughput (w: ThroughputWorkload): Promise<ThroughputResult> {
  if (w.subscribeOnly === true) return await runSubscribeOnly(w)
  if (w.payloadBytes < MIN_PAYLOAD_BYTES) throw new RangeError(`payload must be at least ${MIN_PAYLOAD_BYTES} bytes`)
  const fromSet = w.publishers.filter(spec => spec.topics === null).length
  if (fromSet > 0 && (fromSet < w.publishers.length || w.topicSet === undefined)) throw new UsageError('publishers without a topic rotation need a topicSet, and then all publishers draw from it')
  const topicSet = fromSet > 0 && w.topicSet !== undefined ? prepareTopicSet(w.topicSet, w.qos, w.payloadBytes, w.publishers.length) : null
  const setup = AbortSignal.timeout(SETUP_TIMEOUT_MS + w.routeTimeoutMs)
  setMaxListeners(0, setup)
  const errors: string[] = []
  const histogram = new LatencyHistogram()
  const connections: BenchConnection[] = []
  let measuring = false
  let stopped = false
  let delivered = 0
  let unexpected = 0
  let strayAcks = 0
  let lastDeliveryAt = 0
  let warm = false
  let deliveredAtWarmup = 0

  try {
    const t0 = performance.now()
    const subscriberConns = await Promise.all(w.subscribers.map(async (spec, s) => await BenchConnection.open(spec.address ?? w.subscribeTo, { clientId: `bench-sub-${s}`, keepaliveSeconds: 0, signal: setup, persistent: w.persistentSubscribers === true })))
    const publisherConns = await Promise.all(w.publishers.map(async (spec, p) => await BenchConnection.open(spec.address ?? w.publishTo, { clientId: `bench-pub-${p}`, keepaliveSeconds: 0, signal: setup })))
    connections.push(...subscriberConns, ...publisherConns)
    const connectMs = performance.now() - t0

    // With a topic set, one tracker per publisher counts all deliveries of its messages, whoever receives them.
    const setTrackers = w.publishers.map(() => new SequenceTracker())
    const subscribers: Subscriber[] = w.subscribers.map((spec, s) => {
      const trackers: Array<SequenceTracker | undefined> = topicSet !== null ? [...setTrackers] : new Array<SequenceTracker | undefined>(w.publishers.length).fill(undefined)
      if (topicSet === null) for (const p of spec.expects) trackers[p] = new SequenceTracker()
      return { conn: subscriberConns[s]!, trackers, delivered: 0, acks: Buffer.allocUnsafe(16 * 1024), ackBytes: 0, ackFlushScheduled: false }
    })
    const allTrackers = topicSet !== null ? setTrackers : subscribers.flatMap(sub => sub.trackers.flatMap(t => t ?? []))
    const probes = routeProbes(w, topicSet)
    const probeByKey = new Map(probes.map(probe => [`${probe.publisher}:${probe.topicIndex}`, probe]))

    const perPublisherLimit = Math.max(1, Math.floor(w.maxMessages / w.publishers.length))
    const publishers: Publisher[] = w.publishers.map((spec, p) => ({
      index: p,
      conn: publisherConns[p]!,
      data: topicSet?.data[p] ?? new PublishBatcher(rotationOf(spec.topics), w.qos, w.payloadBytes, p),
      probes: topicSet?.probes[p] ?? new PublishBatcher(rotationOf(spec.topics), 0, w.payloadBytes, p),
      receivers: topicSet !== null ? [setTrackers[p]!] : subscribers.flatMap(sub => sub.trackers[p] ?? []),
      sent: 0,
      limit: perPublisherLimit,
      unacked: 0,
      inFlight: new Uint8Array(0x10000),
      waitingForDrain: false
    }))

    let pumpScheduled = false
    const requestPump = (): void => {
      if (pumpScheduled || !measuring || stopped || w.ratePerSecond !== null) return
      pumpScheduled = true
      setImmediate(() => {
        pumpScheduled = false
        for (const pub of publishers) pump(pub, Number.POSITIVE_INFINITY)
      })
    }

    /**
     * Sends as many messages as the bounds allow, at most `due` of them. Flat out, a publisher waits
     * until a quarter of its window is free, so each write carries many packets.
     */
    const pump = (pub: Publisher, due: number): void => {
      const batchMax = Math.max(1, Math.floor(MAX_WRITE_BYTES / pub.data.packetBytes))
      const batchMin = w.ratePerSecond === null ? Math.max(1, Math.floor(Math.min(batchMax, w.window, w.qos > 0 ? w.inflight : w.window) / 4)) : 1
      while (!stopped && !pub.waitingForDrain) {
        let slowest = Number.POSITIVE_INFINITY
        for (const tracker of pub.receivers) if (tracker.unique < slowest) slowest = tracker.unique
        let allowed = Math.min(batchMax, due, pub.limit - pub.sent, w.window - (pub.sent - slowest))
        if (w.qos > 0) allowed = Math.min(allowed, w.inflight - pub.unacked)
        if (allowed <= 0 || allowed < Math.min(batchMin, pub.limit - pub.sent)) return
        const bytes = pub.data.fill(allowed, pub.sent, performance.now())
        if (w.qos > 0) {
          for (let seq = pub.sent; seq < pub.sent + allowed; seq++) pub.inFlight[packetIdFor(seq)] = 1
          pub.unacked += allowed
        }
        pub.sent += allowed
        due -= allowed
        if (!pub.conn.socket.write(bytes)) {
          pub.waitingForDrain = true
          pub.conn.socket.once('drain', () => {
            pub.waitingForDrain = false
            requestPump()
          })
        }
      }
    }

    subscribers.forEach((sub, s) => {
      const flushAcks = (): void => {
        sub.ackFlushScheduled = false
        if (sub.ackBytes === 0) return
        sub.conn.queue(Buffer.from(sub.acks.subarray(0, sub.ackBytes)))
        sub.ackBytes = 0
      }
      sub.conn.onPublish = (buf, topicStart, topicEnd, payloadStart, payloadEnd, qos, packetId) => {
        if (qos > 0) {
          if (sub.ackBytes + 4 > sub.acks.length) flushAcks()
          sub.acks[sub.ackBytes] = 0x40
          sub.acks[sub.ackBytes + 1] = 2
          sub.acks.writeUInt16BE(packetId, sub.ackBytes + 2)
          sub.ackBytes += 4
          if (!sub.ackFlushScheduled) {
            sub.ackFlushScheduled = true
            setImmediate(flushAcks)
          }
        }
        if (payloadEnd - payloadStart < MIN_PAYLOAD_BYTES) { unexpected++; return }
        const kind = buf[payloadStart + PAYLOAD_KIND_OFFSET]
        const p = buf.readUInt32BE(payloadStart + PAYLOAD_PUBLISHER_OFFSET)
        const seq = buf.readUInt32BE(payloadStart + PAYLOAD_SEQ_OFFSET)
        if (kind === KIND_PROBE) {
          probeByKey.get(`${p}:${seq}`)?.missing.delete(s)
          return
        }
        const tracker = kind === KIND_DATA ? sub.trackers[p] : undefined
        if (tracker === undefined) { unexpected++; return }
        if (topicSet !== null && !topicSet.deliveries.accept(s, p, seq, buf, topicStart, topicEnd)) { unexpected++; return }
        const now = performance.now()
        const before = tracker.unique
        tracker.record(seq)
        sub.delivered += tracker.unique - before
        if (warm) histogram.record(now - buf.readDoubleBE(payloadStart + PAYLOAD_TIME_OFFSET))
        delivered++
        lastDeliveryAt = now
        requestPump()
      }
    })
    subscribers.forEach((sub, s) => { sub.conn.onClose = (reason) => { errors.push(`subscriber ${s}: ${reason}`) } })
    publishers.forEach((pub) => {
      pub.conn.onClose = (reason) => { errors.push(`publisher ${pub.index}: ${reason}`) }
      pub.conn.onPuback = (packetId) => {
        if (pub.inFlight[packetId] === 1) {
          pub.inFlight[packetId] = 0
          pub.unacked--
          requestPump()
        } else {
          strayAcks++
        }
      }
    })

    // Encoded before the clock starts: the figure is the broker's time to SUBACK, not the generator's encoding.
    const subscribes = subscribers.map((sub, s) => sub.conn.prepareSubscribe(w.subscribers[s]!.filters, w.qos))
    const t1 = performance.now()
    await Promise.all(subscribers.map(async (sub, s) => { await sub.conn.sendSubscribe(subscribes[s]!, setup) }))
    const subscribeMs = performance.now() - t1

    const t2 = performance.now()
    await waitForRoutes(w.routeTimeoutMs, probes, publishers)
    const routesReadyMs = performance.now() - t2

    measuring = true
    const startedAt = performance.now()
    lastDeliveryAt = startedAt
    let measuredFrom = startedAt
    let cpuFrom = cpuMs()
    const warmupTimer = setTimeout(() => {
      warm = true
      deliveredAtWarmup = delivered
      measuredFrom = performance.now()
      cpuFrom = cpuMs()
    }, w.warmupSeconds * 1000)
    const stopTimer = setTimeout(() => { stopped = true }, w.seconds * 1000)
    if (w.ratePerSecond === null) {
      requestPump()
      await until(() => stopped || publishers.every(pub => pub.sent >= pub.limit), 5)
    } else {
      await runPaced(w.ratePerSecond / publishers.length, publishers, pump, () => stopped)
    }
    stopped = true
    clearTimeout(stopTimer)
    clearTimeout(warmupTimer)
    const generatorBusy = (cpuMs() - cpuFrom) / Math.max(performance.now() - measuredFrom, 1)

    const expected = publishers.reduce((sum, pub) => sum + pub.sent * pub.receivers.length, 0)
    await drain(() => delivered >= expected && publishers.every(pub => pub.unacked === 0), () => lastDeliveryAt)

    const published = publishers.reduce((sum, pub) => sum + pub.sent, 0)
    let duplicated = 0
    let outOfOrder = 0
    let unique = 0
    for (const tracker of allTrackers) {
      duplicated += tracker.duplicated
      outOfOrder += tracker.outOfOrder
      unique += tracker.unique
    }
    if (topicSet !== null) {
      // A publisher's messages go to many topics, and MQTT orders them per topic only.
      outOfOrder = topicSet.deliveries.outOfOrder
      if (topicSet.deliveries.misrouted > 0) errors.push(`${topicSet.deliveries.misrouted} deliveries to a subscriber that does not own the topic, or on another topic than published`)
    }
    if (strayAcks > 0) errors.push(`${strayAcks} PUBACKs for packet ids not in flight`)
    const durationMs = Math.max(lastDeliveryAt - measuredFrom, 1)
    return {
      kind: 'throughput',
      published,
      expected,
      delivered: unique,
      lost: expected - unique,
      duplicated,
      outOfOrder,
      unexpected,
      unacked: publishers.reduce((sum, pub) => sum + pub.unacked, 0),
      durationMs,
      measuredFromEpochMs: performance.timeOrigin + measuredFrom,
      measuredToEpochMs: performance.timeOrigin + measuredFrom + durationMs,
      measuredDeliveries: delivered - deliveredAtWarmup,
      deliveredPerSecond: (delivered - deliveredAtWarmup) / durationMs * 1000,
      perSubscriber: subscribers.map(sub => sub.delivered),
      latency: histogram.summary(),
      connectMs,
      generatorBusy,
      subscribeMs,
      routesReadyMs,
      errors
    }
  } finally {
    stopped = true
    for (const conn of connections) conn.disconnect()
  }
}

/**
 * The probes that show the routes are in place: each publisher's first and last rotation topic to
 * the subscribers that expect it, or with a topic set every topic once (from publisher t mod P) to
 * its owner.
 */
function routeProbes (w: ThroughputWorkload, topicSet: PreparedTopicSet | null): RouteProbe[] {
  if (topicSet !== null && w.topicSet !== undefined) {
    const owners = w.topicSet.owners
    return owners.map((owner, t) => ({ publisher: t % w.publishers.length, topicIndex: t, missing: new Set([owner]), sentAt: Number.NEGATIVE_INFINITY }))
  }
  return w.publishers.flatMap((spec, p) => {
    const count = rotationOf(spec.topics).count
    const receivers = w.subscribers.flatMap((sub, s) => sub.expects.includes(p) ? [s] : [])
    return (count > 1 ? [0, count - 1] : [0]).map(topicIndex => ({ publisher: p, topicIndex, missing: new Set(receivers), sentAt: Number.NEGATIVE_INFINITY }))
  })
}

/** Sends every probe that has not reached all its subscribers, again and again, until all have. */
async function waitForRoutes (timeoutMs: number, probes: readonly RouteProbe[], publishers: readonly Publisher[]): Promise<void> {
  const deadline = performance.now() + timeoutMs
  const resendMs = Math.max(PROBE_INTERVAL_MS, probes.length / PROBES_PER_MS)
  for (;;) {
    const pending = probes.filter(probe => probe.missing.size > 0)
    if (pending.length === 0) return
    const now = performance.now()
    if (now > deadline) {
      const missing = pending.reduce((n, probe) => n + probe.missing.size, 0)
      throw new RoutesNotReadyError(`${missing} publisher→subscriber routes delivered no probe within ${timeoutMs} ms`)
    }
    for (const probe of pending) {
      if (now - probe.sentAt < resendMs) continue
      const pub = publishers[probe.publisher]!
      pub.conn.queue(pub.probes.probe(probe.topicIndex, now))
      probe.sentAt = now
    }
    await sleep(PROBE_INTERVAL_MS)
  }
}

function rotationOf (topics: TopicRotation | null): TopicRotation {
  if (topics === null) throw new UsageError('a publisher without a topic rotation needs the workload\'s topicSet')
  return topics
}

/** Publishes `ratePerPublisher` msg/s from each publisher on a 1 ms tick until `stopped()`. */
async function runPaced (ratePerPublisher: number, publishers: Publisher[], pump: (pub: Publisher, due: number) => void, stopped: () => boolean): Promise<void> {
  const start = performance.now()
  while (!stopped() && publishers.some(pub => pub.sent < pub.limit)) {
    const owed = Math.floor((performance.now() - start) * ratePerPublisher / 1000)
    for (const pub of publishers) if (owed > pub.sent) pump(pub, owed - pub.sent)
    await sleep(PACED_TICK_MS)
  }
}

/** Waits until `done()`, or nothing arrived for DRAIN_IDLE_MS, or DRAIN_MAX_MS passed. */
async function drain (done: () => boolean, lastArrival: () => number): Promise<void> {
  const start = performance.now()
  while (!done()) {
    const now = performance.now()
    if (now - start > DRAIN_MAX_MS || now - Math.max(lastArrival(), start) > DRAIN_IDLE_MS) return
    await sleep(10)
  }
}

async function until (condition: () => boolean, pollMs: number): Promise<void> {
  while (!condition()) await sleep(pollMs)
}

async function sleep (ms: number): Promise<void> {
  await new Promise<void>(resolve => setTimeout(resolve, ms))
}
