/**
 * Hand-made MQTT encodings for what `mqtt-packet` cannot express: topic bytes that are not valid
 * UTF-8, properties in a chosen order (with repeated User Properties interleaved), and reading the
 * properties of a received PUBLISH in wire order.
 */

/** MQTT 5 property identifiers used by the tests (§2.2.2.2). */
export const PropertyId = {
  PayloadFormatIndicator: 0x01,
  MessageExpiryInterval: 0x02,
  ContentType: 0x03,
  ResponseTopic: 0x08,
  CorrelationData: 0x09,
  SubscriptionIdentifier: 0x0b,
  TopicAlias: 0x23,
  UserProperty: 0x26
} as const

/** One property as it appears on the wire. */
export type WireProperty =
  | { id: typeof PropertyId.PayloadFormatIndicator, value: number }
  | { id: typeof PropertyId.MessageExpiryInterval, value: number }
  | { id: typeof PropertyId.ContentType | typeof PropertyId.ResponseTopic, value: string }
  | { id: typeof PropertyId.CorrelationData, value: Buffer }
  | { id: typeof PropertyId.SubscriptionIdentifier, value: number }
  | { id: typeof PropertyId.TopicAlias, value: number }
  | { id: typeof PropertyId.UserProperty, value: [string, string] }

/** The property in a received packet had an identifier this decoder does not know. */
export class UnknownPropertyError extends Error {
  override name = 'UnknownPropertyError'
  constructor (readonly id: number) { super(`unknown property identifier 0x${id.toString(16)}`) }
}

/** Variable Byte Integer (§1.5.5). */
export function varint (value: number): Buffer {
  const bytes: number[] = []
  do {
    let byte = value % 128
    value = Math.floor(value / 128)
    if (value > 0) byte |= 0x80
    bytes.push(byte)
  } while (value > 0)
  return Buffer.from(bytes)
}

/** Two-byte length followed by the bytes (a UTF-8 Encoded String or Binary Data, §1.5.4/§1.5.6). */
export function lengthPrefixed (bytes: Buffer | string): Buffer {
  const body = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes
  const length = Buffer.alloc(2)
  length.writeUInt16BE(body.length)
  return Buffer.concat([length, body])
}

function uint16 (value: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(value)
  return b
}

function uint32 (value: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(value)
  return b
}

/** Encodes properties in the given order, preceded by their length. */
export function encodeProperties (properties: WireProperty[]): Buffer {
  const parts = properties.map(p => {
    const id = Buffer.from([p.id])
    switch (p.id) {
      case PropertyId.PayloadFormatIndicator: return Buffer.concat([id, Buffer.from([p.value])])
      case PropertyId.MessageExpiryInterval: return Buffer.concat([id, uint32(p.value)])
      case PropertyId.ContentType:
      case PropertyId.ResponseTopic: return Buffer.concat([id, lengthPrefixed(p.value)])
      case PropertyId.CorrelationData: return Buffer.concat([id, lengthPrefixed(p.value)])
      case PropertyId.SubscriptionIdentifier: return Buffer.concat([id, varint(p.value)])
      case PropertyId.TopicAlias: return Buffer.concat([id, uint16(p.value)])
      case PropertyId.UserProperty: return Buffer.concat([id, lengthPrefixed(p.value[0]), lengthPrefixed(p.value[1])])
    }
    throw new UnknownPropertyError((p as { id: number }).id)
  })
  const body = Buffer.concat(parts)
  return Buffer.concat([varint(body.length), body])
}

export interface RawPublish {
  /** Topic as raw bytes (may be invalid UTF-8) or text. */
  topic: Buffer | string
  qos?: 0 | 1 | 2
  retain?: boolean
  dup?: boolean
  packetId?: number
  /** MQTT 5 properties; when given (even empty) the packet is encoded as v5. */
  properties?: WireProperty[]
  payload?: Buffer | string
}

/** A complete PUBLISH packet (§3.3) built byte by byte. */
export function encodePublish (p: RawPublish): Buffer {
  const qos = p.qos ?? 0
  const first = 0x30 | (p.dup === true ? 0x08 : 0) | (qos << 1) | (p.retain === true ? 1 : 0)
  const parts = [lengthPrefixed(p.topic)]
  if (qos > 0) parts.push(uint16(p.packetId ?? 1))
  if (p.properties !== undefined) parts.push(encodeProperties(p.properties))
  parts.push(typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload ?? Buffer.alloc(0))
  const body = Buffer.concat(parts)
  return Buffer.concat([Buffer.from([first]), varint(body.length), body])
}

/** A control packet from its first byte and its body: the Remaining Length is computed (§2.1). */
export function encodePacket (first: number, ...body: Buffer[]): Buffer {
  const bytes = Buffer.concat(body)
  return Buffer.concat([Buffer.from([first]), varint(bytes.length), bytes])
}

/** A property block (§2.2.2) of properties given as raw bytes (identifier included), preceded by its length. */
export function propertyBlock (...properties: Buffer[]): Buffer {
  const body = Buffer.concat(properties)
  return Buffer.concat([varint(body.length), body])
}

/** A User Property (§3.1.2.11.8) whose name and value are raw bytes (possibly ill-formed UTF-8). */
export function rawUserProperty (name: Buffer | string, value: Buffer | string): Buffer {
  return Buffer.concat([Buffer.from([PropertyId.UserProperty]), lengthPrefixed(name), lengthPrefixed(value)])
}

