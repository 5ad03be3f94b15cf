/**
 * The acknowledgements of a client's QoS 1/2 PUBLISH that wait for the message's routing, so an
 * MQTT 5 PUBACK or PUBREC can say 0x10 (No matching subscribers) when the trie shard found no
 * subscriber and no other node with a route for it (§3.4.2.1, §3.5.2.1), and, when the node keeps
 * a store that acks wait for (`persistence.mode` batch or sync), for the commit of what the
 * routing recorded: an ack is stamped with the store's write position once its routing is known
 * (`stamp`) and leaves when the store is durable up to it (`take`). A PUBACK of a message without
 * RETAIN waits only for the writes its routing made (`awaitWrites`): committed, or cancelled
 * because their subscribers and peers acknowledged them first (`settle`). PUBCOMP waits for the commit
 * too (the released packet id must be gone from the stored session first). They leave in the
 * order their packets arrived. A connection holds at most the acks of the PUBLISH it sent in one
 * routing hop and one commit.
 */
import type { IPubackPacket, IPubcompPacket, IPubrecPacket, IPubrelPacket, ISubackPacket, IUnsubackPacket } from 'mqtt-packet'
import { ReasonCode } from '../mqtt/reason-codes.js'

/**
 * The acknowledgement an inbound QoS 1 (PUBACK) or QoS 2 (PUBREC) PUBLISH gets, or a PUBREL
 * (PUBCOMP); a reason code when one is decided before routing (0x87 Not authorized). Also the
 * PUBREL answering a client's PUBREC for a delivery the store keeps: it leaves once the delivery's
 * record says PUBREC came, so a restart never sends that PUBLISH again [MQTT-4.3.3-4].
 */
export type InboundAck = PublishFlowAck | SubscriptionAck

export interface PublishFlowAck { cmd: 'puback' | 'pubrec' | 'pubcomp' | 'pubrel', messageId: number, reasonCode?: number }

/**
 * The SUBACK or UNSUBACK of a session the store keeps: it leaves once the subscriptions' record is
 * committed, so a subscription the client was told of survives a crash (§4.1).
 */
export interface SubscriptionAck { cmd: 'suback' | 'unsuback', messageId: number, granted: number[] }

export type AckPacket = IPubackPacket | IPubrecPacket | IPubcompPacket | IPubrelPacket | ISubackPacket | IUnsubackPacket

const WAITING = 0
const MATCHED = 1
const UNMATCHED = 2

/** `Entry.seq` of an ack not stamped yet. */
const UNSTAMPED = -1
/** `Entry.seq` of an ack waiting for the writes of its routing (`awaitWrites`). */
const AWAITING_WRITES = -2

interface Entry {
  ack: InboundAck
  state: typeof WAITING | typeof MATCHED | typeof UNMATCHED
  /** The store position it waits for: UNSTAMPED until stamped (and when nothing waits for commits), 0 for none. */
  seq: number
  /** It may wait for its routing's writes alone rather than for a stamp (a PUBACK without RETAIN). */
  precise: boolean
}

/** A refusal (reason code 0x80 or above) acknowledges nothing kept. */
function refuses (ack: InboundAck): boolean {
  return !isSubscriptionAck(ack) && (ack.reasonCode ?? 0) >= 0x80
}

function isSubscriptionAck (ack: InboundAck): ack is SubscriptionAck {
  return ack.cmd === 'suback' || ack.cmd === 'unsuback'
}

/** The packet an entry leaves as: 0x10 No matching subscribers for a PUBACK or PUBREC whose routing found none. */
function ackPacket (entry: Entry): AckPacket {
  const ack = entry.ack
  if (isSubscriptionAck(ack)) return ack
  const { cmd, messageId, reasonCode } = ack
  if (entry.state === UNMATCHED && (cmd === 'puback' || cmd === 'pubrec')) return { cmd, messageId, reasonCode: ReasonCode.NoMatchingSubscribers }
  return reasonCode === undefined ? { cmd, messageId } : { cmd, messageId, reasonCode }
}

