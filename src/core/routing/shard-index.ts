/**
 * How topic filters are partitioned across trie shard actors. A filter lives in the shard of its
 * first level; a filter whose first level is a wildcard ('+', '#') lives in every shard. A publish
 * therefore consults exactly one shard, the one of its topic's first level, which holds every
 * filter that can match it.
 *
 * Keying by the first two levels, so filters sharing a first level (`w/<c>/…`) spread over the
 * shards, was measured and dropped (issue 12): the shards share one event loop, so spreading buys no
 * parallelism, while each publish batch split into more shard messages and each subscriber's
 * deliveries into more, smaller socket writes (mixed wildcard workload 75–90k against 145k msg/s).
 */
import { fnv1a } from './fnv1a.js'
import { InvalidSharedFilterError, firstLevel, isValidTopicFilter, parseSharedFilter, startsWithWildcard } from '../mqtt/topic.js'

export function shardForTopic (topic: string, shardCount: number): number {
  if (shardCount === 1) return 0
  return fnv1a(firstLevel(topic)) % shardCount
}

/** Shards that must hold a filter (without any `$share/<group>/` prefix). */
export function shardsForFilter (filter: string, shardCount: number): number[] {
  if (startsWithWildcard(filter)) return Array.from({ length: shardCount }, (_, i) => i)
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
