/**
 * Reading the fields of a client's control packet from its raw bytes (§1.5 data representation),
 * bounded by the packet's end: a field that runs past it makes the packet malformed. Used by the
 * PUBLISH codec and by the checks of the other packet types (inbound-checks.ts).
 */
import { ReasonCode } from './reason-codes.js'
import { isWellFormedUtf8 } from './topic.js'

/** A client packet that breaks the protocol; `reasonCode` is what a v5 client is told (0x81 or 0x82). */
export class PacketDecodeError extends Error {
  override name = 'PacketDecodeError'
  constructor (message: string, readonly reasonCode: number) { super(message) }
}

/** A Malformed Packet (0x81): it cannot be parsed as the specification says (§4.13). */
export const malformed = (why: string): PacketDecodeError => new PacketDecodeError(why, ReasonCode.MalformedPacket)

/** A Protocol Error (0x82): well-formed, but data the specification does not allow (§4.13). */
export const protocolError = (why: string): PacketDecodeError => new PacketDecodeError(why, ReasonCode.ProtocolError)

export class WireReader {
  constructor (readonly buf: Buffer, public pos: number, readonly end: number) {}

  atEnd (): boolean { return this.pos >= this.end }

  u8 (): number {
    if (this.pos >= this.end) throw malformed('truncated')
    return this.buf[this.pos++]!
  }

  u16 (): number {
    if (this.pos + 2 > this.end) throw malformed('truncated')
    const v = this.buf.readUInt16BE(this.pos)
    this.pos += 2
    return v
  }

  u32 (): number {
    if (this.pos + 4 > this.end) throw malformed('truncated')
    const v = this.buf.readUInt32BE(this.pos)
    this.pos += 4
    return v
  }

  /** Variable Byte Integer (§1.5.5): at most 4 bytes. */
  varint (): number {
    let value = 0
    let multiplier = 1
    for (let i = 0; i < 4; i++) {
      const byte = this.u8()
      value += (byte & 0x7f) * multiplier
      if ((byte & 0x80) === 0) return value
      multiplier *= 128
    }
    throw malformed('variable byte integer longer than 4 bytes')
  }

  /** Binary Data (§1.5.6): a two-byte length and that many bytes. */
  bytes (): Buffer {
    const len = this.u16()
    if (this.pos + len > this.end) throw malformed('truncated')
    const out = this.buf.subarray(this.pos, this.pos + len)
    this.pos += len
    return out
  }

  /** A UTF-8 Encoded String: well-formed and without U+0000 [MQTT-1.5.4-1, MQTT-1.5.4-2]. */
  string (): string {
    const len = this.u16()
    if (this.pos + len > this.end) throw malformed('truncated')
    const s = this.buf.toString('utf8', this.pos, this.pos + len)
    // Decoding turns ill-formed sequences into U+FFFD: only then are the bytes checked.
    if ((s.includes('\uFFFD') && !isWellFormedUtf8(this.buf.subarray(this.pos, this.pos + len))) || s.includes('\u0000')) {
      throw malformed('invalid UTF-8 string')
    }
    this.pos += len
    return s
  }

  /** Skips a UTF-8 Encoded String after checking its bytes, without decoding it. */
  skipString (what: string): void {
    const len = this.u16()
    if (this.pos + len > this.end) throw malformed(`truncated ${what}`)
    if (!isWellFormedUtf8(this.buf.subarray(this.pos, this.pos + len))) throw malformed(`${what} is not well-formed UTF-8 or holds U+0000`)
    this.pos += len
  }
}
