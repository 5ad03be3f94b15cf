/**
 * This node's replica of the cluster-wide retained set: the retained store (the messages, bounded)
 * with the version of each replicated topic (`retained-versions.ts`) and the hybrid logical clock
 * that stamps this node's writes. A local retained publish is stored and stamped, and returned as
 * an entry to push to the other nodes; an entry from another node is applied only if its stamp
 * wins. The node's own `$SYS` topics are neither replicated nor accepted from peers. Pure.
 */
import { HybridLogicalClock, type Stamp } from '../hlc.js'
import type { Message } from '../mqtt/message.js'
import { isValidTopicName } from '../mqtt/topic.js'
import { RetainedStore, type PutOutcome, type RetainedLimits } from './retained-store.js'
import { RetainedVersions, type RetainedDigest, type TombstoneLimits } from './retained-versions.js'

/** One replicated write: a message, or a clear (a tombstone) when `message` is undefined. */
export interface RetainedEntry {
  topic: string
  stamp: Stamp
  message?: Message
}

/**
 * What became of a peer's entry: applied, older than what is held (`stale`), refused at the
 * store's bound (`full`: the topic then holds nothing here), or refused for a stamp this node
 * cannot take (`bad_stamp`: invalid or far in the future) or a topic that is never replicated
 * (`bad_topic`: `$SYS`, or not a valid topic name).
 */
export type ApplyOutcome = 'applied' | 'stale' | 'full' | 'bad_stamp' | 'bad_topic'

/** Whether a retained topic is replicated: all but the node's own `$SYS` topics. */
export function isReplicatedTopic (topic: string): boolean {
  return !topic.startsWith('$SYS')
}

function clearOf (topic: string, node: string): Message {
  return { topic, payload: Buffer.alloc(0), qos: 0, retain: true, publisher: '', origin: node }
}

export class RetainedReplica {
  readonly store: RetainedStore
  readonly versions: RetainedVersions
  private readonly clock: HybridLogicalClock

  constructor (private readonly node: string, limits: RetainedLimits, tombstones: TombstoneLimits, wallClock: () => number) {
    this.store = new RetainedStore(limits)
    this.versions = new RetainedVersions(tombstones)
    this.clock = new HybridLogicalClock(wallClock)
  }

  /**
   * A retained publish made on this node (`bounded` false for its own `$SYS` topics): stored or
   * cleared, and, when the topic is replicated, stamped and returned as the entry to push.
   */
  writeLocal (message: Message, now: number, bounded: boolean): { outcome: PutOutcome, entry?: RetainedEntry } {
    const outcome = this.store.put(message, now, bounded)
    if (!bounded || !isReplicatedTopic(message.topic)) return { outcome }
    const stamp: Stamp = { ...this.clock.now(), node: this.node }
    const { topic } = message
    if (message.payload.length === 0) {
      this.versions.setTombstone(topic, stamp, now)
      return { outcome, entry: { topic, stamp } }
    }
    if (outcome === 'full') this.versions.removeLive(topic)
    else this.versions.setLive(topic, stamp)
    return { outcome, entry: { topic, stamp, message } }
  }

  /** An entry written on another node: applied if its stamp wins over what this node holds. */
  applyRemote (entry: RetainedEntry, now: number): ApplyOutcome {
    const { topic, stamp, message } = entry
    if (!isReplicatedTopic(topic) || !isValidTopicName(topic)) return 'bad_topic'
    if (!this.clock.observe(stamp)) return 'bad_stamp'
    if (!this.versions.wins(topic, stamp)) return 'stale'
    if (message === undefined || message.payload.length === 0 || (message.expiresAt !== undefined && message.expiresAt <= now)) {
      this.store.put(clearOf(topic, this.node), now)
      this.versions.setTombstone(topic, stamp, now)
      return 'applied'
    }
    if (this.store.put(message, now) === 'full') {
      this.versions.removeLive(topic)
      return 'full'
    }
    this.versions.setLive(topic, stamp)
    return 'applied'
  }

  /**
   * Every replicated entry held: the live messages (expired ones are removed on the way) and the
   * tombstones. The entries are immutable; the array is this node's set at the time of the call.
   */
  snapshot (now: number): RetainedEntry[] {
    this.versions.prune(now)
    const out: RetainedEntry[] = []
    const gone: string[] = []
    for (const [topic, stamp] of this.versions.liveEntries()) {
      const message = this.store.get(topic)
      if (message === undefined || (message.expiresAt !== undefined && message.expiresAt <= now)) gone.push(topic)
      else out.push({ topic, stamp, message })
    }
    for (const topic of gone) {
      this.store.put(clearOf(topic, this.node), now)
      this.versions.removeLive(topic)
    }
    for (const [topic, stamp] of this.versions.tombstoneEntries()) out.push({ topic, stamp })
    return out
  }

  digest (now: number): RetainedDigest {
    this.versions.prune(now)
    return this.versions.digest()
  }

  /** Drops every replicated message and version (the node joins another cluster and syncs from it). */
  clearReplicated (now: number): number {
    const topics = [...this.versions.liveEntries()].map(([topic]) => topic)
    for (const topic of topics) this.store.put(clearOf(topic, this.node), now)
    this.versions.clear()
    return topics.length
  }
}
