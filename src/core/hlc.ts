/**
 * A hybrid logical clock (Kulkarni et al., 2014): a timestamp is the wall-clock milliseconds and a
 * logical counter. `now()` never goes backwards on one node, even when the wall clock does, and
 * after `observe(remote)` every later `now()` is above `remote`, so a write made after seeing
 * another write is always ordered after it, whatever the two nodes' clocks say. Timestamps of two
 * nodes that did not see each other's writes are ordered by wall time, then counter, then node
 * name (`compareStamps`): a total order every node computes alike. Pure; the wall clock is passed in.
 */

export interface HlcTimestamp {
  /** Wall-clock milliseconds since the epoch (the highest seen). */
  wall: number
  /** Orders timestamps with the same `wall`. */
  logical: number
}

/** A timestamp and the node that made it: the version of a replicated write. */
export interface Stamp extends HlcTimestamp {
  node: string
}

/** A counter beyond this is refused in `observe` (a peer cannot push ours to overflow). */
const MAX_LOGICAL = 2 ** 31
/**
 * A remote timestamp more than this ahead of the wall clock is refused in `observe`: one node's
 * clock far in the future would otherwise win every write for good (the incarnation rule of the
 * cluster network uses the same bound).
 */
export const MAX_CLOCK_DRIFT_MS = 5 * 60_000

export function compareTimestamps (a: HlcTimestamp, b: HlcTimestamp): number {
  if (a.wall !== b.wall) return a.wall < b.wall ? -1 : 1
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1
  return 0
}

/** Total order of stamps: timestamp, then node name (the tie-break every node applies alike). */
export function compareStamps (a: Stamp, b: Stamp): number {
  const byTime = compareTimestamps(a, b)
  if (byTime !== 0) return byTime
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0
}

/** Whether `t` is a timestamp this clock can take in: integers, the counter within its bound. */
export function isValidTimestamp (t: HlcTimestamp): boolean {
  return Number.isSafeInteger(t.wall) && t.wall >= 0 && Number.isSafeInteger(t.logical) && t.logical >= 0 && t.logical < MAX_LOGICAL
}

export class HybridLogicalClock {
  private last: HlcTimestamp = { wall: 0, logical: 0 }

  /** `wallClock`: milliseconds since the epoch (the broker's clock). */
  constructor (private readonly wallClock: () => number) {}

  /** A timestamp above every one this clock returned or observed. */
  now (): HlcTimestamp {
    const wall = this.wallClock()
    this.last = wall > this.last.wall ? { wall, logical: 0 } : { wall: this.last.wall, logical: this.last.logical + 1 }
    return { ...this.last }
  }

  /**
   * Takes in a remote timestamp, so later `now()` values are above it. A timestamp that is not
   * valid (see `isValidTimestamp`) or more than `MAX_CLOCK_DRIFT_MS` ahead of the wall clock is
   * ignored and false returned: the caller refuses the write it came with.
   */
  observe (remote: HlcTimestamp): boolean {
    if (!isValidTimestamp(remote) || remote.wall > this.wallClock() + MAX_CLOCK_DRIFT_MS) return false
    if (compareTimestamps(remote, this.last) > 0) this.last = { wall: remote.wall, logical: remote.logical }
    return true
  }
}
