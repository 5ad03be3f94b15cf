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
 *
 * Shared subscriptions (MQTT 5 §4.8.2) are exactly-once per group cluster-wide: a node announces
 * the route `$share/<group>/<filter>` while it has members of the group, and only the node where a
 * message enters the cluster picks one of the nodes with members (itself included); a node
 * it picks gets the message annotated with the (group, filter) pairs it was picked for and hands it
 * to one of its members of those groups only (see shared-group.ts and README "Shared subscriptions").
 */
import { type ActorSystemRef, type Ref } from 'nact'
import { spawnMetered, dispatch } from './actor-meters.js'
import { InvalidTopicFilterError, TopicTrie } from '../src/core/routing/trie.js'
import type { MatchCacheLimits } from '../src/core/routing/match-cache.js'
import { ThrottledLogEvent } from '../src/core/log-throttle.js'
import type { Message, SharedTarget } from '../src/core/mqtt/message.js'
import type { Delivery } from '../src/core/session/session-state.js'
import { addMatchingSubscription, deliveryFor } from '../src/core/session/matched-delivery.js'
import { parseRoute, sharedRoute } from '../src/core/routing/shard-index.js'
import type { SharedStrategy } from '../src/core/routing/shared-dispatch.js'
import { countDropped } from '../src/core/metrics.js'
import type { Logger } from '../src/core/log.js'
import type { Durable } from '../src/core/store/durable.js'
import { resumeOnCrash } from './supervision.js'
import { SharedGroup, type CountedGroupCounter, type PickContext } from './shared-group.js'
import { PerNodeMessages, annotated } from './per-node-messages.js'
import type { LocalRouteChange, LocalSubscription, RouteDump, RouteTableMsg, SessionMsg, SharedRedelivery, ShardMsg, Subscriber } from './messages.js'

/**
 * What one filter holds. Each collection is created on first use and dropped when emptied: most
 * filters hold only local subscribers or only remote nodes (a 100k-route join allocated 300k
 * empty collections before).
 */
class FilterEntry {
  subscribers: Map<string, Subscriber> | undefined = undefined
  /** Shared subscription groups with members here or on other nodes. */
  groups: Map<string, SharedGroup> | undefined = undefined
  /** Remote nodes with a (non-shared) route for the filter. */
  nodes: Set<string> | undefined = undefined
  constructor (readonly filter: string) {}
}

/** Sends messages to remote nodes; provided by the cluster layer. */
export interface RemoteForwarder {
  forward: (node: string, messages: Message[]) => void
}

export interface TrieShardDeps {
  index: number
  /** This node's name. */
  node: string
  log: Logger
  routeTable: Ref<RouteTableMsg>
  forwarder?: RemoteForwarder
  /** How a shared subscription's member is picked (`mqtt.sharedSubscriptionStrategy`). */
  sharedStrategy: SharedStrategy
  /** Random numbers in [0, 1) for the random picks; `Math.random` unless a test sets it. */
  random?: () => number
  /** The node's store: QoS 1/2 deliveries to durable subscribers are recorded in the routing turn. */
  durable?: Durable
  /** Bound of the trie's match cache (`routing.matchCacheTopics`, `routing.matchCacheBytes`). */
  matchCache?: MatchCacheLimits
}

/** What one routing turn hands one local session. */
interface SessionBatch { session: Ref<SessionMsg>, deliveries: Delivery[] }

interface ShardState {
  trie: TopicTrie<FilterEntry>
  subscriberCount: number
  /**
   * Remote node → how many of this shard's filters it has a route for. Counts, not filter sets:
   * they let a node without routes here skip the trie walk that replacing or removing its routes
   * takes, and end that walk once all its routes were seen.
   */
  remoteRouteCounts: Map<string, number>
  /** Group name → the counter `round_robin_per_group` shares between the group's filters. */
  groupCounters: Map<string, CountedGroupCounter>
}

