/**
 * The forward journal (network/forward-journal.ts) over the node's store: each QoS 1/2 message
 * queued for a peer is a record `f/<peer>\0<seq>` (records.ts), appended to the group commit in
 * the turn that forwards it, so the publisher's PUBACK/PUBREC, which waits for the commit of
 * everything appended before it, covers it; the record is deleted when the peer acks the message
 * or it is dropped (counted as `ForwardDrops` counts it). At start, `restore` queues the records
 * read back (store-contents.ts) again on the links, per peer in the order they were queued, before
 * the network starts. Record numbers come from the store's one sequence, which goes on after the
 * highest found.
 *
 * A restarted node resends under a new incarnation, so its peers deliver whatever they had taken
 * in but not acked before the kill once more: across a kill -9 of the sender, a forwarded QoS 1
 * or QoS 2 message may be delivered twice (at least once), never lost once acknowledged.
 */
import type { ClusterNetwork } from '../network/cluster.js'
import type { ForwardJournal, JournaledMessage } from '../network/forward-journal.js'
import type { Logger } from './core/log.js'
import type { Message } from './core/mqtt/message.js'
import type { GroupCommit } from './store/group-commit.js'
import { encodeForwarded, forwardKey } from './store/records.js'

/** A message queued for another node, as read back from the store. */
export interface RestoredForward {
  peer: string
  seq: number
  message: Message
}

export class ClusterForwardJournal implements ForwardJournal {
  constructor (
    private readonly commit: Pick<GroupCommit, 'putNew' | 'del'>,
    /** A fresh record sequence number (shared with the delivery records). */
    private readonly nextSeq: () => number,
    private readonly log: Logger
  ) {}

  readonly kept = (peer: string, message: Message): number => {
    const id = this.nextSeq()
    try {
      // Encoded when its commit starts; a peer's ack before then leaves the store untouched.
      this.commit.putNew(forwardKey(peer, id), () => encodeForwarded(message), message.topic.length + message.payload.byteLength + 32)
    } catch (err) {
      // Only once the store is closed (the node stops): nothing is acknowledged any more.
      this.log.warn({ peer, err }, 'forward_journal_write_failed')
    }
    return id
  }

  readonly settled = (peer: string, id: number): void => {
    try {
      this.commit.del(forwardKey(peer, id))
    } catch (err) {
      this.log.warn({ peer, err }, 'forward_journal_write_failed')
    }
  }

  /**
   * Queues `forwards` (read back at start) again on `network`, not started yet: per peer, in the
   * order of their sequence numbers. Returns how many peers they are for.
   */
  restore (forwards: Iterable<RestoredForward>, network: Pick<ClusterNetwork, 'restoreForwarded'>): number {
    const byPeer = new Map<string, JournaledMessage[]>()
    let messages = 0
    for (const { peer, seq, message } of forwards) {
      let entries = byPeer.get(peer)
      if (entries === undefined) {
        entries = []
        byPeer.set(peer, entries)
      }
      entries.push({ id: seq, message })
      messages++
    }
    for (const [peer, entries] of byPeer) {
      entries.sort((a, b) => a.id - b.id)
      network.restoreForwarded(peer, entries)
    }
    if (messages > 0) this.log.info({ messages, peers: byPeer.size }, 'forwards_restored')
    return byPeer.size
  }
}
