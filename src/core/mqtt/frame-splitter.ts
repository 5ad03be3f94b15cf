/**
 * Splits a TCP byte stream into whole MQTT control packets by their fixed header (§2.1), without
 * decoding them. It bounds memory: a packet whose Remaining Length says it is larger than the limit
 * is refused as soon as its header arrives, before its body is buffered [MQTT-3.1.2-24 server side].
 */

export class PacketTooLargeError extends Error {
  override name = 'PacketTooLargeError'
  constructor (readonly size: number, readonly limit: number) {
    super(`packet of ${size} bytes exceeds the maximum packet size ${limit}`)
  }
}

export class MalformedLengthError extends Error {
  override name = 'MalformedLengthError'
  constructor () { super('malformed Remaining Length') }
}

/**
 * Calls `onFrame` for each whole frame at the start of `chunk` and returns the bytes after them
 * (the start of an incomplete frame), or undefined when none are left: what a connection without a
 * FrameSplitter does with a chunk (most chunks of an idle client, CONNECT and PINGREQ, are whole
 * packets, so it needs none). Throws on a bad or oversize header, as `FrameSplitter.push`.
 */
export function splitWholeFrames (chunk: Buffer, maxPacketSize: number, onFrame: (frame: Buffer) => void): Buffer | undefined {
  let offset = 0
  const end = chunk.length
  while (offset < end) {
    const total = frameSize(chunk, offset, end, maxPacketSize)
    if (total === 0 || offset + total > end) return offset === 0 ? chunk : chunk.subarray(offset)
    onFrame(chunk.subarray(offset, offset + total))
    offset += total
  }
  return undefined
}

/** Size of the frame starting at `offset`, or 0 when its header is not complete yet. */
function frameSize (buf: Buffer, offset: number, end: number, maxPacketSize: number): number {
  let multiplier = 1
  let length = 0
  let pos = offset + 1
  for (let i = 0; i < 4; i++) {
    if (pos >= end) return 0
    const byte = buf[pos++]!
    length += (byte & 0x7f) * multiplier
    if ((byte & 0x80) === 0) {
      const total = pos - offset + length
      if (total > maxPacketSize) throw new PacketTooLargeError(total, maxPacketSize)
      return total
    }
    multiplier *= 128
  }
  throw new MalformedLengthError()
}

export class FrameSplitter {
  /** The bytes of an incomplete frame; none (no array) between frames, as on an idle connection. */
  private chunks: Buffer[] | undefined
  private buffered = 0
  /** Total size of the frame at the head of the buffer, once its header is known. */
  private needed = 0

  constructor (private maxPacketSize: number) {}

  setMaxPacketSize (size: number): void { this.maxPacketSize = size }

  /** Feeds bytes; calls `onFrame` for each complete packet, in order. Throws on a bad or oversize header. */
  push (chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    const chunks = this.chunks
    if (chunks !== undefined) {
      chunks.push(chunk)
      this.buffered += chunk.length
      if (this.needed > 0 && this.buffered < this.needed) return
      chunk = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.buffered)
      this.chunks = undefined
      this.buffered = 0
    }
    let offset = 0
    const end = chunk.length
    while (offset < end) {
      const total = frameSize(chunk, offset, end, this.maxPacketSize)
      if (total === 0 || offset + total > end) {
        this.needed = total
        break
      }
      onFrame(chunk.subarray(offset, offset + total))
      offset += total
      this.needed = 0
    }
    if (offset < end) {
      this.chunks = [offset === 0 ? chunk : chunk.subarray(offset)]
      this.buffered = end - offset
    }
  }
}
