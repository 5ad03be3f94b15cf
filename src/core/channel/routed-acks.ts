/**
 * The acknowledgements of an MQTT 5 client's QoS 1/2 PUBLISH that wait for the message's routing,
 * so the PUBACK or PUBREC can say 0x10 (No matching subscribers) when the trie shard found no
 * subscriber and no other node with a route for it (§3.4.2.1, §3.5.2.1). They leave in the order
 * their PUBLISH arrived. Each waits one hop (session → trie shard → session); a connection
 * holds at most the acks of the PUBLISH it sent in that time.
 */
import type { IPubackPacket, IPubrecPacket } from 'mqtt-packet'
import { ReasonCode } from '../mqtt/reason-codes.js'

/** The acknowledgement an inbound QoS 1 (PUBACK) or QoS 2 (PUBREC) PUBLISH gets; a reason code when one is decided before routing (0x87 Not authorized). */
export interface InboundAck { cmd: 'puback' | 'pubrec', messageId: number, reasonCode?: number }

const WAITING = 0
const MATCHED = 1
const UNMATCHED = 2

interface Entry { ack: InboundAck, state: typeof WAITING | typeof MATCHED | typeof UNMATCHED }

/** Entries dropped from the front before the array is compacted. */
const COMPACT_AFTER = 256

export class RoutedAcks {
  /** Entries in arrival order from `head`; entry `head + i` has token `firstToken + i`. */
  private entries: Entry[] = []
  private head = 0
  private firstToken = 1

  /** Whether acks wait: an ack that needs no routing then goes behind them. */
  get waiting (): boolean { return this.head < this.entries.length }

  /** Adds an ack that waits for its message's routing; returns the token the routing reports it with. */
  wait (ack: InboundAck): number {
    this.entries.push({ ack, state: WAITING })
    return this.firstToken + this.entries.length - 1 - this.head
  }

  /** Adds an ack that needs no routing (a re-sent QoS 2 PUBLISH): it leaves after those before it. */
  ready (ack: InboundAck): void {
    this.entries.push({ ack, state: MATCHED })
  }

  /** The routing of the message of `token` found a destination (`matched`) or none; unknown tokens are ignored. */
  resolve (token: number, matched: boolean): void {
    const entry = this.entries[this.head + token - this.firstToken]
    if (token >= this.firstToken && entry !== undefined && entry.state === WAITING) entry.state = matched ? MATCHED : UNMATCHED
  }

  /** The acks that may leave now, in order: those at the front whose routing is known. */
  take (): Array<IPubackPacket | IPubrecPacket> {
    const out: Array<IPubackPacket | IPubrecPacket> = []
    while (this.head < this.entries.length) {
      const entry = this.entries[this.head]!
      if (entry.state === WAITING) break
      const { cmd, messageId, reasonCode } = entry.ack
      if (entry.state === UNMATCHED) out.push({ cmd, messageId, reasonCode: ReasonCode.NoMatchingSubscribers })
      else out.push(reasonCode === undefined ? { cmd, messageId } : { cmd, messageId, reasonCode })
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

  /** The connection is gone: its acks are dropped, and the routing reports still to come are ignored. */
  clear (): void {
    this.firstToken += this.entries.length - this.head
    this.entries = []
    this.head = 0
  }
}
