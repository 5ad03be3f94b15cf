/**
 * The forward journal port: where a node keeps the QoS 1/2 messages queued for its peers, so a
 * restart (kill -9 included) resends them. The network only reports what enters and leaves a
 * link's queue; the broker implements it over its store (src/cluster-forward-journal.ts) and,
 * before the network starts, gives the kept messages back (`ClusterNetwork.restoreForwarded`).
 *
 * - `kept` is called synchronously in `forward()`, as the message is queued: the caller's turn
 *   (a trie shard routing a publish) appends the record before the publisher's ack is taken.
 * - `settled` is called once per kept message as it leaves the queue: acked by the peer, or
 *   dropped and counted by `ForwardDrops` (rejected_by_peer, undeliverable, removed when the peer
 *   left, was removed, or this node left its cluster). A node that stops keeps its records.
 *
 * A restarted sender resends under a new incarnation and new sequence numbers, so the receiver
 * cannot tell a resend from a new message: what the peer delivered but had not acked before the
 * kill is delivered again (at least once).
 */
import type { Message } from '../src/core/mqtt/message.js'

export interface ForwardJournal {
  /** A QoS 1/2 message was queued for `peer`; returns its id (a positive integer). */
  kept: (peer: string, message: Message) => number
  /** The message kept under `id` left `peer`'s queue for good. */
  settled: (peer: string, id: number) => void
}

/** A kept message given back at start. */
export interface JournaledMessage {
  id: number
  message: Message
}
