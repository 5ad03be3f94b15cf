/**
 * PUBLISH encoding and decoding (§3.3), done here rather than by mqtt-packet because PUBLISH is
 * the hot path and because the broker must keep v5 User Properties as ordered pairs
 * [MQTT-3.3.2-18] and reject properties that may appear only once [MQTT-2.2.2-2 v5 §2.2.2.2].
 * Other packet types go through mqtt-packet.
 */
import type { QoS } from './message.js'
import { WireReader, malformed, protocolError } from './wire-reader.js'

export interface PublishProperties {
  payloadFormatIndicator?: boolean
  messageExpiryInterval?: number
  topicAlias?: number
  responseTopic?: string
  correlationData?: Buffer
  /** In wire order, names may repeat [MQTT-3.3.2-17, MQTT-3.3.2-18]. */
  userProperties?: Array<[string, string]>
  subscriptionIdentifiers?: number[]
  contentType?: string
}

export interface PublishPacket {
  cmd: 'publish'
  qos: QoS
  dup: boolean
  retain: boolean
  topic: string
  messageId?: number
  payload: Buffer
  properties?: PublishProperties
}

const PROP_PAYLOAD_FORMAT = 0x01
const PROP_MESSAGE_EXPIRY = 0x02
const PROP_CONTENT_TYPE = 0x03
const PROP_RESPONSE_TOPIC = 0x08
const PROP_CORRELATION_DATA = 0x09
const PROP_SUBSCRIPTION_ID = 0x0b
const PROP_TOPIC_ALIAS = 0x23
const PROP_USER_PROPERTY = 0x26

function readProperties (r: WireReader): PublishProperties | undefined {
  const length = r.varint()
  const end = r.pos + length
  if (end > r.end) throw malformed('property length beyond packet')
  if (length === 0) return undefined
  const p: PublishProperties = {}
  const once = (present: boolean, name: string): void => {
    // A property other than User Property / Subscription Identifier twice is a Protocol Error.
    if (present) throw protocolError(`${name} given more than once`)
  }
  while (r.pos < end) {
    const id = r.varint()
    switch (id) {
      case PROP_PAYLOAD_FORMAT: {
        once(p.payloadFormatIndicator !== undefined, 'payload format indicator')
        const v = r.u8()
        if (v > 1) throw protocolError('payload format indicator not 0 or 1')
        p.payloadFormatIndicator = v === 1
        break
      }
      case PROP_MESSAGE_EXPIRY:
        once(p.messageExpiryInterval !== undefined, 'message expiry interval')
        p.messageExpiryInterval = r.u32()
        break
      case PROP_CONTENT_TYPE:
        once(p.contentType !== undefined, 'content type')
        p.contentType = r.string()
        break
      case PROP_RESPONSE_TOPIC:
        once(p.responseTopic !== undefined, 'response topic')
        p.responseTopic = r.string()
        break
      case PROP_CORRELATION_DATA:
        once(p.correlationData !== undefined, 'correlation data')
        p.correlationData = Buffer.from(r.bytes())
        break
      case PROP_SUBSCRIPTION_ID:
        // A client must not send a Subscription Identifier in PUBLISH [MQTT-3.3.4-6].
        throw protocolError('subscription identifier in a client PUBLISH')
      case PROP_TOPIC_ALIAS:
        once(p.topicAlias !== undefined, 'topic alias')
        p.topicAlias = r.u16()
        break
      case PROP_USER_PROPERTY:
        (p.userProperties ??= []).push([r.string(), r.string()])
        break
      default:
        throw malformed(`property 0x${id.toString(16)} not allowed in PUBLISH`)
    }
  }
  if (r.pos !== end) throw malformed('property length mismatch')
  return p
}

/** Decodes one whole PUBLISH frame (fixed header included). */
export function decodePublish (frame: Buffer, protocolVersion: number): PublishPacket {
  const first = frame[0]!
  const qos = (first >> 1) & 3
  // QoS 3 is malformed [MQTT-3.3.1-4]; DUP must be 0 for QoS 0 [MQTT-3.3.1-2].
  if (qos === 3) throw malformed('QoS 3')
  const dup = (first & 0x08) !== 0
  if (dup && qos === 0) throw malformed('DUP set on QoS 0')
  const r = new WireReader(frame, 1, frame.length)
  r.varint()
  const topic = r.string()
  const packet: PublishPacket = { cmd: 'publish', qos: qos as QoS, dup, retain: (first & 1) !== 0, topic, payload: EMPTY }
  if (qos > 0) {
    const id = r.u16()
    // A QoS 1/2 PUBLISH needs a non-zero packet identifier [MQTT-2.2.1-3 (5), MQTT-2.3.1-1 (3.1.1)].
    if (id === 0) throw malformed('packet identifier 0')
    packet.messageId = id
  }
  if (protocolVersion === 5) {
    const properties = readProperties(r)
    if (properties !== undefined) packet.properties = properties
  }
  // Copied so a queued message does not pin the whole socket chunk it arrived in.
  packet.payload = Buffer.from(frame.subarray(r.pos))
  return packet
}

