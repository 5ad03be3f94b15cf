/**
 * The generator's side of a topic-set workload: publishers send to topics drawn at random from a
 * set, each topic received by exactly one subscriber. Everything is precomputed before publishing:
 * one PUBLISH template per topic (all in one buffer) and, per publisher, a seeded schedule of topic
 * numbers, so message `seq` of publisher p goes to topic `schedule[p][seq % length]`. A batch is
 * templates copied and patched in place, and a delivery is checked against the same schedule.
 */
import { KIND_DATA, KIND_PROBE, PAYLOAD_KIND_OFFSET, PAYLOAD_PUBLISHER_OFFSET, PAYLOAD_SEQ_OFFSET, PAYLOAD_TIME_OFFSET } from './payload.js'
import { packetIdFor } from './publish-batcher.js'
import { seededRandom, type TopicSet } from './wildcard-mix.js'
import type { QoS } from './workload.js'

/** Topic numbers per publisher schedule (a power of two); more than a run at ~100k msg/s sends per publisher. */
export const SCHEDULE_LENGTH = 1 << 17
const SCHEDULE_MASK = SCHEDULE_LENGTH - 1

/** PUBLISH packets for every topic of a set, QoS `qos`, zero payload of `payloadBytes`, concatenated. */
export class TopicSetPackets {
  readonly bytes: Buffer
  /** Packet t is `bytes[offsets[t] .. offsets[t + 1]]`. */
  readonly offsets: Uint32Array
  /** Where in each packet its topic name starts (after the 2-byte length). */
  readonly topicStarts: Uint32Array
  readonly maxPacketBytes: number

  constructor (topics: readonly string[], readonly qos: QoS, readonly payloadBytes: number) {
    const names = topics.map(topic => Buffer.from(topic, 'utf8'))
    const sizes = names.map(name => {
      const remaining = 2 + name.length + (qos > 0 ? 2 : 0) + payloadBytes
      return 1 + varintBytes(remaining) + remaining
    })
    this.offsets = new Uint32Array(topics.length + 1)
    this.topicStarts = new Uint32Array(topics.length)
    for (let t = 0; t < topics.length; t++) this.offsets[t + 1] = this.offsets[t]! + sizes[t]!
    this.bytes = Buffer.alloc(this.offsets[topics.length]!)
    this.maxPacketBytes = Math.max(...sizes)
    names.forEach((name, t) => {
      let at = this.offsets[t]!
      const remaining = 2 + name.length + (qos > 0 ? 2 : 0) + payloadBytes
      this.bytes[at++] = 0x30 | (qos << 1)
      for (let n = remaining; ; n = Math.floor(n / 128)) {
        this.bytes[at++] = (n % 128) | (n >= 128 ? 0x80 : 0)
        if (n < 128) break
      }
      this.bytes.writeUInt16BE(name.length, at)
      this.topicStarts[t] = at + 2
      name.copy(this.bytes, at + 2)
    })
  }

  /** Whether `buf[start..end]` is topic t's name. */
  isTopic (t: number, buf: Buffer, start: number, end: number): boolean {
    const from = this.topicStarts[t]!
    const to = this.offsets[t + 1]! - this.payloadBytes - (this.qos > 0 ? 2 : 0)
    return end - start === to - from && buf.compare(this.bytes, from, to, start, end) === 0
  }
}

function varintBytes (n: number): number {
  let bytes = 1
  for (let v = n; v >= 128; v = Math.floor(v / 128)) bytes++
  return bytes
}

/** Publisher p's topic numbers: uniform over the set, from a PRNG seeded with `seed` and p. */
export function topicSchedule (seed: number, publisher: number, topicCount: number): Uint32Array {
  const random = seededRandom(seed ^ Math.imul(publisher + 1, 0x9e3779b1))
  const schedule = new Uint32Array(SCHEDULE_LENGTH)
  for (let i = 0; i < SCHEDULE_LENGTH; i++) schedule[i] = Math.floor(random() * topicCount)
  return schedule
}

/** Topic number of message `seq` on a schedule. */
export function scheduledTopic (schedule: Uint32Array, seq: number): number {
  return schedule[seq & SCHEDULE_MASK]!
}

/** Builds batches of one publisher's PUBLISH packets from the shared templates and its schedule. */
export class TopicSetBatcher {
  /** The largest packet: what a write's byte budget is divided by. */
  readonly packetBytes: number

