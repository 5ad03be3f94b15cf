/**
 * The forward journal (network/forward-journal.ts) over the node's store: each QoS 1/2 message
 * queued for a peer is a record `f/<peer>\0<seq>` (records.ts), appended to the group commit in
 * the turn that forwards it, so the publisher's PUBACK/PUBREC, which waits for the commit of
 * everything appended before it, covers it; the record is deleted when the peer acks the message
 * or it is dropped (counted as `ForwardDrops` counts it). At start, `restore` reads the records in
 * key order (per peer, the order they were queued) and queues them again on the links, before the
 * network starts; the numbering goes on after the highest found.
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
import { decodeForwarded, encodeForwarded, forwardKey, FORWARD_PREFIX, parseSequencedKey } from './store/records.js'
import type { Store } from './store/store.js'

/** What `restore` found. */
export interface RestoredForwards {
  /** Messages queued again, over all peers. */
  messages: number
  /** Peers they are queued for. */
  peers: number
}

export class ClusterForwardJournal implements ForwardJournal {
  private seq = 0

  constructor (private readonly commit: Pick<GroupCommit, 'put' | 'del'>, private readonly log: Logger) {}

  readonly kept = (peer: string, message: Message): number => {
    const id = ++this.seq
    try {
      this.commit.put(forwardKey(peer, id), encodeForwarded(message))
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
   * Reads every `f/` record of `store` and queues it again on `network` (not started yet); the
   * next id follows the highest found. A record that cannot be read stops the start (`RecordError`).
   */
  async restore (store: Store, network: Pick<ClusterNetwork, 'restoreForwarded'>): Promise<RestoredForwards> {
    const byPeer = new Map<string, JournaledMessage[]>()
    let messages = 0
    for await (const [key, value] of store.entries(FORWARD_PREFIX)) {
      const { owner, seq } = parseSequencedKey(key)
      let entries = byPeer.get(owner)
      if (entries === undefined) {
        entries = []
        byPeer.set(owner, entries)
      }
      entries.push({ id: seq, message: decodeForwarded(value) })
      this.seq = Math.max(this.seq, seq)
      messages++
    }
    for (const [peer, entries] of byPeer) network.restoreForwarded(peer, entries)
    if (messages > 0) this.log.info({ messages, peers: byPeer.size }, 'forwards_restored')
    return { messages, peers: byPeer.size }
  }
}
