/**
 * The per-peer ledger of forwarded messages: frames waiting to be written (`pending`) and QoS 1/2
 * frames written but not yet acknowledged by the peer (`inflight`). Frames carry a sequence number
 * that only grows, so acks are cumulative and the receiver drops anything it already delivered.
 * Pure; the forward link does the I/O.
 *
 * - `take()` moves frames from pending to the wire; QoS 0 frames are then forgotten.
 * - `ack(seq)` releases inflight frames up to `seq`.
 * - `rewind()` (stream lost) puts inflight frames back in front of pending, to be resent first.
 * - `dropQos0()` (peer down) discards the QoS 0 frames still pending.
 */
import { Fifo } from './fifo.js'
import type { QoS } from '../src/protocol/message.js'

export interface OutboundEntry {
  seq: number
  qos: QoS
  /** The complete length-prefixed forward frame. */
  frame: Uint8Array
}

export class OutboundQueue {
  private readonly pending = new Fifo<OutboundEntry>()
  private readonly inflight = new Fifo<OutboundEntry>()
  private queuedBytes = 0

  constructor (private readonly maxBytes: number) {}

  get pendingCount (): number {
    return this.pending.length
  }

  get inflightCount (): number {
    return this.inflight.length
  }

  /** Bytes of pending plus inflight frames. */
  get bytes (): number {
    return this.queuedBytes
  }

  /** Queues a frame; false (and nothing queued) if the byte bound would be exceeded. */
  enqueue (entry: OutboundEntry): boolean {
    if (this.queuedBytes + entry.frame.byteLength > this.maxBytes) return false
    this.pending.push(entry)
    this.queuedBytes += entry.frame.byteLength
    return true
  }

  /** Takes pending frames totalling at most `maxBytes` (at least one frame if any) for one write. */
  take (maxBytes: number): OutboundEntry[] {
    const taken: OutboundEntry[] = []
    let bytes = 0
    for (let next = this.pending.peek(); next !== undefined; next = this.pending.peek()) {
      if (taken.length > 0 && bytes + next.frame.byteLength > maxBytes) break
      this.pending.shift()
      taken.push(next)
      bytes += next.frame.byteLength
      if (next.qos === 0) this.queuedBytes -= next.frame.byteLength
      else this.inflight.push(next)
    }
    return taken
  }

  /** Releases inflight frames with a sequence number up to `seq`; returns how many. */
  ack (seq: number): number {
    let released = 0
    for (let head = this.inflight.peek(); head !== undefined && head.seq <= seq; head = this.inflight.peek()) {
      this.inflight.shift()
      this.queuedBytes -= head.frame.byteLength
      released++
    }
    return released
  }

  /** Puts unacknowledged frames back in front of pending; returns how many will be resent. */
  rewind (): number {
    const unacked = this.inflight.drain()
    this.pending.prepend(unacked)
    return unacked.length
  }

  /** Discards pending QoS 0 frames; returns how many. */
  dropQos0 (): number {
    const dropped = this.pending.removeWhere(entry => entry.qos === 0)
    for (const entry of dropped) this.queuedBytes -= entry.frame.byteLength
    return dropped.length
  }

  /** Discards everything; returns how many frames were dropped. */
  clear (): number {
    const count = this.pending.length + this.inflight.length
    this.pending.drain()
    this.inflight.drain()
    this.queuedBytes = 0
    return count
  }
}