const EMPTY = Buffer.alloc(0)

function varintSize (n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4
}

function writeVarint (buf: Buffer, pos: number, n: number): number {
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    buf[pos++] = byte
  } while (n > 0)
  return pos
}

function propertiesSize (p: PublishProperties): number {
  let size = 0
  if (p.payloadFormatIndicator !== undefined) size += 2
  if (p.messageExpiryInterval !== undefined) size += 5
  if (p.topicAlias !== undefined) size += 3
  if (p.contentType !== undefined) size += 3 + Buffer.byteLength(p.contentType)
  if (p.responseTopic !== undefined) size += 3 + Buffer.byteLength(p.responseTopic)
  if (p.correlationData !== undefined) size += 3 + p.correlationData.length
  if (p.userProperties !== undefined) {
    for (const [k, v] of p.userProperties) size += 5 + Buffer.byteLength(k) + Buffer.byteLength(v)
  }
  if (p.subscriptionIdentifiers !== undefined) {
    for (const id of p.subscriptionIdentifiers) size += 1 + varintSize(id)
  }
  return size
}

function writeString (buf: Buffer, pos: number, s: string): number {
  const len = buf.write(s, pos + 2, 'utf8')
  buf.writeUInt16BE(len, pos)
  return pos + 2 + len
}

function writeProperties (buf: Buffer, pos: number, p: PublishProperties): number {
  if (p.payloadFormatIndicator !== undefined) { buf[pos++] = PROP_PAYLOAD_FORMAT; buf[pos++] = p.payloadFormatIndicator ? 1 : 0 }
  if (p.messageExpiryInterval !== undefined) { buf[pos++] = PROP_MESSAGE_EXPIRY; buf.writeUInt32BE(p.messageExpiryInterval, pos); pos += 4 }
  if (p.topicAlias !== undefined) { buf[pos++] = PROP_TOPIC_ALIAS; buf.writeUInt16BE(p.topicAlias, pos); pos += 2 }
  if (p.contentType !== undefined) { buf[pos++] = PROP_CONTENT_TYPE; pos = writeString(buf, pos, p.contentType) }
  if (p.responseTopic !== undefined) { buf[pos++] = PROP_RESPONSE_TOPIC; pos = writeString(buf, pos, p.responseTopic) }
  if (p.correlationData !== undefined) {
    buf[pos++] = PROP_CORRELATION_DATA
    buf.writeUInt16BE(p.correlationData.length, pos)
    pos += 2 + p.correlationData.copy(buf, pos + 2)
  }
  if (p.subscriptionIdentifiers !== undefined) {
    for (const id of p.subscriptionIdentifiers) { buf[pos++] = PROP_SUBSCRIPTION_ID; pos = writeVarint(buf, pos, id) }
  }
  if (p.userProperties !== undefined) {
    for (const [k, v] of p.userProperties) {
      buf[pos++] = PROP_USER_PROPERTY
      pos = writeString(buf, pos, k)
      pos = writeString(buf, pos, v)
    }
  }
  return pos
}

/** Encodes a PUBLISH for a client speaking `protocolVersion`; properties are written only for v5. */
export function encodePublishPacket (packet: PublishPacket, protocolVersion: number): Buffer {
  const topicLength = Buffer.byteLength(packet.topic)
  let remaining = 2 + topicLength + (packet.qos > 0 ? 2 : 0) + packet.payload.length
  let propsLength = 0
  if (protocolVersion === 5) {
    propsLength = packet.properties === undefined ? 0 : propertiesSize(packet.properties)
    remaining += varintSize(propsLength) + propsLength
  }
  const buf = Buffer.allocUnsafe(1 + varintSize(remaining) + remaining)
  buf[0] = 0x30 | (packet.dup ? 0x08 : 0) | (packet.qos << 1) | (packet.retain ? 1 : 0)
  let pos = writeVarint(buf, 1, remaining)
  buf.writeUInt16BE(topicLength, pos)
  pos += 2
  pos += buf.write(packet.topic, pos, 'utf8')
  if (packet.qos > 0) { buf.writeUInt16BE(packet.messageId ?? 0, pos); pos += 2 }
  if (protocolVersion === 5) {
    pos = writeVarint(buf, pos, propsLength)
    if (packet.properties !== undefined) pos = writeProperties(buf, pos, packet.properties)
  }
  packet.payload.copy(buf, pos)
  return buf
}
