/**
 * How topic filters are partitioned across trie shard actors. A topic's shard key is its first
 * SHARD_KEY_LEVELS levels (all of them when it has fewer); a filter whose first SHARD_KEY_LEVELS
 * levels are literal lives in the shard of that key, and one with a wildcard among them lives in
 * every shard. A publish therefore consults exactly one shard, the one of its topic's key, which
 * holds every filter that can match it; and filters sharing a first level (`devices/<id>/…`)
 * spread over the shards by their second.
 */
import { InvalidSharedFilterError, isValidTopicFilter, parseSharedFilter } from '../mqtt/topic.js'

/** Levels that make a shard key. 'a/#' has a wildcard within them, so it is held by every shard. */
export const SHARD_KEY_LEVELS = 2

const SLASH = 0x2f
const PLUS = 0x2b
const HASH = 0x23

/** FNV-1a over the UTF-16 code units of the topic's first SHARD_KEY_LEVELS levels. */
function hashKey (topic: string): number {
  let h = 0x811c9dc5
  let separators = 0
  for (let i = 0; i < topic.length; i++) {
    const code = topic.charCodeAt(i)
    if (code === SLASH && ++separators === SHARD_KEY_LEVELS) break
    h ^= code
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

export function shardForTopic (topic: string, shardCount: number): number {
  if (shardCount === 1) return 0
  return hashKey(topic) % shardCount
}

/** Whether a filter has a wildcard level among its first SHARD_KEY_LEVELS levels. */
function wildcardInKey (filter: string): boolean {
  let separators = 0
  for (let i = 0; i < filter.length; i++) {
    const code = filter.charCodeAt(i)
    if (code === SLASH) {
      if (++separators === SHARD_KEY_LEVELS) return false
    } else if (code === PLUS || code === HASH) {
      return true
    }
  }
  return false
}

/** Shards that must hold a filter (without any `$share/<group>/` prefix). */
export function shardsForFilter (filter: string, shardCount: number): number[] {
  if (wildcardInKey(filter)) return Array.from({ length: shardCount }, (_, i) => i)
  return [shardForTopic(filter, shardCount)]
}

/**
 * A route as nodes announce it: a filter (a node has local subscribers of it) or a shared
 * subscription `$share/<group>/<filter>` (a node has members of the group, see trie-shard.ts).
 */
export interface ParsedRoute { filter: string, group?: string }

/** The filter and group of a route; undefined for a route that is not a valid filter or shared subscription. */
export function parseRoute (route: string): ParsedRoute | undefined {
  if (route.startsWith('$share/')) {
    try {
      const shared = parseSharedFilter(route)
      return shared === undefined ? undefined : { filter: shared.filter, group: shared.group }
    } catch (err) {
      if (err instanceof InvalidSharedFilterError) return undefined
      throw err
    }
  }
  return isValidTopicFilter(route) ? { filter: route } : undefined
}

/** The route of a shared subscription's group on a node. */
export function sharedRoute (group: string, filter: string): string {
  return `$share/${group}/${filter}`
}
