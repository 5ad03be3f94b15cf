/**
 * Checks of an MQTT 5 property block in a packet a client sent (§2.2.2), on its raw bytes: each
 * property is one the packet type allows, of its data type, given at most once where the
 * specification says so, and its strings are well-formed UTF-8 [MQTT-1.5.4-1, MQTT-1.5.4-2,
 * MQTT-1.5.7-1]. mqtt-packet decodes properties leniently (repeats become arrays, any identifier
 * in any packet, bad UTF-8 replaced), so these checks run before its result is used.
 */
import { WireReader, malformed, protocolError } from './wire-reader.js'

type PropertyType = 'byte' | 'flag' | 'u16' | 'u32' | 'varint' | 'string' | 'binary' | 'pair'

/**
 * Identifier → data type (§2.2.2.2). 'flag' is a byte that must be 0 or 1 (Payload Format
 * Indicator, Request Problem / Response Information): any other value is a Protocol Error.
 */
const TYPES = new Map<number, PropertyType>([
  [0x01, 'flag'], [0x02, 'u32'], [0x03, 'string'], [0x08, 'string'], [0x09, 'binary'], [0x0b, 'varint'],
  [0x11, 'u32'], [0x12, 'string'], [0x13, 'u16'], [0x15, 'string'], [0x16, 'binary'], [0x17, 'flag'],
  [0x18, 'u32'], [0x19, 'flag'], [0x1a, 'string'], [0x1c, 'string'], [0x1f, 'string'], [0x21, 'u16'],
  [0x22, 'u16'], [0x23, 'u16'], [0x24, 'byte'], [0x25, 'byte'], [0x26, 'pair'], [0x27, 'u32'],
  [0x28, 'byte'], [0x29, 'byte'], [0x2a, 'byte']
])

const USER_PROPERTY = 0x26
const SUBSCRIPTION_IDENTIFIER = 0x0b

/** The properties a client may put in each packet (§3.x.2.1 of each packet, Will Properties §3.1.3.2). */
export const PropertyScope = {
  connect: new Set([0x11, 0x15, 0x16, 0x17, 0x19, 0x21, 0x22, 0x26, 0x27]),
  will: new Set([0x01, 0x02, 0x03, 0x08, 0x09, 0x18, 0x26]),
  /** PUBACK, PUBREC, PUBREL, PUBCOMP. */
  ack: new Set([0x1f, 0x26]),
  subscribe: new Set([0x0b, 0x26]),
  unsubscribe: new Set([0x26]),
  disconnect: new Set([0x11, 0x1c, 0x1f, 0x26]),
  auth: new Set([0x15, 0x16, 0x1f, 0x26])
} as const

/**
 * Reads a property block (its length, then the properties) and throws PacketDecodeError: an
 * identifier unknown or not allowed in the packet, or a value that does not fit, is malformed;
 * a property other than User Property given twice, a flag other than 0 or 1 or a Subscription
 * Identifier of 0 is a Protocol Error.
 */
export function checkProperties (r: WireReader, allowed: ReadonlySet<number>, packet: string): void {
  const length = r.varint()
  const end = r.pos + length
  if (end > r.end) throw malformed(`${packet} property length beyond the packet`)
  const props = new WireReader(r.buf, r.pos, end)
  let seen: Set<number> | undefined
  while (!props.atEnd()) {
    const id = props.varint()
    const type = TYPES.get(id)
    if (type === undefined || !allowed.has(id)) throw malformed(`property 0x${id.toString(16)} not allowed in ${packet}`)
    if (id !== USER_PROPERTY) {
      seen ??= new Set()
      if (seen.has(id)) throw protocolError(`property 0x${id.toString(16)} given more than once in ${packet}`)
      seen.add(id)
    }
    switch (type) {
      case 'byte': props.u8(); break
      case 'flag':
        if (props.u8() > 1) throw protocolError(`property 0x${id.toString(16)} is neither 0 nor 1`)
        break
      case 'u16': props.u16(); break
      case 'u32': props.u32(); break
      case 'varint':
        if (props.varint() === 0 && id === SUBSCRIPTION_IDENTIFIER) throw protocolError('subscription identifier 0')
        break
      case 'string': props.skipString(`property 0x${id.toString(16)}`); break
      case 'binary': props.bytes(); break
      case 'pair':
        props.skipString('user property name')
        props.skipString('user property value')
        break
    }
  }
  r.pos = end
}