/** Entries dropped from the front before the array is compacted. */
const COMPACT_AFTER = 256

export class RoutedAcks {
  /** Entries in arrival order from `head`; entry `head + i` has token `firstToken + i`. */
  private entries: Entry[] = []
  private head = 0
  private firstToken = 1

  /** Whether acks wait: an ack that needs no routing then goes behind them. */
  get waiting (): boolean { return this.head < this.entries.length }

  /**
   * Adds an ack that waits for its message's routing; returns the token the routing reports it
   * with. `precise`: it may wait for the writes of its routing alone (see `awaitWrites`).
   */
  wait (ack: InboundAck, precise = false): number {
    this.entries.push({ ack, state: WAITING, seq: UNSTAMPED, precise })
    return this.firstToken + this.entries.length - 1 - this.head
  }

  /** Adds an ack that needs no routing (a re-sent QoS 2 PUBLISH): it leaves after those before it. */
  ready (ack: InboundAck): void {
    this.entries.push({ ack, state: MATCHED, seq: UNSTAMPED, precise: false })
  }

  /** The routing of the message of `token` found a destination (`matched`) or none; unknown tokens are ignored. */
  resolve (token: number, matched: boolean): void {
    const entry = this.entry(token)
    if (entry !== undefined && entry.state === WAITING) entry.state = matched ? MATCHED : UNMATCHED
  }

  /**
   * The precise acks among `tokens`, just resolved, wait for the writes their routing made
   * (`written`) or, when it made none, for nothing; returns the tokens that wait.
   */
  awaitWrites (tokens: readonly number[], written: boolean): number[] {
    const waiting: number[] = []
    for (const token of tokens) {
      const entry = this.entry(token)
      if (entry === undefined || !entry.precise || entry.state === WAITING || entry.seq !== UNSTAMPED) continue
      entry.seq = written ? AWAITING_WRITES : 0
      if (written) waiting.push(token)
    }
    return waiting
  }

  /** The writes the acks of `tokens` waited for are committed or cancelled. */
  settle (tokens: readonly number[]): void {
    for (const token of tokens) {
      const entry = this.entry(token)
      if (entry?.seq === AWAITING_WRITES) entry.seq = 0
    }
  }

  /**
   * Stamps the acks whose routing is known and that have no stamp with the store position `seq`;
   * returns the highest stamp waiting (-1 when none does).
   */
  stamp (seq: number): number {
    let highest = -1
    for (let i = this.head; i < this.entries.length; i++) {
      const entry = this.entries[i]!
      // A refusal waits only for the acks before it.
      if (entry.state !== WAITING && entry.seq === UNSTAMPED) entry.seq = refuses(entry.ack) ? 0 : seq
      if (entry.seq > highest) highest = entry.seq
    }
    return highest
  }

  /**
   * The acks that may leave now, in order: those at the front whose routing is known and, when
   * acks wait for commits, whose stamp is at most `durable` (the store's committed position).
   */
  take (durable?: number): AckPacket[] {
    const out: AckPacket[] = []
    while (this.head < this.entries.length) {
      const entry = this.entries[this.head]!
      if (entry.state === WAITING) break
      if (durable !== undefined && (entry.seq < 0 || entry.seq > durable)) break
      out.push(ackPacket(entry))
      this.head++
      this.firstToken++
    }
    if (this.head === this.entries.length) {
      this.entries = []
      this.head = 0
    } else if (this.head >= COMPACT_AFTER) {
      this.entries = this.entries.slice(this.head)
      this.head = 0
    }
    return out
  }

  private entry (token: number): Entry | undefined {
    return token >= this.firstToken ? this.entries[this.head + token - this.firstToken] : undefined
  }

  /** The connection is gone: its acks are dropped, and the routing reports still to come are ignored. */
  clear (): void {
    this.firstToken += this.entries.length - this.head
    this.entries = []
    this.head = 0
  }
}
