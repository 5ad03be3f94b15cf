/**
 * A session as a member of shared subscriptions, what it tells the trie shards: when its client
 * comes or goes (members with a connected client are picked first), and, when the client leaves,
 * the messages it got as a member and did not acknowledge, for another member of each group
 * (src/core/session/shared-redelivery.ts, README "Shared subscriptions").
 */
import { type Ref } from 'nact'
import { dispatch } from './actor-meters.js'
import { parseSharedFilter } from '../src/core/mqtt/topic.js'
import type { SubscriptionOptions } from '../src/core/session/session-state.js'
import type { SharedRedelivery, ShardMsg, Subscriber, SubscriptionChange } from './messages.js'

/**
 * The subscription changes that tell the shards a session's client came or went (`online`): one
 * per shared subscription, the member replaced by itself marked (or no longer marked) offline.
 */
export function presenceChanges (subscriptions: ReadonlyMap<string, SubscriptionOptions> | undefined, member: Omit<Subscriber, 'options' | 'offline'>, online: boolean): SubscriptionChange[] {
  const changes: SubscriptionChange[] = []
  for (const [filter, options] of subscriptions ?? []) {
    if (!filter.startsWith('$share/')) continue
    const shared = parseSharedFilter(filter)
    if (shared === undefined) continue
    const subscriber: Subscriber = online ? { ...member, options } : { ...member, options, offline: true }
    changes.push({ op: 'subscribe', filter: shared.filter, group: shared.group, subscriber })
  }
  return changes
}

/**
 * Hands each shard the messages member `departed` leaves behind (grouped by shard, see
 * `redeliveriesByShard`); `persists` when its session stays (it gets them back if it is the group's
 * only member). Returns how many messages were handed back.
 */
export function handBack (shards: ReadonlyArray<Ref<ShardMsg>>, perShard: ReadonlyMap<number, SharedRedelivery[]>, departed: string, persists: boolean): number {
  let count = 0
  for (const [shard, items] of perShard) {
    dispatch(shards[shard]!, { type: 'redispatch', items, departed, persists })
    count += items.length
  }
  return count
}