export function spawnTrieShard (system: ActorSystemRef, deps: TrieShardDeps): Ref<ShardMsg> {
  const { log, routeTable, index } = deps
  const picker: PickContext = { strategy: deps.sharedStrategy, self: deps.node, random: deps.random ?? Math.random }
  const shardLog = log.child({ actor: 'trie_shard', shard: index })
  const invalidLog = new ThrottledLogEvent(line => { shardLog.warn(line, 'invalid_route_dropped') })
  const noMemberLog = new ThrottledLogEvent(line => { shardLog.warn(line, 'message_dropped') })

  /** A message picked for a shared subscription that has no member left to take it: counted and logged. */
  function noSharedMember (message: Message, target: SharedTarget): void {
    countDropped('no_shared_member')
    noMemberLog.add({ count: 1 }, { reason: 'no_shared_member', group: target.group, filter: target.filter, topic: message.topic })
  }

  /**
   * Adds each route of a remote node; a route the trie refuses is dropped alone (counted in a
   * throttled log line) and the others are applied. The route table validates routes first: this
   * keeps one bad item from cutting a batch short whatever sends it.
   */
  function addRemoteRoutes (state: ShardState, routes: string[], node: string): void {
    for (const route of routes) {
      try {
        addRemoteRoute(state, route, node)
      } catch (err) {
        if (!(err instanceof InvalidTopicFilterError)) throw err
        invalidLog.add({ count: 1 }, { node, filter: route.slice(0, 200) })
      }
    }
  }

  function entryFor (state: ShardState, filter: string): FilterEntry {
    let entry = state.trie.get(filter)
    if (entry === undefined) {
      entry = new FilterEntry(filter)
      state.trie.set(filter, entry)
    }
    return entry
  }

  function pruneIfEmpty (state: ShardState, filter: string, entry: FilterEntry): void {
    if (entry.subscribers === undefined && entry.groups === undefined && entry.nodes === undefined) state.trie.delete(filter)
  }

  function groupFor (state: ShardState, entry: FilterEntry, group: string): SharedGroup {
    const groups = entry.groups ??= new Map<string, SharedGroup>()
    let shared = groups.get(group)
    if (shared === undefined) {
      let counter = state.groupCounters.get(group)
      if (counter === undefined) state.groupCounters.set(group, counter = { publisher: { next: 0 }, member: { next: 0 }, users: 0 })
      counter.users++
      shared = new SharedGroup({ group, filter: entry.filter }, counter)
      groups.set(group, shared)
    }
    return shared
  }

  function dropGroupIfEmpty (state: ShardState, entry: FilterEntry, shared: SharedGroup): void {
    if (!shared.empty || entry.groups === undefined) return
    entry.groups.delete(shared.target.group)
    if (entry.groups.size === 0) entry.groups = undefined
    if (--shared.counter.users === 0) state.groupCounters.delete(shared.target.group)
  }

  function countRemoteRoute (state: ShardState, node: string, delta: 1 | -1): void {
    const count = (state.remoteRouteCounts.get(node) ?? 0) + delta
    if (count > 0) state.remoteRouteCounts.set(node, count)
    else state.remoteRouteCounts.delete(node)
  }

  function addRemoteRoute (state: ShardState, route: string, node: string): void {
    const parsed = parseRoute(route)
    if (parsed === undefined) throw new InvalidTopicFilterError(`invalid route '${route.slice(0, 200)}'`)
    const entry = entryFor(state, parsed.filter)
    if (parsed.group !== undefined) {
      if (groupFor(state, entry, parsed.group).addNode(node)) countRemoteRoute(state, node, 1)
      return
    }
    const nodes = entry.nodes ??= new Set()
    if (nodes.has(node)) return
    nodes.add(node)
    countRemoteRoute(state, node, 1)
  }

  /** Removes a remote node's route: the filter's plain route, or with `group` its route for that group. */
  function removeRemoteRoute (state: ShardState, entry: FilterEntry, group: string | undefined, node: string): void {
    if (group !== undefined) {
      const shared = entry.groups?.get(group)
      if (shared?.removeNode(node) !== true) return
      dropGroupIfEmpty(state, entry, shared)
    } else {
      if (entry.nodes?.delete(node) !== true) return
      if (entry.nodes.size === 0) entry.nodes = undefined
    }
    countRemoteRoute(state, node, -1)
    pruneIfEmpty(state, entry.filter, entry)
  }

  /**
   * Removes `node`'s routes that `keep` rejects. Walks the trie's filters (deleting the current one
   * while iterating a Map is safe) and stops once every route of the node was seen.
   */
  function removeRemoteRoutesOf (state: ShardState, node: string, keep: (route: string) => boolean): void {
    let unseen = state.remoteRouteCounts.get(node) ?? 0
    if (unseen === 0) return
    for (const [filter, entry] of state.trie.entries()) {
      if (entry.groups !== undefined) {
        for (const shared of [...entry.groups.values()]) {
          if (!shared.nodes.includes(node)) continue
          unseen--
          if (!keep(sharedRoute(shared.target.group, filter))) removeRemoteRoute(state, entry, shared.target.group, node)
        }
      }
      if (entry.nodes?.has(node) === true) {
        unseen--
        if (!keep(filter)) removeRemoteRoute(state, entry, undefined, node)
      }
      if (unseen <= 0) break
    }
  }

  function clearRemoteRoutes (state: ShardState): void {
    if (state.remoteRouteCounts.size === 0) return
    for (const [filter, entry] of state.trie.entries()) {
      entry.nodes = undefined
      for (const shared of [...entry.groups?.values() ?? []]) {
        for (const node of [...shared.nodes]) shared.removeNode(node)
        dropGroupIfEmpty(state, entry, shared)
      }
      pruneIfEmpty(state, filter, entry)
    }
    state.remoteRouteCounts.clear()
  }

  function remoteRoutes (state: ShardState): RouteDump {
    const routes: RouteDump = []
    if (state.remoteRouteCounts.size === 0) return routes
    for (const [filter, entry] of state.trie.entries()) {
      if (entry.nodes !== undefined) routes.push({ filter, nodes: [...entry.nodes] })
      for (const shared of entry.groups?.values() ?? []) {
        if (shared.nodes.length > 0) routes.push({ filter: sharedRoute(shared.target.group, filter), nodes: [...shared.nodes] })
      }
    }
    return routes
  }

  function localSubscriptions (state: ShardState): LocalSubscription[] {
    const subscriptions: LocalSubscription[] = []
    for (const [filter, entry] of state.trie.entries()) {
      for (const subscriber of entry.subscribers?.values() ?? []) subscriptions.push({ clientId: subscriber.clientId, filter, options: subscriber.options })
      for (const shared of entry.groups?.values() ?? []) {
        const route = sharedRoute(shared.target.group, filter)
        for (const member of shared.members) subscriptions.push({ clientId: member.clientId, filter: route, options: member.options })
      }
    }
    return subscriptions
  }

  /** This node's route for a filter (plain, or with `group` the group's) came or went. */
  /** Local route changes of the current turn, sent to the route table in one message at its end. */
  let routeChanges: LocalRouteChange[] = []

  function localRouteChanged (filter: string, group: string | undefined, added: boolean): void {
    routeChanges.push({ route: group === undefined ? filter : sharedRoute(group, filter), added })
  }

  function flushRouteChanges (): void {
    if (routeChanges.length === 0) return
    dispatch(routeTable, { type: 'local_routes_changed', changes: routeChanges, shard: index })
    routeChanges = []
  }

  function subscribe (state: ShardState, filter: string, group: string | undefined, subscriber: Subscriber): void {
    const entry = entryFor(state, filter)
    if (group === undefined) {
      const subscribers = entry.subscribers ??= new Map<string, Subscriber>()
      if (subscribers.has(subscriber.clientId)) {
        subscribers.set(subscriber.clientId, subscriber)
        return
      }
      subscribers.set(subscriber.clientId, subscriber)
      state.subscriberCount++
      if (subscribers.size === 1) localRouteChanged(filter, undefined, true)
      return
    }
    const shared = groupFor(state, entry, group)
    if (!shared.setMember(subscriber)) return
    state.subscriberCount++
    if (shared.members.length === 1) localRouteChanged(filter, group, true)
  }

  function unsubscribe (state: ShardState, filter: string, group: string | undefined, clientId: string): void {
    const entry = state.trie.get(filter)
    if (entry === undefined) return
    if (group === undefined) {
      if (entry.subscribers?.delete(clientId) === true) {
        state.subscriberCount--
        if (entry.subscribers.size === 0) {
          entry.subscribers = undefined
          localRouteChanged(filter, undefined, false)
        }
      }
    } else {
      const shared = entry.groups?.get(group)
      if (shared?.removeMember(clientId) === true) {
        state.subscriberCount--
        if (shared.members.length === 0) localRouteChanged(filter, group, false)
        dropGroupIfEmpty(state, entry, shared)
      }
    }
    pruneIfEmpty(state, filter, entry)
  }

  /** The delivery of a message to the member picked for a shared subscription; it remembers the subscription (for redelivery). */
  function sharedDelivery (message: Message, member: Subscriber, target: SharedTarget): Delivery {
    const delivery = deliveryFor(message, member.options)
    delivery.shared = target
    return delivery
  }

  /**
   * Routes a batch: deliveries to local sessions, one actor message each, and the messages for
   * other nodes to the forwarder. With `found`, sets `found[i]` to false for each message that
   * found no subscriber here and no node with a route (the publisher's PUBACK then says 0x10).
   *
   * A message from a peer goes to local subscribers and, for shared subscriptions, only to the
   * groups it is annotated with (see the file's comment); it is never forwarded again, except to
   * another node of such a group when this one has no member left (once: `redispatched`).
   */
  function route (state: ShardState, messages: Message[], fromPeer: boolean, found?: boolean[]): void {
    const perSession = new Map<string, SessionBatch>()
    const forwarder = deps.forwarder
    const perNode = forwarder === undefined ? undefined : new PerNodeMessages()
    let added = 0
    /** The sessions of this batch whose deliveries are recorded (durable subscribers). */
    let durableSessions: Set<string> | undefined
    const add = (subscriber: Subscriber, delivery: Delivery): void => {
      added++
      const batch = perSession.get(subscriber.clientId)
      if (batch === undefined) {
        perSession.set(subscriber.clientId, { session: subscriber.session, deliveries: [delivery] })
        if (subscriber.durable === true) (durableSessions ??= new Set()).add(subscriber.clientId)
      } else {
        batch.deliveries.push(delivery)
      }
    }
    // Client id → its delivery of the current message, when several filters match it (overlap).
    let matched: Map<string, Delivery> | undefined
    // Remote nodes picked for shared subscriptions of the current message, and for which.
    let picks: Map<string, SharedTarget[]> | undefined
    const pick = (node: string, target: SharedTarget): void => {
      const list = (picks ??= new Map<string, SharedTarget[]>()).get(node)
      if (list === undefined) picks.set(node, [target])
      else list.push(target)
    }
    for (let m = 0; m < messages.length; m++) {
      const message = messages[m]!
      const addedBefore = added
      const entries = state.trie.match(message.topic)
      const overlap = entries.length > 1 ? (matched ??= new Map<string, Delivery>()) : undefined
      // Remote nodes to forward to: the node set of the one matching entry that has any (the usual
      // case, no copy), or the union when several matching filters have remote routes.
      let nodes: ReadonlySet<string> | undefined
      let union: Set<string> | undefined
      picks?.clear()
      const shared = message.shared
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
          // One member of each group gets the message, cluster-wide (MQTT 5 §4.8.2).
          for (const group of entry.groups.values()) {
            if (!fromPeer) {
              const picked = group.pickAtEntry(picker, message, perNode !== undefined)
              if (picked === undefined) continue
              if (typeof picked === 'string') pick(picked, group.target)
              else add(picked, sharedDelivery(message, picked, group.target))
            } else if (shared !== undefined && group.targetedBy(shared.targets)) {
              const member = group.pickMember(picker, message)
              // Without members (gone since the publishing node picked this one): another node of the group, once.
              const node = member !== undefined || shared.redispatched || perNode === undefined ? undefined : group.pickNode(picker, message)
              if (member !== undefined) add(member, sharedDelivery(message, member, group.target))
              else if (node !== undefined) pick(node, group.target)
              else noSharedMember(message, group.target)
            }
          }
        }
        if (!fromPeer && perNode !== undefined && entry.nodes !== undefined) {
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
      const picked = picks !== undefined && picks.size > 0 ? picks : undefined
      if (perNode !== undefined) {
        if (targets !== undefined) {
          for (const node of targets) {
            const chosen = picked?.get(node)
            if (chosen === undefined) {
              perNode.add(node, message)
            } else {
              // One copy per node: a node picked for groups gets them listed on the copy its routes get.
              perNode.add(node, annotated(message, chosen, fromPeer))
              picked!.delete(node)
            }
          }
        }
        if (picked !== undefined) for (const [node, chosen] of picked) perNode.add(node, annotated(message, chosen, fromPeer))
      }
      if (found !== undefined && added === addedBefore && targets === undefined && picked === undefined) found[m] = false
    }
    if (durableSessions !== undefined) keepDurable(perSession, durableSessions)
    for (const { session, deliveries } of perSession.values()) dispatch(session, { type: 'deliver', deliveries })
    if (perNode !== undefined && forwarder !== undefined) {
      // The cluster network decides what a down node gets: QoS 1/2 wait in its link until it is
      // back (or cleaned), QoS 0 is dropped, counted and logged there.
      for (const [node, list] of perNode.lists) forwarder.forward(node, list)
    }
  }

  /**
   * Records the QoS 1/2 deliveries to durable subscribers in the store, in this turn: the
   * publisher's ack, which waits for the routing and then for the commit, covers them.
   */
  function keepDurable (perSession: ReadonlyMap<string, SessionBatch>, clientIds: ReadonlySet<string>): void {
    const durable = deps.durable
    if (durable === undefined) return
    for (const clientId of clientIds) {
      for (const delivery of perSession.get(clientId)?.deliveries ?? []) if (delivery.qos > 0) durable.deliveryKept(clientId, delivery)
    }
  }

  /**
   * Hands messages a shared member took and left unacknowledged (its connection dropped) to another
   * member of the same shared subscription, here or on another node; the departed member gets them
   * back only when it is the only one left and its session `persists`.
   */
  function redispatch (state: ShardState, items: SharedRedelivery[], departed: string, persists: boolean): void {
    const perSession = new Map<Ref<SessionMsg>, Delivery[]>()
    const perNode = new PerNodeMessages()
    for (const { message, target } of items) {
      const group = state.trie.get(target.filter)?.groups?.get(target.group)
      let picked = group?.pickExcluding(picker, message, departed, deps.forwarder !== undefined)
      if (picked === undefined && persists) picked = group?.members.find(m => m.clientId === departed)
      if (picked === undefined) {
        noSharedMember(message, target)
      } else if (typeof picked === 'string') {
        perNode.add(picked, annotated(message, [group!.target], true))
      } else {
        const list = perSession.get(picked.session)
        const delivery = sharedDelivery(message, picked, group!.target)
        if (list === undefined) perSession.set(picked.session, [delivery])
        else list.push(delivery)
      }
    }
    for (const [session, deliveries] of perSession) dispatch(session, { type: 'deliver', deliveries })
    for (const [node, list] of perNode.lists) deps.forwarder?.forward(node, list)
  }

  /** Handles a message; the local route changes it made go to the route table even if it throws part-way. */
  function handle (state: ShardState, msg: ShardMsg): ShardState {
    try {
      return handleMessage(state, msg)
    } finally {
      flushRouteChanges()
    }
  }

  function handleMessage (state: ShardState, msg: ShardMsg): ShardState {
    switch (msg.type) {
      case 'publish': {
        const report = msg.report
        if (report === undefined) {
          route(state, msg.messages, msg.fromPeer === true)
          break
        }
        // Reported even if routing fails part-way, so the publisher's acks never wait for nothing.
        const found = new Array<boolean>(msg.messages.length).fill(true)
        const durable = deps.durable
        const from = durable?.appended ?? 0
        try {
          route(state, msg.messages, false, found)
        } finally {
          const to = durable?.appended ?? 0
          dispatch(report.session, to > from ? { type: 'routed', tokens: report.tokens, matched: found, written: [from, to] } : { type: 'routed', tokens: report.tokens, matched: found })
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
          for (const route of msg.removed) {
            const parsed = parseRoute(route)
            const entry = parsed === undefined ? undefined : state.trie.get(parsed.filter)
            if (entry !== undefined) removeRemoteRoute(state, entry, parsed!.group, msg.node)
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
      case 'redispatch':
        redispatch(state, msg.items, msg.departed, msg.persists)
        break
      case 'remote_routes_dump':
        dispatch(msg.replyTo, remoteRoutes(state))
        break
      case 'local_subscriptions':
        dispatch(msg.replyTo, localSubscriptions(state))
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

  return spawnMetered('trie_shard', system, handle, `trie-shard-${index}`, {
    initialState: { trie: new TopicTrie<FilterEntry>(deps.matchCache === undefined ? undefined : { cache: deps.matchCache }), subscriberCount: 0, remoteRouteCounts: new Map(), groupCounters: new Map() },
    onCrash: resumeOnCrash<ShardMsg>(shardLog)
  })
}
