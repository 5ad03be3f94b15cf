/**
 * A trie shard actor (the local half of `emqx_router` + `emqx_broker`'s subscriber table): owns the
 * topic trie for its partition of filters (see shard-index.ts). Each filter entry holds the local
 * subscribers, the shared-subscription groups and the remote nodes that have a route for it. It
 * matches publishes, fans deliveries out to subscriber sessions (one actor message per session per
 * batch; one delivery per message for a client whose subscriptions overlap, see
 * matched-delivery.ts) and hands remote destinations to the forwarder, once per node. A publish
 * consults one shard only, which holds every filter that can match it, so overlapping
 * subscriptions of a client always meet in the same shard.
 *
 * The shards are the broker's only index of remote routes: the route table passes the cluster's
 * route events on to the shards concerned and keeps no copy, and a route dump reads them from here.
 */
import { spawn, dispatch, type ActorSystemRef, type Ref } from 'nact'
import { InvalidTopicFilterError, TopicTrie } from '../src/core/routing/trie.js'
import { ThrottledLogEvent } from '../src/core/log-throttle.js'
import type { Message } from '../src/core/mqtt/message.js'
import type { Delivery } from '../src/core/session/session-state.js'
import { addMatchingSubscription, deliveryFor } from '../src/core/session/matched-delivery.js'
import type { Logger } from '../src/core/log.js'
import { resumeOnCrash } from './supervision.js'
import type { RouteDump, RouteTableMsg, SessionMsg, ShardMsg, Subscriber } from './messages.js'

interface SharedGroup { members: Subscriber[], next: number }

/**
 * What one filter holds. Each collection is created on first use and dropped when emptied: most
 * filters hold only local subscribers or only remote nodes (a 100k-route join allocated 300k
 * empty collections before).
 */
class FilterEntry {
  subscribers: Map<string, Subscriber> | undefined = undefined
  groups: Map<string, SharedGroup> | undefined = undefined
  nodes: Set<string> | undefined = undefined
}

/** Sends messages to remote nodes; provided by the cluster layer. */
export interface RemoteForwarder {
  forward: (node: string, messages: Message[]) => void
}

export interface TrieShardDeps {
  index: number
  log: Logger
  routeTable: Ref<RouteTableMsg>
  forwarder?: RemoteForwarder
}

interface ShardState {
  trie: TopicTrie<FilterEntry>
  subscriberCount: number
  /**
   * Remote node → how many of this shard's filters it has a route for. Counts, not filter sets:
   * they let a node without routes here skip the trie walk that replacing or removing its routes
   * takes, and end that walk once all its routes were seen.
   */
  remoteRouteCounts: Map<string, number>
}

function localCount (entry: FilterEntry): number {
  return (entry.subscribers?.size ?? 0) + (entry.groups?.size ?? 0)
}

/** Messages of one publish batch grouped by remote node, in order; consecutive adds for one node skip the map. */
class PerNodeMessages {
  readonly lists = new Map<string, Message[]>()
  private lastNode: string | undefined
  private lastList: Message[] = []

  add (node: string, message: Message): void {
    if (node === this.lastNode) {
      this.lastList.push(message)
      return
    }
    let list = this.lists.get(node)
    if (list === undefined) this.lists.set(node, list = [])
    list.push(message)
    this.lastNode = node
    this.lastList = list
  }
}

