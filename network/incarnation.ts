/**
 * Incarnations are times: a node's incarnation is the wall-clock time (ms) its current membership
 * began (its start, or `join()`: the later of now and the previous incarnation + 1). A genuine
 * incarnation is therefore never far ahead of another node's clock, while a forged one can be
 * anything up to 2^53 - 1, and a tombstone, replica or member record holding such a value would
 * refuse the node's real incarnations until the clock caught up (for good, in practice). Every
 * incarnation received (hello, member list, tombstone, notice, route delta, digest, snapshot) more
 * than `MAX_INCARNATION_AHEAD_MS` ahead of this node's clock is refused with a log line. The
 * bound also tolerates that much clock skew between nodes: a node whose clock runs further ahead
 * is refused until its clock is fixed (`hello_rejected`, reason `future-incarnation`). Pure.
 */

/** How far ahead of this node's clock a received incarnation may be. */
export const MAX_INCARNATION_AHEAD_MS = 5 * 60_000

/** Whether `incarnation` is further ahead of `now` than any genuine one can be. */
export function isFarAhead (incarnation: number, now: number): boolean {
  return incarnation - now > MAX_INCARNATION_AHEAD_MS
}
