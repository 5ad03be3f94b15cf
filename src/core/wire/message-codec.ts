/**
 * Compact binary encoding of application `Message`s for the forward stream (no JSON on the data
 * path). Messages travel in batches; within a batch a string already sent (a topic or publisher
 * seen earlier in the same batch) is replaced by its index, so a burst on a few topics costs each
 * topic's bytes once. Each message is length-prefixed, so a receiver can refuse one it cannot
 * accept (a QoS 3, an invalid topic, a field it does not know) and read on. Layout of one message:
 *
 *   length            varint: bytes of the rest of the message
 *   flags u8          bits 0-1 qos, bit 2 retain, bit 3 has expiresAt, bit 4 has properties,
 *                     bit 5 has origin (absent: the origin is the sending node), bit 6 has shared
 *   topic             string ref
 *   publisher         string ref
 *   [origin]          string ref
 *   [shared]          varint (targets << 1 | redispatched), then per target: group string ref,
 *                     filter string ref (the shared subscriptions this node was picked for)
 *   [expiresAt]       varint (epoch ms)
 *   [properties]      u8 presence bits, then each present field (see `writeProperties`)
 *   payload           byte string
 *
 * The string refs come first: a message refused after them leaves the batch's table as the
 * sender's, so the messages after it are read correctly. A message whose refs cannot be read
 * leaves the table unknown: the reader throws, and the rest of the batch is unreadable.
 *
 * A string ref is a varint: 0 is followed by the string itself, which then gets the next index of
 * the batch's table (while the table holds fewer than `MAX_BATCH_STRINGS`); n > 0 refers to entry
 * n - 1. Strings and byte strings are a varint length followed by the bytes (see `binary.ts`).
 */
import { MalformedFrameError } from './wire-errors.js'
import type { BinaryReader, BinaryWriter } from './binary.js'
import type { Message, MessageProperties, QoS, SharedForward, SharedTarget } from '../mqtt/message.js'
import { isValidTopicName } from '../mqtt/topic.js'

const FLAG_RETAIN = 0x04
const FLAG_EXPIRY = 0x08
const FLAG_PROPERTIES = 0x10
const FLAG_ORIGIN = 0x20
const FLAG_SHARED = 0x40
const KNOWN_FLAGS = 0x7f

const PROP_PAYLOAD_FORMAT = 0x01
const PROP_PAYLOAD_FORMAT_UTF8 = 0x02
const PROP_CONTENT_TYPE = 0x04
const PROP_RESPONSE_TOPIC = 0x08
const PROP_CORRELATION_DATA = 0x10
const PROP_USER_PROPERTIES = 0x20
const KNOWN_PROPS = 0x3f

/** Strings a batch's table holds at most; later new strings are sent in full every time. */
export const MAX_BATCH_STRINGS = 4096

/** Bytes of the length, a flags byte, varints and such per message beyond its strings and payload, rounded up. */
const MESSAGE_OVERHEAD_BYTES = 40

/**
 * An upper bound of a message's encoded size (every string at 3 bytes per UTF-16 unit), used to
 * bound queues and batches before encoding.
 */
export function encodedSizeBound (message: Message): number {
  let size = MESSAGE_OVERHEAD_BYTES + message.payload.byteLength + 3 * (message.topic.length + message.publisher.length + message.origin.length)
  if (message.shared !== undefined) {
    for (const { group, filter } of message.shared.targets) size += 3 * (group.length + filter.length) + 10
  }
  const p = message.properties
  if (p !== undefined) {
    if (p.contentType !== undefined) size += 3 * p.contentType.length + 5
    if (p.responseTopic !== undefined) size += 3 * p.responseTopic.length + 5
    if (p.correlationData !== undefined) size += p.correlationData.byteLength + 5
    if (p.userProperties !== undefined) {
      for (const [key, value] of p.userProperties) size += 3 * (key.length + value.length) + 10
    }
  }
  return size
}

/** Writes the messages of one batch; `reset()` starts the next batch (and its string table). */
export class MessageBatchWriter {
  private readonly table = new Map<string, number>()
  private sender = ''
  /** The previous message's topic and publisher with their refs: runs of one publisher skip the map. */
  private lastTopic = ''
  private lastTopicRef = 0
  private lastPublisher = ''
  private lastPublisherRef = 0

  /** Starts a batch sent by node `sender`; a message whose origin it is does not carry its origin. */
  reset (sender: string): void {
    this.table.clear()
    this.sender = sender
    this.lastTopicRef = 0
    this.lastPublisherRef = 0
  }

  write (writer: BinaryWriter, message: Message): void {
    const mark = writer.reserveLength()
    const properties = message.properties
    const hasProperties = properties !== undefined && hasAnyProperty(properties)
    const hasOrigin = message.origin !== this.sender
    let flags: number = message.qos
    if (message.retain) flags |= FLAG_RETAIN
    if (message.expiresAt !== undefined) flags |= FLAG_EXPIRY
    if (hasProperties) flags |= FLAG_PROPERTIES
    if (hasOrigin) flags |= FLAG_ORIGIN
    const shared = message.shared
    if (shared !== undefined) flags |= FLAG_SHARED
    writer.u8(flags)
    if (this.lastTopicRef > 0 && message.topic === this.lastTopic) {
      writer.varint(this.lastTopicRef)
    } else {
      this.lastTopic = message.topic
      this.lastTopicRef = this.stringRef(writer, message.topic)
    }
    if (this.lastPublisherRef > 0 && message.publisher === this.lastPublisher) {
      writer.varint(this.lastPublisherRef)
    } else {
      this.lastPublisher = message.publisher
      this.lastPublisherRef = this.stringRef(writer, message.publisher)
    }
    if (hasOrigin) this.stringRef(writer, message.origin)
    if (shared !== undefined) {
      writer.varint(shared.targets.length * 2 + (shared.redispatched ? 1 : 0))
      for (const { group, filter } of shared.targets) {
        this.stringRef(writer, group)
        this.stringRef(writer, filter)
      }
    }
    if (message.expiresAt !== undefined) writer.varint(message.expiresAt)
    if (hasProperties) writeProperties(writer, properties)
    writer.bytes(message.payload)
    writer.fillLength(mark)
  }

