/**
 * Byte-level building blocks of every cluster wire format: a growable writer and a bounds-checked
 * reader for unsigned LEB128 varints (up to 2^53 - 1), UTF-8 strings, byte strings and float64.
 */
import { MalformedFrameError } from './wire-errors.js'

/** Bytes reserved in front of a frame body for its varint length (covers lengths below 2^35). */
const FRAME_PREFIX_RESERVE = 5
/** Bytes `reserveLength()` keeps for a length (lengths below 2^14 fit). */
const LENGTH_RESERVE = 2
/** Up to this many characters, `BinaryWriter.string()` copies ASCII in JavaScript (measured faster than `Buffer.write` below ~40). */
const SHORT_STRING_CHARS = 40

export function varintLength (value: number): number {
  let length = 1
  while (value >= 0x80) {
    value = Math.floor(value / 0x80)
    length++
  }
  return length
}

export class BinaryWriter {
  private buffer: Buffer
  private position = 0
  private frameStart = -1

  constructor (initialSize = 1024) {
    this.buffer = Buffer.allocUnsafe(initialSize)
  }

  /** Bytes written since the last reset (excluding a reserved frame prefix). */
  get length (): number {
    return this.frameStart < 0 ? this.position : this.position - FRAME_PREFIX_RESERVE
  }

  /** Starts a new plain buffer. */
  reset (): this {
    this.position = 0
    this.frameStart = -1
    return this
  }

  /** Starts a new buffer whose content will be returned by `finishFrame()` with a varint length prefix. */
  resetFrame (): this {
    this.position = FRAME_PREFIX_RESERVE
    this.frameStart = FRAME_PREFIX_RESERVE
    return this
  }

  u8 (value: number): this {
    this.ensure(1)
    this.buffer[this.position++] = value
    return this
  }

  bool (value: boolean): this {
    return this.u8(value ? 1 : 0)
  }

