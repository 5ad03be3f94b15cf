/**
 * The versions of the cluster-wide retained set: a last-writer-wins register per topic. Each write
 * (a message, or a clear: a tombstone) carries a stamp (hybrid logical clock and writing node,
 * `../hlc.ts`); a write is taken only if its stamp is above the one held for its topic, so every
 * node that has seen the same writes holds the same set, whatever order they arrived in.
 *
 * Tombstones are kept so that a clear wins against an older copy of the message arriving later
 * (after a partition heals); they are bounded in count, bytes and age (`maxTombstones`,
 * `MAX_TOMBSTONE_BYTES`, `tombstoneMs`): the oldest go first. A stale copy arriving after its
 * tombstone went comes back; that is the bound's trade-off.
 *
 * A digest of the live versions (XOR of a 64-bit hash of each topic and stamp, kept as each version
 * changes, and their count) lets two nodes compare their sets cheaply. Pure.
 */
import { compareStamps, type Stamp } from '../hlc.js'

/** Bytes of tombstone topics kept at most, whatever `maxTombstones` allows. */
export const MAX_TOMBSTONE_BYTES = 64 * 1024 * 1024

export interface TombstoneLimits {
  /** Tombstones kept at most (`cluster.maxRetainedTombstones`). */
  maxTombstones: number
  /** A tombstone older than this (by its stamp's wall time) is dropped (`cluster.retainedTombstoneMs`). */
  tombstoneMs: number
}

/** The digest of a set of live versions. Two sets with equal digests are taken as equal. */
export interface RetainedDigest {
  count: number
  hi: number
  lo: number
}

export function digestsEqual (a: RetainedDigest, b: RetainedDigest): boolean {
  return a.count === b.count && a.hi === b.hi && a.lo === b.lo
}

/** Two independent 32-bit FNV-1a-style hashes of a topic and stamp (cyrb53's mixing). */
function hashOf (topic: string, stamp: Stamp): [number, number] {
  let h1 = 0xdeadbeef ^ stamp.wall
  let h2 = 0x41c6ce57 ^ stamp.logical
  const text = `${topic}\u0000${stamp.node}\u0000${stamp.wall}`
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 2654435761)
    h2 = Math.imul(h2 ^ c, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return [h1 >>> 0, h2 >>> 0]
}

export class RetainedVersions {
  private readonly live = new Map<string, Stamp>()
  /** In insertion order, which is the order they are dropped in. */
  private readonly tombstones = new Map<string, Stamp>()
  private tombstoneBytes = 0
  private hi = 0
  private lo = 0

  constructor (private readonly limits: TombstoneLimits) {}

  /** Live versions held. */
  get size (): number { return this.live.size }

  get tombstoneCount (): number { return this.tombstones.size }

  digest (): RetainedDigest {
    return { count: this.live.size, hi: this.hi >>> 0, lo: this.lo >>> 0 }
  }

  /** The stamp held for `topic`: its live version or its tombstone. */
  stampOf (topic: string): Stamp | undefined {
    return this.live.get(topic) ?? this.tombstones.get(topic)
  }

  /** Whether a write of `topic` stamped `stamp` wins over what is held. */
  wins (topic: string, stamp: Stamp): boolean {
    const held = this.stampOf(topic)
    return held === undefined || compareStamps(stamp, held) > 0
  }

  /** `topic` now holds a message written at `stamp`. */
  setLive (topic: string, stamp: Stamp): void {
    this.dropTombstone(topic)
    this.removeLive(topic)
    this.live.set(topic, stamp)
    this.mix(topic, stamp)
  }

  /** `topic` was cleared at `stamp`; the tombstone is kept within the limits. */
  setTombstone (topic: string, stamp: Stamp, now: number): void {
    this.removeLive(topic)
    this.dropTombstone(topic)
    this.tombstones.set(topic, stamp)
    this.tombstoneBytes += topic.length
    this.prune(now)
  }

  /** `topic`'s message is gone without a write (expired, or refused at the store's bound). */
  removeLive (topic: string): void {
    const stamp = this.live.get(topic)
    if (stamp === undefined) return
    this.live.delete(topic)
    this.mix(topic, stamp)
  }

  /** Forgets everything (the node joins another cluster). */
  clear (): void {
    this.live.clear()
    this.tombstones.clear()
    this.tombstoneBytes = 0
    this.hi = 0
    this.lo = 0
  }

  /** Drops tombstones beyond the count and byte bounds and those older than `tombstoneMs`. */
  prune (now: number): void {
    const oldest = now - this.limits.tombstoneMs
    for (const [topic, stamp] of this.tombstones) {
      const over = this.tombstones.size > this.limits.maxTombstones || this.tombstoneBytes > MAX_TOMBSTONE_BYTES
      if (!over && stamp.wall >= oldest) break
      this.dropTombstone(topic)
    }
  }

  /** Live versions, in insertion order. */
  liveEntries (): IterableIterator<[string, Stamp]> {
    return this.live.entries()
  }

  tombstoneEntries (): IterableIterator<[string, Stamp]> {
    return this.tombstones.entries()
  }

  private dropTombstone (topic: string): void {
    if (!this.tombstones.delete(topic)) return
    this.tombstoneBytes -= topic.length
  }

  private mix (topic: string, stamp: Stamp): void {
    const [h1, h2] = hashOf(topic, stamp)
    this.hi ^= h1
    this.lo ^= h2
  }
}