/**
 * A SUBSCRIBE (§3.8) with one filter given as raw bytes; `v5` adds a property block, `properties`
 * (a whole block, see propertyBlock) or an empty one.
 */
export function encodeSubscribe (filter: Buffer | string, options: number, packetId: number, v5: boolean, properties?: Buffer): Buffer {
  const parts = [uint16(packetId)]
  if (v5) parts.push(properties ?? varint(0))
  parts.push(lengthPrefixed(filter), Buffer.from([options]))
  return encodePacket(0x82, ...parts)
}

/** An UNSUBSCRIBE (§3.10) of filters given as raw bytes; `v5` adds a property block, `properties` or an empty one. */
export function encodeUnsubscribe (filters: Array<Buffer | string>, packetId: number, v5: boolean, properties?: Buffer): Buffer {
  const parts = [uint16(packetId)]
  if (v5) parts.push(properties ?? varint(0))
  for (const filter of filters) parts.push(lengthPrefixed(filter))
  return encodePacket(0xa2, ...parts)
}

function readVarint (buf: Buffer, offset: number): { value: number, end: number } {
  let value = 0
  let multiplier = 1
  let pos = offset
  for (;;) {
    const byte = buf[pos++]
    if (byte === undefined) throw new RangeError('truncated variable byte integer')
    value += (byte & 0x7f) * multiplier
    if ((byte & 0x80) === 0) return { value, end: pos }
    multiplier *= 128
  }
}

function readString (buf: Buffer, offset: number): { value: Buffer, end: number } {
  const length = buf.readUInt16BE(offset)
  return { value: buf.subarray(offset + 2, offset + 2 + length), end: offset + 2 + length }
}

/** The properties of an MQTT 5 PUBLISH frame, in the order they appear on the wire. */
export function publishPropertiesInOrder (frame: Buffer): WireProperty[] {
  const qos = (frame[0]! >> 1) & 3
  let pos = readVarint(frame, 1).end
  pos = readString(frame, pos).end
  if (qos > 0) pos += 2
  const { value: length, end } = readVarint(frame, pos)
  const stop = end + length
  pos = end
  const out: WireProperty[] = []
  while (pos < stop) {
    const id = frame[pos++]!
    switch (id) {
      case PropertyId.PayloadFormatIndicator: out.push({ id, value: frame[pos]! }); pos += 1; break
      case PropertyId.MessageExpiryInterval: out.push({ id, value: frame.readUInt32BE(pos) }); pos += 4; break
      case PropertyId.ContentType:
      case PropertyId.ResponseTopic: {
        const s = readString(frame, pos)
        out.push({ id, value: s.value.toString('utf8') })
        pos = s.end
        break
      }
      case PropertyId.CorrelationData: {
        const s = readString(frame, pos)
        out.push({ id, value: Buffer.from(s.value) })
        pos = s.end
        break
      }
      case PropertyId.SubscriptionIdentifier: {
        const v = readVarint(frame, pos)
        out.push({ id, value: v.value })
        pos = v.end
        break
      }
      case PropertyId.TopicAlias: out.push({ id, value: frame.readUInt16BE(pos) }); pos += 2; break
      case PropertyId.UserProperty: {
        const k = readString(frame, pos)
        const v = readString(frame, k.end)
        out.push({ id, value: [k.value.toString('utf8'), v.value.toString('utf8')] })
        pos = v.end
        break
      }
      default: throw new UnknownPropertyError(id)
    }
  }
  return out
}

export interface RawConnect {
  protocolName?: string
  /** Protocol level byte: 3 (3.1), 4 (3.1.1), 5, or any value for negative tests. */
  level: number
  /** Connect flags byte as sent, reserved bit included. */
  flags: number
  keepalive?: number
  clientId: Buffer | string
  /** When given, an MQTT 5 property block (possibly empty) follows the keepalive. */
  properties?: Buffer
  /** Will fields, written whatever the flags say; `properties`: an MQTT 5 Will Properties block. */
  will?: { properties?: Buffer, topic: Buffer | string, payload?: Buffer | string }
  /** Written whatever the flags say. */
  username?: Buffer | string
  /** Written whatever the flags say. */
  password?: Buffer | string
  /** Bytes after the last field. */
  trailing?: Buffer
}

/** A CONNECT (§3.1) built byte by byte from the fields given (no validation). */
export function encodeConnect (c: RawConnect): Buffer {
  const parts = [lengthPrefixed(c.protocolName ?? 'MQTT'), Buffer.from([c.level, c.flags]), uint16(c.keepalive ?? 0)]
  if (c.properties !== undefined) parts.push(c.properties)
  parts.push(lengthPrefixed(c.clientId))
  if (c.will !== undefined) {
    if (c.will.properties !== undefined) parts.push(c.will.properties)
    parts.push(lengthPrefixed(c.will.topic), lengthPrefixed(c.will.payload ?? ''))
  }
  if (c.username !== undefined) parts.push(lengthPrefixed(c.username))
  if (c.password !== undefined) parts.push(lengthPrefixed(c.password))
  if (c.trailing !== undefined) parts.push(c.trailing)
  return encodePacket(0x10, ...parts)
}

/** CONNECT flag bits (§3.1.2.3), for hand-built CONNECT packets. */
export const ConnectFlag = {
  reserved: 0x01,
  cleanStart: 0x02,
  will: 0x04,
  willQos1: 0x08,
  willRetain: 0x20,
  password: 0x40,
  username: 0x80
} as const
