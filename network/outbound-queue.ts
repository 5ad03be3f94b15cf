/**
 * The per-peer ledger of forwarded messages: messages waiting to be written (`pending`) and QoS
 * 1/2 messages written but not yet acknowledged by the peer (`inflight`). A message gets its
 * sequence number when it is first taken for writing; numbers only grow, so acks are cumulative
 * and the receiver drops anything it already delivered. Pure; the forward link does the I/O.
 *
 * - `take()` moves messages from pending to the wire, numbering them, within a byte and a QoS 1/2
 *   message budget (the stream's credit); QoS 0 ones are then forgotten.
 * - `ack(seq)` releases inflight messages up to `seq`; `refuse(seqs)` releases those the peer refused.
 * - `rewind()` (stream lost) puts inflight messages, with their numbers, back in front of pending,
 *   to be resent first. The first of them was written on every stream lost since it was taken: a
 *   message the peer keeps failing on (it aborts the stream) would block the link forever, so after
 *   `maxAttempts` such losses it is dropped.
 * - `dropQos0()` (peer down) discards the QoS 0 messages still pending.
 *
 * The queue holds at most `maxMessages` messages and `maxBytes` bytes (pending plus inflight).
 * Sizes are `encodedSizeBound()` of each message, so the byte bound holds for the encoded frames.
 *
 * A QoS 1/2 message may carry a journal id (`forward-journal.ts`): `released` is told it once the
 * message leaves the queue for good (acked, refused, dropped by `rewind()`, or `clear()` unless
 * the journal keeps it).
 */
import { Fifo } from './fifo.js'
import { encodedSizeBound } from '../src/core/wire/message-codec.js'
import type { Message } from '../src/core/mqtt/message.js'

/** A QoS 1/2 message that has its sequence number, with its size bound. */
interface NumberedMessage {
  seq: number
  message: Message
  size: number
  /** Journal id, 0 when the message is not journaled. */
  journal: number
  /** Streams lost while this message was the first one unacknowledged on them. */
  attempts: number
}

/** Messages taken for one write, in order, with their sequence numbers. */
export interface OutboundBatch {
  seqs: number[]
  messages: Message[]
  /** How many of them are QoS 1/2. */
  reliable: number
}

/** What `rewind()` did. */
export interface Rewound {
  /** Messages to be resent. */
  resend: number
  /** Messages dropped after `maxAttempts` lost streams. */
  dropped: number
}

export class OutboundQueue {
  private readonly pending = new Fifo<Message>()
  /** `encodedSizeBound()` of each pending message, in the same order. */
  private readonly pendingSizes = new Fifo<number>()
  /** Journal id of each pending message (0: none), in the same order. */
  private readonly pendingIds = new Fifo<number>()
  /** Unacknowledged messages of a lost stream, resent before anything pending. */
  private readonly resend = new Fifo<NumberedMessage>()
  private readonly inflight = new Fifo<NumberedMessage>()
  private queuedBytes = 0

  constructor (
    private readonly maxBytes: number,
    private readonly maxMessages = Number.POSITIVE_INFINITY,
    private readonly released: (journal: number) => void = () => {}
  ) {}

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

  /** Messages held: pending plus inflight. */
  get count (): number {
    return this.pending.length + this.resend.length + this.inflight.length
  }

  /** QoS of the next message `take()` would return, undefined when nothing is pending. */
  get nextQos (): number | undefined {
    return (this.resend.peek()?.message ?? this.pending.peek())?.qos
  }

  /** Whether a message of size bound `size` fits within the bounds. */
  fits (size: number): boolean {
    return this.queuedBytes + size <= this.maxBytes && this.count < this.maxMessages
  }

  /**
   * Queues a message of size bound `size` (computed if not given) under journal id `journal` (0:
   * none); false (and nothing queued) if the byte or message bound would be exceeded.
   */
  enqueue (message: Message, size = encodedSizeBound(message), journal = 0): boolean {
    if (!this.fits(size)) return false
    this.pending.push(message)
    this.pendingSizes.push(size)
    this.pendingIds.push(journal)
    this.queuedBytes += size
    return true
  }

