/**
 * Builds runs of PUBLISH packets for one publisher: mqtt-packet generates one template packet, and
 * each batch is that template copied N times with the topic number, packet id, sequence number and
 * send time patched in place. Every packet of a publisher has the same size.
 */
import mqtt from 'mqtt-packet'
import type { QoS, TopicRotation } from './workload.js'
import { KIND_DATA, KIND_PROBE, PAYLOAD_KIND_OFFSET, PAYLOAD_PUBLISHER_OFFSET, PAYLOAD_SEQ_OFFSET, PAYLOAD_TIME_OFFSET } from './payload.js'

/** The topic a rotation gives message `seq`. */
export function topicFor (topics: TopicRotation, seq: number): string {
  if (topics.digits === 0) return topics.prefix + topics.suffix
  return topics.prefix + String(topics.first + (seq % topics.count)).padStart(topics.digits, '0') + topics.suffix
}

export class PublishBatcher {
  /** Bytes of one packet. */
  readonly packetBytes: number
  private readonly template: Buffer
  private readonly digitsOffset: number
  private readonly packetIdOffset: number
  private readonly payloadOffset: number

  constructor (private readonly topics: TopicRotation, private readonly qos: QoS, payloadBytes: number, publisherIndex: number) {
    const payload = Buffer.alloc(payloadBytes)
    payload.writeUInt32BE(publisherIndex, PAYLOAD_PUBLISHER_OFFSET)
    const topic = topicFor(topics, 0)
    this.template = mqtt.generate(qos > 0 ? { cmd: 'publish', topic, payload, qos, messageId: 1, dup: false, retain: false } : { cmd: 'publish', topic, payload, qos, dup: false, retain: false })
    this.packetBytes = this.template.length
    this.payloadOffset = this.packetBytes - payloadBytes
    this.packetIdOffset = this.payloadOffset - 2
    const topicOffset = (qos > 0 ? this.packetIdOffset : this.payloadOffset) - Buffer.byteLength(topic)
    this.digitsOffset = topicOffset + Buffer.byteLength(topics.prefix)
  }

  /** `count` data messages with sequence numbers `firstSeq`…, stamped with `sentAt`. */
  fill (count: number, firstSeq: number, sentAt: number): Buffer {
    const size = this.packetBytes
    const out = Buffer.allocUnsafe(count * size)
    for (let k = 0; k < count; k++) {
      const at = k * size
      const seq = firstSeq + k
      this.template.copy(out, at)
      this.patch(out, at, seq, seq, KIND_DATA, sentAt)
    }
    return out
  }

  /**
   * One route probe to the rotation's topic number `topicIndex`; probes are not counted as data.
   * Send probes from a QoS 0 batcher so their PUBACKs cannot be mistaken for data PUBACKs.
   */
  probe (topicIndex: number, sentAt: number): Buffer {
    const out = Buffer.from(this.template)
    this.patch(out, 0, topicIndex, topicIndex, KIND_PROBE, sentAt)
    return out
  }

  private patch (out: Buffer, at: number, seq: number, topicSeq: number, kind: number, sentAt: number): void {
    if (this.topics.digits > 0) {
      let n = this.topics.first + (topicSeq % this.topics.count)
      for (let d = this.topics.digits - 1; d >= 0; d--) {
        out[at + this.digitsOffset + d] = 0x30 + (n % 10)
        n = Math.floor(n / 10)
      }
    }
    if (this.qos > 0) out.writeUInt16BE(packetIdFor(seq), at + this.packetIdOffset)
    const payload = at + this.payloadOffset
    out[payload + PAYLOAD_KIND_OFFSET] = kind
    out.writeUInt32BE(seq, payload + PAYLOAD_SEQ_OFFSET)
    out.writeDoubleBE(sentAt, payload + PAYLOAD_TIME_OFFSET)
  }
}

/** The packet id `PublishBatcher` gives message `seq` at QoS 1. */
export function packetIdFor (seq: number): number {
  return (seq % 0xffff) + 1
}
