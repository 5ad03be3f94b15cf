/**
 * Checks of a client's control packets other than PUBLISH (publish-codec.ts decodes and checks
 * those) on their raw bytes, for what mqtt-packet lets through: it decodes strings leniently (an
 * ill-formed sequence becomes U+FFFD), accepts packet identifier 0, a SUBSCRIBE or UNSUBSCRIBE
 * without a topic filter, bytes after the last field of a CONNECT, repeated or misplaced MQTT 5
 * properties. Each finding is a Malformed Packet or a Protocol Error: the connection closes (v5
 * first gets the reason code in a DISCONNECT, or in a CONNACK for a CONNECT) [MQTT-4.13.1-1
 * (5), MQTT-4.8.0-1 (3.1.1)]. Pure: bytes in, a finding out.
 */
import { WireReader, PacketDecodeError, malformed, protocolError } from './wire-reader.js'
import { checkProperties, PropertyScope } from './property-check.js'

/** What is wrong with a packet: the reason code for a v5 client and a short text for the log. */
export interface PacketViolation { reasonCode: number, reason: string }

const CONNECT = 1
const PUBACK = 4
const PUBCOMP = 7
const SUBSCRIBE = 8
const UNSUBSCRIBE = 10
const PINGREQ = 12
const DISCONNECT = 14
const AUTH = 15

const ACK_NAMES = ['PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP'] as const

/** The protocol name and level a CONNECT frame announces, or undefined when they cannot be read. */
export function connectProtocol (frame: Buffer): { name: string, level: number } | undefined {
  try {
    const r = bodyReader(frame)
    const length = r.u16()
    if (r.pos + length > r.end) return undefined
    const name = frame.toString('latin1', r.pos, r.pos + length)
    r.pos += length
    return { name, level: r.u8() }
  } catch {
    return undefined
  }
}

/**
 * Checks one whole frame of a client. `protocolVersion` is that of the connection; a CONNECT is
 * read with the level it announces. Returns undefined when the checks pass or do not apply.
 */
export function checkInboundFrame (frame: Buffer, protocolVersion: number): PacketViolation | undefined {
  const type = frame[0]! >> 4
  try {
    switch (type) {
      case CONNECT: checkConnect(frame); break
      case SUBSCRIBE: checkSubscribe(frame, protocolVersion); break
      case UNSUBSCRIBE: checkUnsubscribe(frame, protocolVersion); break
      case PINGREQ:
        // No variable header and no payload (§3.12).
        if (frame.length !== 2) throw malformed('PINGREQ with a body')
        break
      case DISCONNECT:
        if (protocolVersion !== 5) {
          if (frame.length !== 2) throw malformed('DISCONNECT with a body')
        } else if (frame.length > 3) {
          const r = bodyReader(frame)
          r.u8()
          checkProperties(r, PropertyScope.disconnect, 'DISCONNECT')
          expectEnd(r, 'DISCONNECT')
        }
        break
      case AUTH:
        if (protocolVersion === 5 && frame.length > 3) {
          const r = bodyReader(frame)
          r.u8()
          checkProperties(r, PropertyScope.auth, 'AUTH')
          expectEnd(r, 'AUTH')
        }
        break
      default:
        if (type >= PUBACK && type <= PUBCOMP) checkAck(frame, type, protocolVersion)
    }
  } catch (err) {
    if (err instanceof PacketDecodeError) return { reasonCode: err.reasonCode, reason: err.message }
    throw err
  }
  return undefined
}

/** A reader of the frame's body: after the fixed header, up to the frame's end. */
function bodyReader (frame: Buffer): WireReader {
  const r = new WireReader(frame, 1, frame.length)
  r.varint()
  return r
}

function expectEnd (r: WireReader, packet: string): void {
  if (!r.atEnd()) throw malformed(`bytes after the last field of ${packet}`)
}

/** SUBSCRIBE, UNSUBSCRIBE: a non-zero packet identifier [MQTT-2.2.1-3 (5), MQTT-2.3.1-1 (3.1.1)]. */
function packetIdentifier (r: WireReader, packet: string): void {
  if (r.u16() === 0) throw malformed(`${packet} with packet identifier 0`)
}

/**
 * PUBACK, PUBREC, PUBREL, PUBCOMP: in 3.1.1 exactly a packet identifier (§3.4–3.7); in v5 a packet
 * identifier, then optionally a reason code and properties. The hot path: a frame of at most 5
 * bytes (no properties) is checked by its length alone.
 */
