/**
 * The mixed wildcard workload of issue 12, built as plain data: 100 filters per subscriber client
 * in four shapes that all share the first level `w`, and a set of topics of which each matches
 * exactly one filter (so exactly one client receives each publish).
 *
 * Per client c:
 * - 50 exact filters `w/<c>/e/<k>`, one topic each (the filter itself);
 * - 15 filters with `+` at the last level `w/<c>/p/<k>/+`, topics `w/<c>/p/<k>/v<i>` for 5 values i;
 * - 15 filters with `+` at the second level `w/+/q<c>/<k>`, topics `w/<i>/q<c>/<k>` for 4 values i
 *   (second levels `(4c + i) mod clients` are client numbers, so a match also walks into the
 *   `w/<i>/…` branch of another client's filters);
 * - 20 filters ending in `#` `w/<c>/h/<k>/#`, topics `w/<c>/h/<k>/x<i>` and `w/<c>/h/<k>/x<i>/y`
 *   for 2 values i (1 and 2 levels below the filter's prefix).
 * With 100 clients: 10,000 filters and 26,500 topics.
 */

export const MIX_EXACT_PER_CLIENT = 50
export const MIX_LAST_PLUS_PER_CLIENT = 15
export const MIX_SECOND_PLUS_PER_CLIENT = 15
export const MIX_HASH_PER_CLIENT = 20
const LAST_PLUS_VALUES = 5
const SECOND_PLUS_VALUES = 4
const HASH_LEAVES = 2

/** Topics that publishers pick from, each received by one subscriber: `owners[t]` for `topics[t]`. */
export interface TopicSet {
  topics: string[]
  owners: number[]
}

export interface WildcardMix extends TopicSet {
  /** The filters of each subscriber client, in subscription order. */
  filters: string[][]
}

/** The filters and topics of `clients` subscriber clients (100 in the scenario). */
export function buildWildcardMix (clients: number): WildcardMix {
  if (!Number.isInteger(clients) || clients < SECOND_PLUS_VALUES) throw new RangeError(`the mix needs at least ${SECOND_PLUS_VALUES} clients, got ${clients}`)
  const filters: string[][] = []
  const topics: string[] = []
  const owners: number[] = []
  const add = (topic: string, c: number): void => {
    topics.push(topic)
    owners.push(c)
  }
  for (let c = 0; c < clients; c++) {
    const own: string[] = []
    for (let k = 0; k < MIX_EXACT_PER_CLIENT; k++) {
      own.push(`w/${c}/e/${k}`)
      add(`w/${c}/e/${k}`, c)
    }
    for (let k = 0; k < MIX_LAST_PLUS_PER_CLIENT; k++) {
      own.push(`w/${c}/p/${k}/+`)
      for (let i = 0; i < LAST_PLUS_VALUES; i++) add(`w/${c}/p/${k}/v${i}`, c)
    }
    for (let k = 0; k < MIX_SECOND_PLUS_PER_CLIENT; k++) {
      own.push(`w/+/q${c}/${k}`)
      for (let i = 0; i < SECOND_PLUS_VALUES; i++) add(`w/${(c * SECOND_PLUS_VALUES + i) % clients}/q${c}/${k}`, c)
    }
    for (let k = 0; k < MIX_HASH_PER_CLIENT; k++) {
      own.push(`w/${c}/h/${k}/#`)
      for (let i = 0; i < HASH_LEAVES; i++) {
        add(`w/${c}/h/${k}/x${i}`, c)
        add(`w/${c}/h/${k}/x${i}/y`, c)
      }
    }
    filters.push(own)
  }
  return { filters, topics, owners }
}

/**
 * A seeded 32-bit PRNG (mulberry32): the same seed gives the same sequence in every process, so
 * runs pick the same topics and the generator can recompute which topic a sequence number went to.
 */
export function seededRandom (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let z = state
    z = Math.imul(z ^ (z >>> 15), z | 1)
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61)
    return ((z ^ (z >>> 14)) >>> 0) / 0x1_0000_0000
  }
}
