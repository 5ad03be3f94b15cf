/**
 * Tracks the sequence numbers one subscriber received from one publisher: distinct messages,
 * duplicates (a sequence number seen before) and out-of-order arrivals (a new sequence number lower
 * than one already received). One bit per sequence number, grown on demand.
 */
export class SequenceTracker {
  unique = 0
  duplicated = 0
  outOfOrder = 0
  private highest = -1
  private seen = new Uint8Array(1024)

  record (seq: number): void {
    const byte = seq >>> 3
    const bit = 1 << (seq & 7)
    if (byte >= this.seen.length) this.grow(byte)
    const current = this.seen[byte]!
    if ((current & bit) !== 0) {
      this.duplicated++
      return
    }
    this.seen[byte] = current | bit
    this.unique++
    if (seq < this.highest) this.outOfOrder++
    else this.highest = seq
  }

  private grow (byte: number): void {
    let size = this.seen.length * 2
    while (size <= byte) size *= 2
    const next = new Uint8Array(size)
    next.set(this.seen)
    this.seen = next
  }
}
