/**
 * The subscription index: a trie of topic filters split on '/', modelled on NATS
 * `server/sublist.go`. Each level node keeps its literal children in a Map and its two wildcard
 * children '+' and '#' as separate fields, so matching a topic visits only the branches that can
 * match it. A bounded cache maps recently published topic names to their result arrays; a filter
 * that is added, removed or given a new value drops only the cached topics it matches (as NATS's
 * sublist does), so the rest stay cached; a bulk of many changes drops it once. The trie knows
 * nothing of `$share/`: shared subscriptions are stored under their inner filter by the caller.
 */
import { isValidTopicFilter, topicMatches } from '../mqtt/topic.js'
import { MatchCache, type MatchCacheLimits } from './match-cache.js'

export const DEFAULT_MATCH_CACHE: MatchCacheLimits = { maxTopics: 65_536, maxBytes: 8 * 1024 * 1024 }
/** Longer topics are matched but not cached, so the cache's memory stays bounded. */
const MAX_CACHED_TOPIC_LENGTH = 1024

/**
 * Wildcard changes within one `bulk()` that are invalidated selectively; past this many, the cache
 * is dropped once instead (each selective invalidation scans the cache).
 */
const BULK_SELECTIVE_LIMIT = 16

const DOLLAR = 0x24
const EMPTY: readonly never[] = Object.freeze([])
/** Stack slots kept between walks; a walk of a deeper topic grows the stack and gives the rest back. */
const STACK_KEPT = 256

/**
 * The literal text around a wildcard filter's wildcards: every topic it matches starts with
 * `prefix` and ends with `suffix`. 'a/#' also matches 'a' [MQTT-4.7.1-2], so the prefix before a
 * '#' level stops before its separator.
 */
function literalEnds (filter: string): { prefix: string, suffix: string } {
  const plus = filter.indexOf('+')
  const hash = filter.indexOf('#')
  const first = plus === -1 ? hash : hash === -1 ? plus : Math.min(plus, hash)
  const last = Math.max(filter.lastIndexOf('+'), hash)
  return { prefix: filter.slice(0, first > 0 && first === hash ? first - 1 : first), suffix: filter.slice(last + 1) }
}

/**
 * Whether `topic` starts with `prefix` and ends with `suffix`, compared from the inner ends outward:
 * topics under one root share their first characters, so a mismatch shows up sooner there.
 */
function framedBy (topic: string, prefix: string, suffix: string): boolean {
  const length = topic.length
  if (length < prefix.length + suffix.length) return false
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (topic.charCodeAt(i) !== prefix.charCodeAt(i)) return false
  }
  for (let i = 0, at = length - suffix.length; i < suffix.length; i++, at++) {
    if (topic.charCodeAt(at) !== suffix.charCodeAt(i)) return false
  }
  return true
}

/** Thrown by `TopicTrie.set` for a filter that breaks the Topic Filter rules [MQTT-4.7.1-2, MQTT-4.7.1-3]. */
export class InvalidTopicFilterError extends Error {
  override name = 'InvalidTopicFilterError'
}

/** One level of the trie: the node reached by a filter prefix. */
class LevelNode<V> {
  /** Children by literal level text; created on first use, since most nodes are leaves. */
  literals: Map<string, LevelNode<V>> | undefined
  /** Child for a '+' level. */
  plus: LevelNode<V> | undefined
  /** Child for a '#' level; always a leaf holding a value. */
  hash: LevelNode<V> | undefined
  /** Whether a filter ends at this node; `value` is meaningful only then (V may include undefined). */
  hasValue = false
  value: V | undefined
  readonly parent: LevelNode<V> | undefined
  /** This node's level text in its parent ('+' and '#' for the wildcard children). */
  readonly level: string

  constructor (parent: LevelNode<V> | undefined, level: string) {
    this.parent = parent
    this.level = level
  }

  child (level: string): LevelNode<V> | undefined {
    if (level === '+') return this.plus
    if (level === '#') return this.hash
    return this.literals?.get(level)
  }

  addChild (level: string): LevelNode<V> {
    const node = new LevelNode<V>(this, level)
    if (level === '+') {
      this.plus = node
    } else if (level === '#') {
      this.hash = node
    } else {
      this.literals ??= new Map()
      this.literals.set(level, node)
    }
    return node
  }

  removeChild (level: string): void {
    if (level === '+') {
      this.plus = undefined
    } else if (level === '#') {
      this.hash = undefined
    } else if (this.literals !== undefined) {
      this.literals.delete(level)
      if (this.literals.size === 0) this.literals = undefined
    }
  }

  isEmpty (): boolean {
    return !this.hasValue && this.plus === undefined && this.hash === undefined && this.literals === undefined
  }
}

/** Maps topic filters to one value each and finds every value whose filter matches a topic. */
export class TopicTrie<V> {
  /** Counters: match calls, of which answered from the cache; filters added and removed. */
  readonly stats = { matches: 0, cacheHits: 0, inserts: 0, removes: 0 }

  private readonly root = new LevelNode<V>(undefined, '')
  /** Every stored filter and the node where it ends, for O(1) get/has/delete. */
  private readonly filters = new Map<string, LevelNode<V>>()
  /** Topic name → values of the filters matching it, valid for the current set of filters. */
  private readonly cache: MatchCache<V>
  /** Wildcard changes so far in the running `bulk()`; undefined outside one. */
  private bulkWildcardChanges: number | undefined
  /** The walk's stack of (node, depth) pairs, kept between calls: `collect` never re-enters. */
  private readonly stackNodes: Array<LevelNode<V>> = []
  private readonly stackDepths: number[] = []

