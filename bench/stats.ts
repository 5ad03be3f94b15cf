/** Summary statistics over the runs of one scenario. */

export interface Spread {
  median: number
  min: number
  max: number
  count: number
}

/** Median (mean of the middle two for an even count), minimum and maximum; null for no values. */
export function spread (values: readonly number[]): Spread | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, count: sorted.length }
}

/** Nearest-rank percentile of `values` (fraction in 0…1); NaN for no values. */
export function percentile (values: readonly number[], fraction: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(fraction * sorted.length)))
  return sorted[rank - 1]!
}
