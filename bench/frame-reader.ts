/**
 * Splits a TCP byte stream into MQTT control packets without copying complete packets: the handler
 * gets the buffer and the bounds of each packet's body. Only a packet cut across two chunks is copied.
 */

/**
 * Called once per packet: `frameStart`..`end` is the whole packet inside `buf`, `bodyStart`..`end`
 * its variable header and payload. The bytes are valid only during the call.
 */
export type FrameHandler = (firstByte: number, buf: Buffer, frameStart: number, bodyStart: number, end: number) => void

/** A remaining-length field longer than 4 bytes or a packet above the reader's limit. */
export class MalformedFrameError extends Error {
  override readonly name = 'MalformedFrameError'
}

export class FrameReader {
  private rest: Buffer | null = null

  constructor (private readonly onFrame: FrameHandler, private readonly maxPacketBytes = 1 << 20) {}

  push (chunk: Buffer): void {
    const buf = this.rest === null ? chunk : Buffer.concat([this.rest, chunk])
    this.rest = null
    const len = buf.length
    let pos = 0
    while (pos + 2 <= len) {
      let i = pos + 1
      let value = 0
      let multiplier = 1
      let complete = false
      for (let n = 0; n < 4 && i < len; n++) {
        const byte = buf[i++]!
        value += (byte & 0x7f) * multiplier
        multiplier *= 128
        if ((byte & 0x80) === 0) { complete = true; break }
      }
      if (!complete) {
        if (i - pos > 4) throw new MalformedFrameError('remaining length longer than 4 bytes')
        break
      }
      if (value > this.maxPacketBytes) throw new MalformedFrameError(`packet of ${value} bytes exceeds ${this.maxPacketBytes}`)
      const end = i + value
      if (end > len) break
      this.onFrame(buf[pos]!, buf, pos, i, end)
      pos = end
    }
    if (pos < len) this.rest = Buffer.from(buf.subarray(pos))
  }
}
