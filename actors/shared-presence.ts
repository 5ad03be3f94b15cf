/** What a session tells the trie shards when its client comes or goes, for its shared subscriptions. */
import { parseSharedFilter } from '../src/core/mqtt/topic.js'
import type { SubscriptionOptions } from '../src/core/session/session-state.js'
import type { Subscriber, SubscriptionChange } from './messages.js'

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