  /**
   * Takes pending messages totalling at most `maxBytes` (at least one if any) and at most
   * `maxReliable` QoS 1/2 ones for one write; messages taken for the first time are numbered by
   * `nextSeq`. Empty when the next message is QoS 1/2 and `maxReliable` is 0.
   */
  take (maxBytes: number, maxReliable: number, nextSeq: () => number): OutboundBatch {
    const seqs: number[] = []
    const messages: Message[] = []
    let bytes = 0
    let reliable = 0
    for (let next = this.resend.peek(); next !== undefined; next = this.resend.peek()) {
      if ((messages.length > 0 && bytes + next.size > maxBytes) || reliable >= maxReliable) return { seqs, messages, reliable }
      this.resend.shift()
      this.inflight.push(next)
      seqs.push(next.seq)
      messages.push(next.message)
      bytes += next.size
      reliable++
    }
    for (let next = this.pending.peek(); next !== undefined; next = this.pending.peek()) {
      const size = this.pendingSizes.peek() as number
      if (messages.length > 0 && bytes + size > maxBytes) break
      if (next.qos !== 0 && reliable >= maxReliable) break
      this.pending.shift()
      this.pendingSizes.shift()
      const journal = this.pendingIds.shift() as number
      const seq = nextSeq()
      seqs.push(seq)
      messages.push(next)
      bytes += size
      if (next.qos === 0) {
        this.queuedBytes -= size
      } else {
        this.inflight.push({ seq, message: next, size, journal, attempts: 0 })
        reliable++
      }
    }
    return { seqs, messages, reliable }
  }

  /** Releases inflight messages with a sequence number up to `seq`; returns how many. */
  ack (seq: number): number {
    let released = 0
    for (let head = this.inflight.peek(); head !== undefined && head.seq <= seq; head = this.inflight.peek()) {
      this.inflight.shift()
      this.queuedBytes -= head.size
      this.release(head)
      released++
    }
    return released
  }

  /**
   * Releases the inflight messages with these sequence numbers (the peer refused them); returns
   * how many it held.
   */
  refuse (seqs: readonly number[]): number {
    const refused = new Set(seqs)
    let released = 0
    for (const entry of this.inflight.drain()) {
      if (refused.has(entry.seq)) {
        this.queuedBytes -= entry.size
        this.release(entry)
        released++
      } else {
        this.inflight.push(entry)
      }
    }
    return released
  }

  /**
   * Puts unacknowledged messages back in front of pending (the stream is lost). The first of them
   * is dropped instead once it has been first on `maxAttempts` lost streams.
   */
  rewind (maxAttempts: number): Rewound {
    const unacked = this.inflight.drain()
    const head = unacked[0]
    let dropped = 0
    if (head !== undefined && ++head.attempts >= maxAttempts) {
      unacked.shift()
      this.queuedBytes -= head.size
      this.release(head)
      dropped = 1
    }
    this.resend.prepend(unacked)
    return { resend: unacked.length, dropped }
  }

  /** Discards pending QoS 0 messages; returns how many. */
  dropQos0 (): number {
    const messages = this.pending.drain()
    const sizes = this.pendingSizes.drain()
    const ids = this.pendingIds.drain()
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
        this.pendingIds.push(ids[i] as number)
      }
    }
    return dropped
  }

  /**
   * Discards everything; returns how many messages were dropped. Their journal ids are released
   * unless `keepJournal` (this node stops: the journal gives them back at the next start).
   */
  clear (keepJournal = false): number {
    const count = this.pending.length + this.resend.length + this.inflight.length
    this.pending.drain()
    this.pendingSizes.drain()
    const ids = this.pendingIds.drain()
    const numbered = [...this.resend.drain(), ...this.inflight.drain()]
    this.queuedBytes = 0
    if (!keepJournal) {
      for (const entry of numbered) this.release(entry)
      for (const id of ids) if (id !== 0) this.released(id)
    }
    return count
  }

  private release (entry: NumberedMessage): void {
    if (entry.journal !== 0) this.released(entry.journal)
  }
}
