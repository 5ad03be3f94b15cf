/**
 * Compact binary encoding of an application `Message` for the forward stream (no JSON on the data
 * path). Layout:
 *
 *   flags u8          bits 0-1 qos, bit 2 retain, bit 3 has expiresAt, bit 4 has properties
 *   topic             string
 *   publisher         string
 *   origin            string
 *   [expiresAt]       varint (epoch ms)
 *   [properties]      u8 presence bits, then each present field (see `writeProperties`)
 *   payload           byte string
 *
 * Strings and byte strings are a varint length followed by the bytes (see `wire.ts`).
 */
import { MalformedFrameError } from './errors.js'
import type { BinaryReader, BinaryWriter } from './wire.js'
import type { Message, MessageProperties, QoS } from '../src/protocol/message.js'

const FLAG_RETAIN = 0x04
const FLAG_EXPIRY = 0x08
const FLAG_PROPERTIES = 0x10
const KNOWN_FLAGS = 0x1f

const PROP_PAYLOAD_FORMAT = 0x01
const PROP_PAYLOAD_FORMAT_UTF8 = 0x02
const PROP_CONTENT_TYPE = 0x04
const PROP_RESPONSE_TOPIC = 0x08
const PROP_CORRELATION_DATA = 0x10
const PROP_USER_PROPERTIES = 0x20
const KNOWN_PROPS = 0x3f

/** A user property value is written as a tag: 0 for a single string, n + 1 for an array of n. */

export function writeMessage (writer: BinaryWriter, message: Message): void {
  const properties = message.properties
  const hasProperties = properties !== undefined && hasAnyProperty(properties)
  let flags: number = message.qos
  if (message.retain) flags |= FLAG_RETAIN
  if (message.expiresAt !== undefined) flags |= FLAG_EXPIRY
  if (hasProperties) flags |= FLAG_PROPERTIES
  writer.u8(flags)
  writer.string(message.topic)
  writer.string(message.publisher)
  writer.string(message.origin)
  if (message.expiresAt !== undefined) writer.varint(message.expiresAt)
  if (hasProperties) writeProperties(writer, properties)
  writer.bytes(message.payload)
}

export function readMessage (reader: BinaryReader): Message {
  const flags = reader.u8()
  if ((flags & ~KNOWN_FLAGS) !== 0) throw new MalformedFrameError(`unknown message flags 0x${flags.toString(16)}`)
  const qos = flags & 0x03
  if (qos > 2) throw new MalformedFrameError(`qos ${qos}`)
  const topic = reader.string()
  const publisher = reader.string()
  const origin = reader.string()
  const expiresAt = (flags & FLAG_EXPIRY) !== 0 ? reader.varint() : undefined
  const properties = (flags & FLAG_PROPERTIES) !== 0 ? readProperties(reader) : undefined
  const payload = reader.bytes()
  const message: Message = { topic, payload, qos: qos as QoS, retain: (flags & FLAG_RETAIN) !== 0, publisher, origin }
  if (expiresAt !== undefined) message.expiresAt = expiresAt
  if (properties !== undefined) message.properties = properties
  return message
}

function hasAnyProperty (p: MessageProperties): boolean {
  return p.payloadFormatIndicator !== undefined || p.contentType !== undefined || p.responseTopic !== undefined ||
    p.correlationData !== undefined || p.userProperties !== undefined
}

function writeProperties (writer: BinaryWriter, p: MessageProperties): void {
  let bits = 0
  if (p.payloadFormatIndicator !== undefined) bits |= PROP_PAYLOAD_FORMAT | (p.payloadFormatIndicator ? PROP_PAYLOAD_FORMAT_UTF8 : 0)
  if (p.contentType !== undefined) bits |= PROP_CONTENT_TYPE
  if (p.responseTopic !== undefined) bits |= PROP_RESPONSE_TOPIC
  if (p.correlationData !== undefined) bits |= PROP_CORRELATION_DATA
  if (p.userProperties !== undefined) bits |= PROP_USER_PROPERTIES
  writer.u8(bits)
  if (p.contentType !== undefined) writer.string(p.contentType)
  if (p.responseTopic !== undefined) writer.string(p.responseTopic)
  if (p.correlationData !== undefined) writer.bytes(p.correlationData)
  if (p.userProperties !== undefined) {
    // Ordered pairs, names may repeat [MQTT-3.3.2-18].
    writer.varint(p.userProperties.length)
    for (const [key, value] of p.userProperties) {
      writer.string(key)
      writer.string(value)
    }
  }
}

function readProperties (reader: BinaryReader): MessageProperties {
  const bits = reader.u8()
  if ((bits & ~KNOWN_PROPS) !== 0) throw new MalformedFrameError(`unknown property bits 0x${bits.toString(16)}`)
  const properties: MessageProperties = {}
  if ((bits & PROP_PAYLOAD_FORMAT) !== 0) properties.payloadFormatIndicator = (bits & PROP_PAYLOAD_FORMAT_UTF8) !== 0
  if ((bits & PROP_CONTENT_TYPE) !== 0) properties.contentType = reader.string()
  if ((bits & PROP_RESPONSE_TOPIC) !== 0) properties.responseTopic = reader.string()
  if ((bits & PROP_CORRELATION_DATA) !== 0) properties.correlationData = reader.bytes()
  if ((bits & PROP_USER_PROPERTIES) !== 0) {
    const count = reader.count()
    const pairs: Array<[string, string]> = []
    for (let i = 0; i < count; i++) pairs.push([reader.string(), reader.string()])
    properties.userProperties = pairs
  }
  return properties
}
