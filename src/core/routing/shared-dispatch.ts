/**
 * How one member of a shared subscription group is picked (MQTT 5 §4.8.2), as EMQX's
 * `shared_subscription_strategy`. Picks happen at two levels: the node where a message enters the
 * cluster picks one of the nodes that have members, itself included (`publisher` level), and the
 * picked node one of its own members (`member` level). Pure: the caller keeps the candidates (the
 * first `localCount` of them local, which only `local` looks at) and the per-subscription `PickState`.
 */

export type SharedStrategy = 'random' | 'round_robin' | 'round_robin_per_group' | 'sticky' | 'hash_clientid' | 'hash_topic' | 'local'
export const SHARED_STRATEGIES: readonly SharedStrategy[] = ['random', 'round_robin', 'round_robin_per_group', 'sticky', 'hash_clientid', 'hash_topic', 'local']

/** The counter `round_robin_per_group` shares between every filter of one group. */
export interface GroupCounter { next: number }

/** What a strategy remembers for one shared subscription (group, filter) at one level on one node. */
export interface PickState<T> {
  /** `round_robin`: index of the next candidate. */
  next: number
  /** `sticky`: the candidate picked last, and where it was in the candidates then. */
  sticky: T | undefined
  stickyAt: number
}

export function createPickState<T> (): PickState<T> {
  return { next: 0, sticky: undefined, stickyAt: 0 }
}

/** What the hashing strategies hash: the message's topic and its publisher's client id. */
export interface PickedMessage { topic: string, publisher: string }

export type PickLevel = 'publisher' | 'member'

/** Seeds of the two levels' hashes, so a node picked for some hashes does not then pick one member for all of them. */
const PUBLISHER_SEED = 0x811c9dc5
const MEMBER_SEED = 0x2545f491

/** FNV-1a over UTF-16 code units, with a final avalanche (murmur3 fmix32) so close inputs spread. */
export function hashText (text: string, seed: number): number {
  let h = seed
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

export type HashStrategy = 'hash_clientid' | 'hash_topic'

export function isHashStrategy (strategy: SharedStrategy): strategy is HashStrategy {
  return strategy === 'hash_clientid' || strategy === 'hash_topic'
}

/** The index in [0, count) a hashing strategy gives a message at one level. */
export function hashIndex (strategy: HashStrategy, count: number, message: PickedMessage, level: PickLevel): number {
  const text = strategy === 'hash_clientid' ? message.publisher : message.topic
  return hashText(text, level === 'publisher' ? PUBLISHER_SEED : MEMBER_SEED) % count
}

/**
 * Picks one of `candidates` (non-empty; the first `localCount` are members on this node, the rest
 * other nodes). `random` returns a number in [0, 1).
 *
 * - random: any candidate, uniformly.
 * - round_robin: the candidates in turn, one counter per shared subscription (`state`).
 * - round_robin_per_group: the candidates in turn, one counter per group (`counter`) shared by all
 *   the group's filters.
 * - sticky: the candidate picked last while it is still a candidate, else a random one.
 * - hash_clientid / hash_topic: by a hash of the publisher's client id / the topic, so one
 *   publisher / topic goes to one candidate while the candidates stay the same (the trie shard
 *   gives the nodes in name order, so the pick is the same whichever node the message enters by).
 * - local: a random local member when there is one, else a random other node.
 */
export function pickCandidate<T> (strategy: SharedStrategy, candidates: readonly T[], localCount: number, state: PickState<T>,
  counter: GroupCounter, message: PickedMessage, level: PickLevel, random: () => number): T {
  const n = candidates.length
  let at: number
  switch (strategy) {
    case 'random':
      at = Math.floor(random() * n)
      break
    case 'round_robin':
      at = state.next % n
      state.next = (at + 1) % n
      break
    case 'round_robin_per_group':
      at = counter.next % n
      counter.next = (at + 1) % n
      break
    case 'sticky': {
      const sticky = state.sticky
      if (sticky !== undefined) {
        at = candidates[state.stickyAt] === sticky ? state.stickyAt : candidates.indexOf(sticky)
        if (at >= 0) break
      }
      at = Math.floor(random() * n)
      break
    }
    case 'hash_clientid':
    case 'hash_topic':
      at = hashIndex(strategy, n, message, level)
      break
    case 'local':
      at = localCount > 0 ? Math.floor(random() * localCount) : localCount + Math.floor(random() * (n - localCount))
      break
  }
  if (at >= n || at < 0) at = 0
  const picked = candidates[at]!
  if (strategy === 'sticky') {
    state.sticky = picked
    state.stickyAt = at
  }
  return picked
}