function checkAck (frame: Buffer, type: number, protocolVersion: number): void {
  const name = ACK_NAMES[type - PUBACK]!
  if (protocolVersion !== 5) {
    if (frame.length !== 4) throw malformed(`${name} of ${frame.length - 2} bytes, not 2`)
    return
  }
  if (frame.length < 4) throw malformed(`${name} without a packet identifier`)
  if (frame.length <= 5) return
  const r = bodyReader(frame)
  r.u16()
  r.u8()
  checkProperties(r, PropertyScope.ack, name)
  expectEnd(r, name)
}

/**
 * SUBSCRIBE (§3.8): packet identifier, properties (v5), then one or more topic filters
 * [MQTT-3.8.3-2 (5), MQTT-3.8.3-3 (3.1.1)], each a UTF-8 string [MQTT-3.8.3-1] followed by its
 * options byte, whose reserved bits must be 0 and QoS not 3 [MQTT-3.8.3-5 (5), MQTT-3.8.3-4
 * (3.1.1)]; Retain Handling 3 is a Protocol Error (§3.8.3.1).
 */
function checkSubscribe (frame: Buffer, protocolVersion: number): void {
  const r = bodyReader(frame)
  packetIdentifier(r, 'SUBSCRIBE')
  const v5 = protocolVersion === 5
  if (v5) checkProperties(r, PropertyScope.subscribe, 'SUBSCRIBE')
  if (r.atEnd()) throw protocolError('SUBSCRIBE without a topic filter')
  while (!r.atEnd()) {
    r.skipString('topic filter')
    const options = r.u8()
    if ((options & (v5 ? 0xc0 : 0xfc)) !== 0) throw malformed('reserved bits set in subscription options')
    if ((options & 0x03) === 3) throw malformed('subscription with QoS 3')
    if (v5 && ((options >> 4) & 0x03) === 3) throw protocolError('retain handling 3')
  }
}

/** UNSUBSCRIBE (§3.10): packet identifier, properties (v5), one or more UTF-8 topic filters [MQTT-3.10.3-1, MQTT-3.10.3-2]. */
function checkUnsubscribe (frame: Buffer, protocolVersion: number): void {
  const r = bodyReader(frame)
  packetIdentifier(r, 'UNSUBSCRIBE')
  if (protocolVersion === 5) checkProperties(r, PropertyScope.unsubscribe, 'UNSUBSCRIBE')
  if (r.atEnd()) throw protocolError('UNSUBSCRIBE without a topic filter')
  while (!r.atEnd()) r.skipString('topic filter')
}

const WILL_FLAG = 0x04
const PASSWORD_FLAG = 0x40
const USERNAME_FLAG = 0x80

/**
 * CONNECT (§3.1): every string well-formed UTF-8 — client id [MQTT-3.1.3-4 (5)], Will Topic
 * [MQTT-3.1.3-11 (5), MQTT-3.1.3-10 (3.1.1)], User Name [MQTT-3.1.3-12 (5), MQTT-3.1.3-11
 * (3.1.1)] and the string properties; nothing after the fields the flags announce [MQTT-3.1.2-18,
 * MQTT-3.1.2-20 (3.1.1), MQTT-3.1.2-16, MQTT-3.1.2-18 (5)]; in 3.1.1 no password without a user
 * name [MQTT-3.1.2-22]. Levels other than 3, 4 and 5 are left to the protocol level check.
 */
function checkConnect (frame: Buffer): void {
  const r = bodyReader(frame)
  const nameLength = r.u16()
  if (r.pos + nameLength > r.end) throw malformed('truncated protocol name')
  r.pos += nameLength
  const level = r.u8()
  if (level !== 3 && level !== 4 && level !== 5) return
  const flags = r.u8()
  r.u16()
  if (level !== 5 && (flags & PASSWORD_FLAG) !== 0 && (flags & USERNAME_FLAG) === 0) {
    throw malformed('password flag without user name flag')
  }
  if (level === 5) checkProperties(r, PropertyScope.connect, 'CONNECT')
  r.skipString('client identifier')
  if ((flags & WILL_FLAG) !== 0) {
    if (level === 5) checkProperties(r, PropertyScope.will, 'will properties')
    r.skipString('will topic')
    r.bytes()
  }
  if ((flags & USERNAME_FLAG) !== 0) r.skipString('user name')
  if ((flags & PASSWORD_FLAG) !== 0) r.bytes()
  expectEnd(r, 'CONNECT')
}
