/**
 * An order-independent checksum of a set of topic filters, updated in O(1) per add/remove: the XOR
 * of a 64-bit hash of every filter. Two replicas with the same checksum hold the same set with
 * overwhelming probability.
 *
 * The hash is cyrb53's mixing widened to both 32-bit lanes, over the filter's UTF-16 code units: a
 * few multiplications per character in JavaScript, where a SHA-1 per filter (a `createHash` object
 * and a digest each) made the checksum the largest single cost of replicating 100k routes.
 * Every node computes it the same way, so it only has to be well spread, not cryptographic.
 */
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
    let h1 = 0xdeadbeef ^ filter.length
    let h2 = 0x41c6ce57 ^ filter.length
    for (let i = 0; i < filter.length; i++) {
      const code = filter.charCodeAt(i)
      h1 = Math.imul(h1 ^ code, 2654435761)
      h2 = Math.imul(h2 ^ code, 1597334677)
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507)
    h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909)
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507)
    h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909)
    this.high = (this.high ^ h1) >>> 0
    this.low = (this.low ^ h2) >>> 0
  }

  /** 16 lowercase hex digits. */
  get value (): string {
    return this.high.toString(16).padStart(8, '0') + this.low.toString(16).padStart(8, '0')
  }
}