  constructor (private readonly packets: TopicSetPackets, private readonly schedule: Uint32Array, private readonly publisherIndex: number) {
    this.packetBytes = packets.maxPacketBytes
  }

  /** `count` data messages with sequence numbers `firstSeq`…, stamped with `sentAt`. */
  fill (count: number, firstSeq: number, sentAt: number): Buffer {
    const { offsets } = this.packets
    let total = 0
    for (let seq = firstSeq; seq < firstSeq + count; seq++) {
      const t = scheduledTopic(this.schedule, seq)
      total += offsets[t + 1]! - offsets[t]!
    }
    const out = Buffer.allocUnsafe(total)
    let at = 0
    for (let seq = firstSeq; seq < firstSeq + count; seq++) at = this.copy(out, at, scheduledTopic(this.schedule, seq), seq, KIND_DATA, sentAt)
    return out
  }

  /** One route probe to topic t (sequence number t); send probes from a QoS 0 batcher. */
  probe (t: number, sentAt: number): Buffer {
    const { offsets } = this.packets
    const out = Buffer.allocUnsafe(offsets[t + 1]! - offsets[t]!)
    this.copy(out, 0, t, t, KIND_PROBE, sentAt)
    return out
  }

  /** Copies topic t's template to `out[at]`, patches it, and returns where the next packet goes. */
  private copy (out: Buffer, at: number, t: number, seq: number, kind: number, sentAt: number): number {
    const { bytes, offsets, payloadBytes, qos } = this.packets
    const end = at + bytes.copy(out, at, offsets[t], offsets[t + 1])
    const payload = end - payloadBytes
    if (qos > 0) out.writeUInt16BE(packetIdFor(seq), payload - 2)
    out[payload + PAYLOAD_KIND_OFFSET] = kind
    out.writeUInt32BE(this.publisherIndex, payload + PAYLOAD_PUBLISHER_OFFSET)
    out.writeUInt32BE(seq, payload + PAYLOAD_SEQ_OFFSET)
    out.writeDoubleBE(sentAt, payload + PAYLOAD_TIME_OFFSET)
    return end
  }
}

/**
 * Checks deliveries of a topic-set workload: a message is accepted when the subscriber owns the
 * topic the message was published to and it arrived on that topic. Order is checked per publisher
 * and topic (MQTT orders messages per topic; across topics a broker may reorder).
 */
export class TopicSetDeliveries {
  /** Deliveries to a subscriber that does not own the topic, or on another topic than published. */
  misrouted = 0
  outOfOrder = 0
  private readonly lastSeq: Int32Array

  constructor (private readonly set: TopicSet, private readonly packets: TopicSetPackets, private readonly schedules: readonly Uint32Array[]) {
    this.lastSeq = new Int32Array(schedules.length * set.topics.length).fill(-1)
  }

  accept (subscriber: number, publisher: number, seq: number, buf: Buffer, topicStart: number, topicEnd: number): boolean {
    const schedule = this.schedules[publisher]
    if (schedule === undefined) { this.misrouted++; return false }
    const t = scheduledTopic(schedule, seq)
    if (this.set.owners[t] !== subscriber || !this.packets.isTopic(t, buf, topicStart, topicEnd)) { this.misrouted++; return false }
    const slot = publisher * this.set.topics.length + t
    if (seq < this.lastSeq[slot]!) this.outOfOrder++
    else this.lastSeq[slot] = seq
    return true
  }
}

/** What a generator precomputes for a topic-set workload before connecting. */
export interface PreparedTopicSet {
  data: TopicSetBatcher[]
  probes: TopicSetBatcher[]
  deliveries: TopicSetDeliveries
}

/** Templates at `qos` (and at QoS 0 for probes), a schedule per publisher, and the delivery check. */
export function prepareTopicSet (set: TopicSet & { seed: number }, qos: QoS, payloadBytes: number, publishers: number): PreparedTopicSet {
  const data = new TopicSetPackets(set.topics, qos, payloadBytes)
  const probes = qos === 0 ? data : new TopicSetPackets(set.topics, 0, payloadBytes)
  const schedules = Array.from({ length: publishers }, (_, p) => topicSchedule(set.seed, p, set.topics.length))
  return {
    data: schedules.map((schedule, p) => new TopicSetBatcher(data, schedule, p)),
    probes: schedules.map((schedule, p) => new TopicSetBatcher(probes, schedule, p)),
    deliveries: new TopicSetDeliveries(set, data, schedules)
  }
}
