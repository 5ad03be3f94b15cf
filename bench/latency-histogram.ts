/**
 * Fixed-memory latency histogram: 1 µs buckets up to 10 ms, then 100 µs buckets up to 10 s;
 * anything slower lands in the last bucket. Recording allocates nothing.
 */
import type { LatencySummary } from './workload.js'

const FINE_BUCKETS = 10_000
const COARSE_BUCKETS = 100_000
const FINE_US = 1
const COARSE_US = 100

export class LatencyHistogram {
  private readonly counts = new Uint32Array(FINE_BUCKETS + COARSE_BUCKETS)
  private total = 0
  private maxMs = 0

  record (latencyMs: number): void {
    const us = latencyMs * 1000
    let bucket: number
    if (us < FINE_BUCKETS * FINE_US) bucket = us < 0 ? 0 : Math.floor(us / FINE_US)
    else bucket = Math.min(FINE_BUCKETS + Math.floor((us - FINE_BUCKETS * FINE_US) / COARSE_US), this.counts.length - 1)
    this.counts[bucket]!++
    this.total++
    if (latencyMs > this.maxMs) this.maxMs = latencyMs
  }

  summary (): LatencySummary {
    return { count: this.total, p50Ms: this.percentile(0.5), p99Ms: this.percentile(0.99), maxMs: this.maxMs }
  }

  /** Upper edge of the bucket holding the given fraction of samples, in milliseconds; 0 without samples. */
  percentile (fraction: number): number {
    if (this.total === 0) return 0
    const rank = Math.ceil(fraction * this.total)
    let seen = 0
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!
      if (seen >= rank) {
        const upperUs = i < FINE_BUCKETS ? (i + 1) * FINE_US : FINE_BUCKETS * FINE_US + (i - FINE_BUCKETS + 1) * COARSE_US
        return Math.min(upperUs / 1000, this.maxMs)
      }
    }
    return this.maxMs
  }
}