  /** Writes a ref to `value`; returns the ref later occurrences can use (0 if it has none). */
  private stringRef (writer: BinaryWriter, value: string): number {
    const index = this.table.get(value)
    if (index !== undefined) {
      writer.varint(index + 1)
      return index + 1
    }
    writer.u8(0).string(value)
    if (this.table.size >= MAX_BATCH_STRINGS) return 0
    this.table.set(value, this.table.size)
    return this.table.size
  }
}

/** Reads the messages of one batch written by a `MessageBatchWriter` of node `sender`. */
export class MessageBatchReader {
  private readonly table: string[] = []
  /** Topics of this batch already found valid: a topic is checked once per batch. */
  private readonly validTopics = new Set<string>()

  constructor (private readonly sender: string) {}

  /**
   * Reads the next message: the message, or a `RefusedMessage` saying why it cannot be accepted (the
   * reader is then past it). Throws MalformedFrameError when the message's length or string refs
   * cannot be read: the rest of the batch cannot be read either.
   *
   * QoS 0 payloads are views into the frame (they are delivered at once, so the frame is not
   * held for long); QoS 1/2 payloads are copies, since they may wait in sessions.
   */
  read (reader: BinaryReader): Message | RefusedMessage {
    const outer = reader.limit(reader.varint())
    const flags = reader.u8()
    const topic = this.stringRef(reader)
    const publisher = this.stringRef(reader)
    const origin = (flags & FLAG_ORIGIN) !== 0 ? this.stringRef(reader) : this.sender
    const shared = (flags & FLAG_SHARED) !== 0 ? this.sharedForward(reader) : undefined
    let topicValid = this.validTopics.has(topic)
    if (!topicValid && isValidTopicName(topic)) {
      topicValid = true
      if (this.validTopics.size < MAX_BATCH_STRINGS) this.validTopics.add(topic)
    }
    let result: Message | RefusedMessage
    try {
      result = readFields(reader, flags, topic, topicValid, publisher, origin)
      if (shared !== undefined && !(result instanceof RefusedMessage)) result.shared = shared
    } catch (err) {
      if (!(err instanceof MalformedFrameError)) throw err
      result = new RefusedMessage(err.message, flags & 0x03)
    }
    reader.unlimit(outer)
    return result
  }

  /** The shared targets; their count is bounded by the message's length (each takes two bytes at least). */
  private sharedForward (reader: BinaryReader): SharedForward {
    const head = reader.varint()
    const count = Math.floor(head / 2)
    if (count > reader.remaining) throw new MalformedFrameError(`${count} shared targets in ${reader.remaining} bytes`)
    const targets: SharedTarget[] = []
    for (let i = 0; i < count; i++) targets.push({ group: this.stringRef(reader), filter: this.stringRef(reader) })
    return { targets, redispatched: (head & 1) === 1 }
  }

  private stringRef (reader: BinaryReader): string {
    const ref = reader.varint()
    if (ref === 0) {
      const value = reader.string()
      if (this.table.length < MAX_BATCH_STRINGS) this.table.push(value)
      return value
    }
    const value = this.table[ref - 1]
    if (value === undefined) throw new MalformedFrameError(`string ref ${ref} beyond the ${this.table.length} strings of the batch`)
    return value
  }
}

/** A message of a batch the receiver cannot accept, and why; the rest of the batch is unaffected. */
export class RefusedMessage {
  /** `qosBits` are the low two flag bits, the QoS the sender gave it (3 is one reason to refuse). */
  constructor (readonly reason: string, readonly qosBits: number) {}
}

/** The fields after the string refs, and the checks that make a message acceptable. */
function readFields (reader: BinaryReader, flags: number, topic: string, topicValid: boolean, publisher: string, origin: string): Message | RefusedMessage {
  const qos = flags & 0x03
  if ((flags & ~KNOWN_FLAGS) !== 0) return new RefusedMessage(`unknown message flags 0x${flags.toString(16)}`, qos)
  if (qos > 2) return new RefusedMessage(`qos ${qos}`, qos)
  if (!topicValid) return new RefusedMessage('invalid topic name', qos)
  if (origin.length === 0) return new RefusedMessage('empty origin', qos)
  const expiresAt = (flags & FLAG_EXPIRY) !== 0 ? reader.varint() : undefined
  const properties = (flags & FLAG_PROPERTIES) !== 0 ? readProperties(reader) : undefined
  const payload = qos === 0 ? reader.bytesView() : reader.bytes()
  if (reader.remaining !== 0) return new RefusedMessage(`${reader.remaining} unknown trailing bytes`, qos)
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