  /** `cache`: how many topics' results to keep, in count and bytes (DEFAULT_MATCH_CACHE; 0 disables it). */
  constructor (options?: { cache?: MatchCacheLimits }) {
    this.cache = new MatchCache<V>(options?.cache ?? DEFAULT_MATCH_CACHE)
  }

  /** Topics and bytes the match cache holds now. */
  get cacheUsage (): { topics: number, bytes: number } {
    return { topics: this.cache.size, bytes: this.cache.bytes }
  }

  get size (): number {
    return this.filters.size
  }

  get (filter: string): V | undefined {
    return this.filters.get(filter)?.value
  }

  has (filter: string): boolean {
    return this.filters.has(filter)
  }

  /** Insert or replace the value of a filter. Throws InvalidTopicFilterError for an invalid filter. */
  set (filter: string, value: V): void {
    let node = this.filters.get(filter)
    if (node === undefined) {
      if (!isValidTopicFilter(filter)) throw new InvalidTopicFilterError(`invalid topic filter '${filter.slice(0, 200)}'`)
      node = this.root
      for (const level of filter.split('/')) {
        node = node.child(level) ?? node.addChild(level)
      }
      node.hasValue = true
      this.filters.set(filter, node)
      this.stats.inserts++
    }
    node.value = value
    this.invalidate(filter)
  }

  /**
   * Runs `change`, which may add or remove many filters (a route snapshot, a node's removal). Its
   * first BULK_SELECTIVE_LIMIT wildcard changes invalidate selectively; past that the cache is
   * dropped once, as NATS's sublist does for batch removals, rather than scanned for each of
   * thousands of filters.
   */
  bulk (change: () => void): void {
    if (this.bulkWildcardChanges !== undefined) {
      change()
      return
    }
    this.bulkWildcardChanges = 0
    try {
      change()
    } finally {
      this.bulkWildcardChanges = undefined
    }
  }

  /** Remove a filter; returns whether it existed. Prunes nodes left without values or children. */
  delete (filter: string): boolean {
    const node = this.filters.get(filter)
    if (node === undefined) return false
    this.filters.delete(filter)
    node.hasValue = false
    node.value = undefined
    let current = node
    while (current.parent !== undefined && current.isEmpty()) {
      current.parent.removeChild(current.level)
      current = current.parent
    }
    this.stats.removes++
    this.invalidate(filter)
    return true
  }

  /**
   * Values of all filters matching the topic name; honours the $-rule [MQTT-4.7.2-1] and 'a/#'
   * matching 'a' [MQTT-4.7.1-2]. The returned array is shared with the cache: callers must not
   * mutate it.
   */
  match (topic: string): readonly V[] {
    this.stats.matches++
    const slot = topic.length <= MAX_CACHED_TOPIC_LENGTH ? this.cache.slotOf(topic) : -1
    const cached = this.cache.get(slot, topic)
    if (cached !== undefined) {
      this.stats.cacheHits++
      return cached
    }
    const result = this.collect(topic)
    this.cache.set(slot, topic, result)
    return result
  }

  * entries (): IterableIterator<[string, V]> {
    for (const [filter, node] of this.filters) yield [filter, node.value as V]
  }

  /**
   * Walks the trie with an explicit stack (reused between calls), so topics with very many levels
   * cannot overflow the call stack.
   */
  private collect (topic: string): readonly V[] {
    const levels = topic.split('/')
    const levelCount = levels.length
    const startsWithDollar = topic.charCodeAt(0) === DOLLAR
    let out: V[] | undefined
    const nodes = this.stackNodes
    const depths = this.stackDepths
    let top = 0
    nodes[0] = this.root
    depths[0] = 0
    while (top >= 0) {
      const node = nodes[top] as LevelNode<V>
      const depth = depths[top] as number
      top--
      // [MQTT-4.7.2-1] a first-level wildcard does not match a topic starting with '$'.
      const wildcardsApply = depth !== 0 || !startsWithDollar
      // 'prefix/#' matches the prefix itself and everything below it [MQTT-4.7.1-2].
      if (wildcardsApply && node.hash !== undefined && node.hash.hasValue) (out ??= []).push(node.hash.value as V)
      if (depth === levelCount) {
        if (node.hasValue) (out ??= []).push(node.value as V)
        continue
      }
      const literal = node.literals?.get(levels[depth] as string)
      if (literal !== undefined) {
        nodes[++top] = literal
        depths[top] = depth + 1
      }
      if (wildcardsApply && node.plus !== undefined) {
        nodes[++top] = node.plus
        depths[top] = depth + 1
      }
    }
    if (nodes.length > STACK_KEPT) {
      nodes.length = STACK_KEPT
      depths.length = STACK_KEPT
    }
    return out ?? EMPTY
  }

  /**
   * Drops the cached results a changed filter is part of: those of the topics it matches. A filter
   * without wildcards matches only the topic spelled the same; a wildcard filter is tested against
   * each cached topic (at most `cacheSize`, most rejected by the filter's literal ends).
   */
  private invalidate (filter: string): void {
    if (this.cache.size === 0) return
    if (!filter.includes('+') && !filter.includes('#')) {
      this.cache.delete(filter)
      return
    }
    if (this.bulkWildcardChanges !== undefined && ++this.bulkWildcardChanges > BULK_SELECTIVE_LIMIT) {
      this.cache.clear()
      return
    }
    const { prefix, suffix } = literalEnds(filter)
    this.cache.deleteWhere(topic => framedBy(topic, prefix, suffix) && topicMatches(filter, topic))
  }
}
