/**
 * The per-peer ledger of forwarded messages: messages waiting to be written (`pending`) and QoS
 * 1/2 messages written but not yet acknowledged by the peer (`inflight`). A message gets its
 * sequence number when it is first taken for writing; numbers only grow, so acks are cumulative
 * and the receiver drops anything it already delivered. Pure; the forward link does the I/O.
 *
 * - `take()` moves messages from pending to the wire, numbering them; QoS 0 ones are then forgotten.
 * - `ack(seq)` releases inflight messages up to `seq`.
 * - `rewind()` (stream lost) puts inflight messages, with their numbers, back in front of pending,
 *   to be resent first.
 * - `dropQos0()` (peer down) discards the QoS 0 messages still pending.
 *
 * Sizes are `encodedSizeBound()` of each message, so the byte bound holds for the encoded frames.
 */
import { Fifo } from './fifo.js'
import { encodedSizeBound } from './message-codec.js'
import type { Message } from '../src/core/mqtt/message.js'

/** A QoS 1/2 message that has its sequence number, with its size bound. */
interface NumberedMessage {
  seq: number
  message: Message
  size: number
}

/** Messages taken for one write, in order, with their sequence numbers. */
export interface OutboundBatch {
  seqs: number[]
  messages: Message[]
}

export class OutboundQueue {
  private readonly pending = new Fifo<Message>()
  /** `encodedSizeBound()` of each pending message, in the same order. */
  private readonly pendingSizes = new Fifo<number>()
  /** Unacknowledged messages of a lost stream, resent before anything pending. */
  private readonly resend = new Fifo<NumberedMessage>()
  private readonly inflight = new Fifo<NumberedMessage>()
  private queuedBytes = 0

  constructor (private readonly maxBytes: number) {}

  get pendingCount (): number {
    return this.pending.length + this.resend.length
  }

  get inflightCount (): number {
    return this.inflight.length
  }

  /** Size bound of pending plus inflight messages. */
  get bytes (): number {
    return this.queuedBytes
  }

  /**
   * Queues a message of size bound `size` (computed if not given); false (and nothing queued) if
   * the byte bound would be exceeded.
   */
  enqueue (message: Message, size = encodedSizeBound(message)): boolean {
    if (this.queuedBytes + size > this.maxBytes) return false
    this.pending.push(message)
    this.pendingSizes.push(size)
    this.queuedBytes += size
    return true
  }

  /**
   * Takes pending messages totalling at most `maxBytes` (at least one if any) for one write;
   * messages taken for the first time are numbered by `nextSeq`.
   */
  take (maxBytes: number, nextSeq: () => number): OutboundBatch {
    const seqs: number[] = []
    const messages: Message[] = []
    let bytes = 0
    for (let next = this.resend.peek(); next !== undefined; next = this.resend.peek()) {
      if (messages.length > 0 && bytes + next.size > maxBytes) return { seqs, messages }
      this.resend.shift()
      this.inflight.push(next)
      seqs.push(next.seq)
      messages.push(next.message)
      bytes += next.size
    }
    for (let next = this.pending.peek(); next !== undefined; next = this.pending.peek()) {
      const size = this.pendingSizes.peek() as number
      if (messages.length > 0 && bytes + size > maxBytes) break
      this.pending.shift()
      this.pendingSizes.shift()
      const seq = nextSeq()
      seqs.push(seq)
      messages.push(next)
      bytes += size
      if (next.qos === 0) this.queuedBytes -= size
      else this.inflight.push({ seq, message: next, size })
    }
    return { seqs, messages }
  }

  /** Releases inflight messages with a sequence number up to `seq`; returns how many. */
  ack (seq: number): number {
    let released = 0
    for (let head = this.inflight.peek(); head !== undefined && head.seq <= seq; head = this.inflight.peek()) {
      this.inflight.shift()
      this.queuedBytes -= head.size
      released++
    }
    return released
  }

  /** Puts unacknowledged messages back in front of pending; returns how many will be resent. */
  rewind (): number {
    const unacked = this.inflight.drain()
    this.resend.prepend(unacked)
    return unacked.length
  }

  /** Discards pending QoS 0 messages; returns how many. */
  dropQos0 (): number {
    const messages = this.pending.drain()
    const sizes = this.pendingSizes.drain()
    let dropped = 0
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i] as Message
      const size = sizes[i] as number
      if (message.qos === 0) {
        this.queuedBytes -= size
        dropped++
      } else {
        this.pending.push(message)
        this.pendingSizes.push(size)
      }
    }
    return dropped
  }

  /** Discards everything; returns how many messages were dropped. */
  clear (): number {
    const count = this.pending.length + this.resend.length + this.inflight.length
    this.pending.drain()
    this.pendingSizes.drain()
    this.resend.drain()
    this.inflight.drain()
    this.queuedBytes = 0
    return count
  }
}
