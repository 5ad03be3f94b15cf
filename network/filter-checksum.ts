/**
 * An order-independent checksum of a set of topic filters, updated in O(1) per add/remove: the XOR
 * of a 64-bit hash (the first 8 bytes of SHA-1) of every filter. Two replicas with the same
 * checksum hold the same set with overwhelming probability.
 */
import { createHash } from 'node:crypto'

export class FilterSetChecksum {
  private high = 0
  private low = 0

  static of (filters: Iterable<string>): FilterSetChecksum {
    const checksum = new FilterSetChecksum()
    for (const filter of filters) checksum.toggle(filter)
    return checksum
  }

  /** Adds a filter that is absent, or removes one that is present. */
  toggle (filter: string): void {
    const digest = createHash('sha1').update(filter, 'utf8').digest()
    this.high = (this.high ^ digest.readUInt32BE(0)) >>> 0
    this.low = (this.low ^ digest.readUInt32BE(4)) >>> 0
  }

  /** 16 lowercase hex digits. */
  get value (): string {
    return this.high.toString(16).padStart(8, '0') + this.low.toString(16).padStart(8, '0')
  }
}