  varint (value: number): this {
    if (value >= 0 && value < 0x80 && Number.isInteger(value)) {
      // One byte: string refs, sequence steps and short lengths, on every forwarded message.
      this.ensure(1)
      this.buffer[this.position++] = value
      return this
    }
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint out of range: ${value}`)
    this.ensure(8)
    const buffer = this.buffer
    let position = this.position
    while (value >= 0x80) {
      buffer[position++] = (value % 0x80) | 0x80
      value = Math.floor(value / 0x80)
    }
    buffer[position++] = value
    this.position = position
    return this
  }

  float64 (value: number): this {
    this.ensure(8)
    this.buffer.writeDoubleBE(value, this.position)
    this.position += 8
    return this
  }

  string (value: string): this {
    const count = value.length
    if (count <= SHORT_STRING_CHARS) {
      // Short ASCII strings (topics, client ids, node names) are copied by hand: cheaper than a
      // byteLength() plus write() call into C++. Their length fits the one-byte varint prefix.
      this.ensure(count + 1)
      const buffer = this.buffer
      const start = this.position + 1
      let i = 0
      for (; i < count; i++) {
        const code = value.charCodeAt(i)
        if (code >= 0x80) break
        buffer[start + i] = code
      }
      if (i === count) {
        buffer[this.position] = count
        this.position = start + count
        return this
      }
    }
    const length = Buffer.byteLength(value, 'utf8')
    this.varint(length)
    this.ensure(length)
    this.position += this.buffer.write(value, this.position, length, 'utf8')
    return this
  }

  bytes (value: Uint8Array): this {
    this.varint(value.byteLength)
    return this.raw(value)
  }

  /**
   * Reserves the varint length of what is written next, filled in by `fillLength(mark)`. Two bytes
   * are reserved (a shorter length is written as a two-byte varint, which readers accept); a length
   * of 2^14 or more moves what follows to make room.
   */
  reserveLength (): number {
    this.ensure(LENGTH_RESERVE)
    const mark = this.position
    this.position += LENGTH_RESERVE
    return mark
  }

  /** Writes, at `mark` from `reserveLength()`, the length of everything written since; returns that length. */
  fillLength (mark: number): number {
    const start = mark + LENGTH_RESERVE
    const length = this.position - start
    if (length < 0x4000) {
      this.buffer[mark] = (length & 0x7f) | 0x80
      this.buffer[mark + 1] = length >>> 7
      return length
    }
    const shift = varintLength(length) - LENGTH_RESERVE
    this.ensure(shift)
    this.buffer.copyWithin(start + shift, start, this.position)
    this.position += shift
    let position = mark
    let value = length
    while (value >= 0x80) {
      this.buffer[position++] = (value % 0x80) | 0x80
      value = Math.floor(value / 0x80)
    }
    this.buffer[position] = value
    return length
  }

  raw (value: Uint8Array): this {
    this.ensure(value.byteLength)
    this.buffer.set(value, this.position)
    this.position += value.byteLength
    return this
  }

  /** A copy of everything written since `reset()`. */
  finish (): Uint8Array {
    return this.copyOut(0, this.position)
  }

  /** A copy of the frame written since `resetFrame()`, preceded by its varint length. */
  finishFrame (): Uint8Array {
    if (this.frameStart < 0) throw new Error('finishFrame() without resetFrame()')
    const bodyLength = this.position - FRAME_PREFIX_RESERVE
    const prefixLength = varintLength(bodyLength)
    if (prefixLength > FRAME_PREFIX_RESERVE) throw new RangeError(`frame too large: ${bodyLength} bytes`)
    let position = FRAME_PREFIX_RESERVE - prefixLength
    const start = position
    let value = bodyLength
    while (value >= 0x80) {
      this.buffer[position++] = (value % 0x80) | 0x80
      value = Math.floor(value / 0x80)
    }
    this.buffer[position] = value
    return this.copyOut(start, this.position)
  }

  /** A copy of `buffer[start, end)`, not zero-filled first (`slice()` would fill the copy with zeros before copying). */
  private copyOut (start: number, end: number): Uint8Array {
    const out = Buffer.allocUnsafe(end - start)
    this.buffer.copy(out, 0, start, end)
    return out
  }

  private ensure (extra: number): void {
    const needed = this.position + extra
    if (needed <= this.buffer.length) return
    let size = this.buffer.length * 2
    while (size < needed) size *= 2
    const grown = Buffer.allocUnsafe(size)
    this.buffer.copy(grown, 0, 0, this.position)
    this.buffer = grown
  }
}

export class BinaryReader {
  private readonly buffer: Buffer
  private readonly arrayBuffer: ArrayBuffer
  private readonly byteOffset: number
  private position = 0
  /** Reads stop here: the end of the bytes, or of the field `limit()` entered. */
  private end: number

  constructor (bytes: Uint8Array) {
    this.arrayBuffer = bytes.buffer as ArrayBuffer
    this.byteOffset = bytes.byteOffset
    this.buffer = Buffer.from(this.arrayBuffer, this.byteOffset, bytes.byteLength)
    this.end = bytes.byteLength
  }

  get remaining (): number {
    return this.end - this.position
  }

  /**
   * Confines reads to the next `length` bytes (a length-prefixed field); returns what `unlimit()`
   * needs to leave the field. Throws MalformedFrameError when fewer bytes are left.
   */
  limit (length: number): number {
    this.need(length, 'field')
    const outer = this.end
    this.end = this.position + length
    return outer
  }

  /** Skips what is left of the field `limit()` entered and restores the bound `outer` it returned. */
  unlimit (outer: number): void {
    this.position = this.end
    this.end = outer
  }

  u8 (): number {
    this.need(1, 'byte')
    return this.buffer[this.position++] as number
  }

  bool (): boolean {
    const value = this.u8()
    if (value > 1) throw new MalformedFrameError(`boolean byte ${value}`)
    return value === 1
  }

  varint (): number {
    const first = this.buffer[this.position]
    if (first !== undefined && first < 0x80 && this.position < this.end) {
      this.position++
      return first
    }
    let value = 0
    let scale = 1
    for (let i = 0; i < 8; i++) {
      const byte = this.u8()
      value += (byte & 0x7f) * scale
      if ((byte & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) throw new MalformedFrameError('varint above 2^53')
        return value
      }
      scale *= 0x80
    }
    throw new MalformedFrameError('varint longer than 8 bytes')
  }

  float64 (): number {
    this.need(8, 'float64')
    const value = this.buffer.readDoubleBE(this.position)
    this.position += 8
    return value
  }

  string (): string {
    const length = this.varint()
    this.need(length, 'string')
    const value = this.buffer.toString('utf8', this.position, this.position + length)
    this.position += length
    return value
  }

  /** A copy, so the result does not pin the (possibly large) frame buffer in memory. */
  bytes (): Buffer {
    const length = this.varint()
    this.need(length, 'byte string')
    const value = Buffer.allocUnsafe(length)
    this.buffer.copy(value, 0, this.position, this.position + length)
    this.position += length
    return value
  }

  /** A view into the frame (no copy): it keeps the whole frame buffer alive as long as it lives. */
  bytesView (): Buffer {
    const length = this.varint()
    this.need(length, 'byte string')
    // From the ArrayBuffer held: cheaper than subarray(), which looks the buffer up each time.
    const value = Buffer.from(this.arrayBuffer, this.byteOffset + this.position, length)
    this.position += length
    return value
  }

  /** A view of every byte not read yet (no copy); the reader is at the end afterwards. */
  rest (): Buffer {
    const value = Buffer.from(this.arrayBuffer, this.byteOffset + this.position, this.remaining)
    this.position = this.end
    return value
  }

  /** Reads a count and checks it cannot exceed the bytes left (each item takes at least one byte). */
  count (): number {
    const value = this.varint()
    if (value > this.remaining) throw new MalformedFrameError(`count ${value} exceeds the ${this.remaining} bytes left`)
    return value
  }

  expectEnd (): void {
    if (this.remaining !== 0) throw new MalformedFrameError(`${this.remaining} trailing bytes`)
  }

  private need (length: number, what: string): void {
    if (this.position + length > this.end) {
      throw new MalformedFrameError(`truncated ${what}: need ${length} bytes, ${this.remaining} left`)
    }
  }
}