export function spawnTrieShard (system: ActorSystemRef, deps: TrieShardDeps): Ref<ShardMsg> {
  const { log, routeTable, index } = deps
  const shardLog = log.child({ actor: 'trie_shard', shard: index })
  const invalidLog = new ThrottledLogEvent(line => { shardLog.warn(line, 'invalid_route_dropped') })

  /**
   * Adds each filter of a remote node's routes; a filter the trie refuses is dropped alone (counted
   * in a throttled log line) and the others are applied. The route table validates filters first:
   * this keeps one bad item from cutting a batch short whatever sends it.
   */
  function addRemoteRoutes (state: ShardState, filters: string[], node: string): void {
    for (const filter of filters) {
      try {
        addRemoteRoute(state, filter, node)
      } catch (err) {
        if (!(err instanceof InvalidTopicFilterError)) throw err
        invalidLog.add({ count: 1 }, { node, filter: filter.slice(0, 200) })
      }
    }
  }

  function entryFor (state: ShardState, filter: string): FilterEntry {
    let entry = state.trie.get(filter)
    if (entry === undefined) {
      entry = new FilterEntry()
      state.trie.set(filter, entry)
    }
    return entry
  }

  function pruneIfEmpty (state: ShardState, filter: string, entry: FilterEntry): void {
    if (localCount(entry) === 0 && entry.nodes === undefined) state.trie.delete(filter)
  }

  function addRemoteRoute (state: ShardState, filter: string, node: string): void {
    const nodes = entryFor(state, filter).nodes ??= new Set()
    if (nodes.has(node)) return
    nodes.add(node)
    state.remoteRouteCounts.set(node, (state.remoteRouteCounts.get(node) ?? 0) + 1)
  }

  function removeRemoteRoute (state: ShardState, filter: string, entry: FilterEntry, node: string): void {
    if (entry.nodes?.delete(node) !== true) return
    if (entry.nodes.size === 0) entry.nodes = undefined
    const count = (state.remoteRouteCounts.get(node) ?? 0) - 1
    if (count > 0) state.remoteRouteCounts.set(node, count)
    else state.remoteRouteCounts.delete(node)
    pruneIfEmpty(state, filter, entry)
  }

  /**
   * Removes `node`'s routes whose filter `keep` rejects. Walks the trie's filters (deleting the
   * current one while iterating a Map is safe) and stops once every route of the node was seen.
   */
  function removeRemoteRoutesOf (state: ShardState, node: string, keep: (filter: string) => boolean): void {
    let unseen = state.remoteRouteCounts.get(node) ?? 0
    if (unseen === 0) return
    for (const [filter, entry] of state.trie.entries()) {
      if (entry.nodes?.has(node) !== true) continue
      if (!keep(filter)) removeRemoteRoute(state, filter, entry, node)
      if (--unseen === 0) break
    }
  }

  function clearRemoteRoutes (state: ShardState): void {
    if (state.remoteRouteCounts.size === 0) return
    for (const [filter, entry] of state.trie.entries()) {
      if (entry.nodes === undefined) continue
      entry.nodes = undefined
      pruneIfEmpty(state, filter, entry)
    }
    state.remoteRouteCounts.clear()
  }

  function remoteRoutes (state: ShardState): RouteDump {
    const routes: RouteDump = []
    if (state.remoteRouteCounts.size === 0) return routes
    for (const [filter, entry] of state.trie.entries()) {
      if (entry.nodes !== undefined) routes.push({ filter, nodes: [...entry.nodes] })
    }
    return routes
  }

  function subscribe (state: ShardState, filter: string, group: string | undefined, subscriber: Subscriber): void {
    const entry = entryFor(state, filter)
    const before = localCount(entry)
    if (group === undefined) {
      const subscribers = entry.subscribers ??= new Map<string, Subscriber>()
      if (!subscribers.has(subscriber.clientId)) state.subscriberCount++
      subscribers.set(subscriber.clientId, subscriber)
    } else {
      const groups = entry.groups ??= new Map<string, SharedGroup>()
      let shared = groups.get(group)
      if (shared === undefined) {
        shared = { members: [], next: 0 }
        groups.set(group, shared)
      }
      const at = shared.members.findIndex(m => m.clientId === subscriber.clientId)
      if (at >= 0) shared.members[at] = subscriber
      else {
        shared.members.push(subscriber)
        state.subscriberCount++
      }
    }
    if (before === 0) dispatch(routeTable, { type: 'local_route_added', filter, shard: index })
  }

  function unsubscribe (state: ShardState, filter: string, group: string | undefined, clientId: string): void {
    const entry = state.trie.get(filter)
    if (entry === undefined) return
    const before = localCount(entry)
    if (group === undefined) {
      if (entry.subscribers?.delete(clientId) === true) {
        state.subscriberCount--
        if (entry.subscribers.size === 0) entry.subscribers = undefined
      }
    } else {
      const groups = entry.groups
      const shared = groups?.get(group)
      if (groups !== undefined && shared !== undefined) {
        const at = shared.members.findIndex(m => m.clientId === clientId)
        if (at >= 0) {
          shared.members.splice(at, 1)
          state.subscriberCount--
        }
        if (shared.members.length === 0) {
          groups.delete(group)
          if (groups.size === 0) entry.groups = undefined
        }
      }
    }
    if (before > 0 && localCount(entry) === 0) dispatch(routeTable, { type: 'local_route_removed', filter, shard: index })
    pruneIfEmpty(state, filter, entry)
  }

  /**
   * Routes a batch: deliveries to local sessions, one actor message each, and the messages for
   * other nodes to the forwarder. With `found`, sets `found[i]` to false for each message that
   * found no subscriber here and no node with a route (the publisher's PUBACK then says 0x10).
   */
  function route (state: ShardState, messages: Message[], fromPeer: boolean, found?: boolean[]): void {
    const perSession = new Map<string, { session: Ref<SessionMsg>, deliveries: Delivery[] }>()
    const perNode = fromPeer || deps.forwarder === undefined ? undefined : new PerNodeMessages()
    let added = 0
    const add = (subscriber: Subscriber, delivery: Delivery): void => {
      added++
      const batch = perSession.get(subscriber.clientId)
      if (batch === undefined) perSession.set(subscriber.clientId, { session: subscriber.session, deliveries: [delivery] })
      else batch.deliveries.push(delivery)
    }
    // Client id → its delivery of the current message, when several filters match it (overlap).
    let matched: Map<string, Delivery> | undefined
    for (let m = 0; m < messages.length; m++) {
      const message = messages[m]!
      const addedBefore = added
      const entries = state.trie.match(message.topic)
      const overlap = entries.length > 1 ? (matched ??= new Map<string, Delivery>()) : undefined
      // Remote nodes to forward to: the node set of the one matching entry that has any (the usual
      // case, no copy), or the union when several matching filters have remote routes.
      let nodes: ReadonlySet<string> | undefined
      let union: Set<string> | undefined
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i]!
        if (entry.subscribers !== undefined) {
          for (const subscriber of entry.subscribers.values()) {
            // No Local: not back to the client that published it [MQTT-3.8.3-3].
            if (subscriber.options.noLocal && !fromPeer && subscriber.clientId === message.publisher) continue
            const earlier = overlap?.get(subscriber.clientId)
            if (earlier !== undefined) {
              // One copy for overlapping subscriptions [MQTT-3.3.4-2 .. MQTT-3.3.4-4].
              addMatchingSubscription(earlier, subscriber.options)
              continue
            }
            const delivery = deliveryFor(message, subscriber.options)
            overlap?.set(subscriber.clientId, delivery)
            add(subscriber, delivery)
          }
        }
        if (entry.groups !== undefined) {
          for (const shared of entry.groups.values()) {
            // One member of each group gets the message, round robin (MQTT 5 §4.8.2).
            const member = shared.members[shared.next % shared.members.length]!
            shared.next = (shared.next + 1) % shared.members.length
            add(member, deliveryFor(message, member.options))
          }
        }
        if (perNode !== undefined && entry.nodes !== undefined) {
          if (nodes === undefined) {
            nodes = entry.nodes
          } else {
            union ??= new Set(nodes)
            for (const node of entry.nodes) union.add(node)
          }
        }
      }
      overlap?.clear()
      const targets = union ?? nodes
      if (targets !== undefined && perNode !== undefined) {
        for (const node of targets) perNode.add(node, message)
      }
      if (found !== undefined && added === addedBefore && (targets === undefined || perNode === undefined)) found[m] = false
    }
    for (const { session, deliveries } of perSession.values()) dispatch(session, { type: 'deliver', deliveries })
    if (perNode !== undefined && deps.forwarder !== undefined) {
      // The cluster network decides what a down node gets: QoS 1/2 wait in its link until it is
      // back (or cleaned), QoS 0 is dropped, counted and logged there.
      for (const [node, list] of perNode.lists) deps.forwarder.forward(node, list)
    }
  }

  function handle (state: ShardState, msg: ShardMsg): ShardState {
    switch (msg.type) {
      case 'publish': {
        const report = msg.report
        if (report === undefined) {
          route(state, msg.messages, msg.fromPeer === true)
          break
        }
        // Reported even if routing fails part-way, so the publisher's acks never wait for nothing.
        const found = new Array<boolean>(msg.messages.length).fill(true)
        try {
          route(state, msg.messages, false, found)
        } finally {
          dispatch(report.session, { type: 'routed', tokens: report.tokens, matched: found })
        }
        break
      }
      case 'subscriptions':
        state.trie.bulk(() => {
          for (const change of msg.changes) {
            if (change.op === 'subscribe') subscribe(state, change.filter, change.group, change.subscriber)
            else unsubscribe(state, change.filter, change.group, change.clientId)
          }
        })
        break
      case 'remote_routes_changed':
        state.trie.bulk(() => {
          for (const filter of msg.removed) {
            const entry = state.trie.get(filter)
            if (entry !== undefined) removeRemoteRoute(state, filter, entry, msg.node)
          }
          addRemoteRoutes(state, msg.added, msg.node)
        })
        break
      case 'remote_routes_replaced':
        state.trie.bulk(() => {
          // A node without routes here (a joining node's 100k-route snapshot) skips the walk and the set.
          if (state.remoteRouteCounts.has(msg.node)) {
            const next = new Set(msg.filters)
            removeRemoteRoutesOf(state, msg.node, filter => next.has(filter))
          }
          addRemoteRoutes(state, msg.filters, msg.node)
        })
        break
      case 'remote_node_removed':
        state.trie.bulk(() => { removeRemoteRoutesOf(state, msg.node, () => false) })
        break
      case 'remote_nodes_cleared':
        state.trie.bulk(() => { clearRemoteRoutes(state) })
        break
      case 'remote_routes_dump':
        dispatch(msg.replyTo, remoteRoutes(state))
        break
      case 'stats':
        dispatch(msg.replyTo, {
          filters: state.trie.size,
          subscribers: state.subscriberCount,
          matches: state.trie.stats.matches,
          cacheHits: state.trie.stats.cacheHits
        })
        break
    }
    return state
  }

  return spawn(system, handle, `trie-shard-${index}`, {
    initialState: { trie: new TopicTrie<FilterEntry>(), subscriberCount: 0, remoteRouteCounts: new Map() },
    onCrash: resumeOnCrash<ShardMsg>(shardLog)
  })
}
