/**
 * The PUBLISH packets of a kept session held back until the store has committed the record that
 * names their packet id. A QoS 2 PUBLISH that reached the client before its id was durable could,
 * after a kill -9, be sent again under another id while the client still holds the first one as
 * received and not released: a later message under that first id would then be taken for a
 * resend and not delivered [MQTT-4.3.3-9]. Everything written after a held PUBLISH waits behind it
 * (the order of messages [MQTT-4.6.0-6], topic aliases introduced by an earlier packet).
 *
 * Plain data: the session actor asks for the commit and writes what `release` returns. What is
 * held counts against the connection's high-water mark (`bytes`), so a store that stalls makes the
 * client a slow consumer rather than growing this without bound.
 */

interface Segment {
  /** The store position that must be committed before these bytes leave. */
  seq: number
  chunks: Buffer[]
}

export class HeldPublishes {
  private segments: Segment[] = []
  /** Bytes held, all segments together. */
  bytes = 0
  /** The highest store position a release is asked for (by the session actor). */
  awaited = -1

  /** Whether a write must wait behind a held one. */
  get holding (): boolean {
    return this.segments.length > 0
  }

  /** Writes from now on wait until the store is durable up to `seq`. */
  holdUntil (seq: number): void {
    const last = this.segments[this.segments.length - 1]
    if (last !== undefined && last.chunks.length === 0) last.seq = Math.max(last.seq, seq)
    else this.segments.push({ seq: Math.max(seq, last?.seq ?? seq), chunks: [] })
  }

  /** Holds encoded packet bytes behind those held before them; call only while `holding`. */
  add (bytes: Buffer): void {
    this.segments[this.segments.length - 1]!.chunks.push(bytes)
    this.bytes += bytes.length
  }

  /** The store is durable up to `committed`: the bytes that may leave now, in order. */
  release (committed: number): Buffer[] {
    const out: Buffer[] = []
    let taken = 0
    while (taken < this.segments.length && this.segments[taken]!.seq <= committed) {
      for (const chunk of this.segments[taken]!.chunks) {
        out.push(chunk)
        this.bytes -= chunk.length
      }
      taken++
    }
    if (taken > 0) this.segments.splice(0, taken)
    return out
  }
}
