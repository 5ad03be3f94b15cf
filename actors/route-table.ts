/**
 * The route table actor (like `emqx_router`): the node's view of `topic filter → set of nodes`.
 * It is the only writer of this node's own routes: a route exists while at least one local client
 * subscribes to the filter (reported by the trie shards), and each change is handed to the cluster
 * layer through `RouteReplicator`.
 *
 * Remote routes have one owner per concern and no third copy: the cluster layer's route replicas
 * (network/route-replica.ts) are the authority on what each node announced (they need the sets for
 * sequence numbers, digests and snapshots), and the trie shards index them for matching. This
 * actor holds none of them: it splits each route event by shard and passes it on, and answers a
 * dump from its local routes and the shards' remote ones. So the index is always what the shards
 * match against, and a snapshot (`remote_routes_replaced`) resynchronises it from the replica.
 */
import { type Ref, type ActorSystemRef } from 'nact'
import { spawnMetered, dispatch, query } from './actor-meters.js'
import type { Logger } from '../src/core/log.js'
import { ThrottledLogEvent } from '../src/core/log-throttle.js'
import { resumeOnCrash } from './supervision.js'
import { parseRoute, shardsForFilter } from '../src/core/routing/shard-index.js'
import type { RouteDump, RouteTableMsg, ShardMsg } from './messages.js'

/** How long a dump waits for each shard's remote routes. */
const SHARD_DUMP_TIMEOUT_MS = 4000

/** Receives this node's route changes, to replicate them to the cluster. */
export interface RouteReplicator {
  addLocalRoute: (filter: string) => void
  removeLocalRoute: (filter: string) => void
}

export interface RouteTableDeps {
  node: string
  log: Logger
  /** Filled by the caller once the shards (which need this actor's ref) are spawned. */
  shards: Array<Ref<ShardMsg>>
  replicator?: RouteReplicator
}

interface RouteTableState {
  /** Local filters → number of shards that report a local subscriber (wildcard-first filters live in all shards). */
  local: Map<string, number>
  /** Remote nodes whose routes were passed to the shards since they were last forgotten (names only, for the log). */
  remoteNodes: Set<string>
}

/** Merges this node's filters and the shards' remote routes (a wildcard-first filter is in every shard) into a sorted dump. */
function mergeRoutes (node: string, local: Iterable<string>, remoteParts: RouteDump[]): RouteDump {
  const table = new Map<string, Set<string>>()
  for (const filter of local) table.set(filter, new Set([node]))
  for (const part of remoteParts) {
    for (const { filter, nodes } of part) {
      const all = table.get(filter)
      if (all === undefined) table.set(filter, new Set(nodes))
      else for (const remote of nodes) all.add(remote)
    }
  }
  const dump: RouteDump = [...table].map(([filter, nodes]) => ({ filter, nodes: [...nodes].sort() }))
  return dump.sort((a, b) => a.filter < b.filter ? -1 : a.filter > b.filter ? 1 : 0)
}

export function spawnRouteTable (system: ActorSystemRef, deps: RouteTableDeps): Ref<RouteTableMsg> {
  const log = deps.log.child({ actor: 'route_table' })
  const invalidLog = new ThrottledLogEvent(line => { log.warn(line, 'invalid_route_dropped') })

  /**
   * The routes of a remote node that are valid Topic Filters [MQTT-4.7.1-2, MQTT-4.7.1-3] or
   * shared subscriptions (MQTT 5 §4.8.2), with the shards each belongs to (a shared subscription's
   * route lives with its filter); each invalid one is dropped alone and, if `logInvalid`, counted
   * in a throttled log line.
   */
  function routesByShard (node: string, routes: string[], logInvalid = true): Array<string[] | undefined> {
    const shardCount = deps.shards.length
    const perShard = new Array<string[] | undefined>(shardCount)
    let invalid = 0
    let example = ''
    for (const route of routes) {
      const parsed = parseRoute(route)
      if (parsed === undefined) {
        if (invalid++ === 0) example = route
        continue
      }
      for (const i of shardsForFilter(parsed.filter, shardCount)) (perShard[i] ??= []).push(route)
    }
    if (invalid > 0 && logInvalid) invalidLog.add({ count: invalid }, { node, filter: example.slice(0, 200) })
    return perShard
  }

  /** Tells each shard concerned about one node's route change, in one actor message per shard; returns whether any route was added. */
  function routesChanged (node: string, added: string[], removed: string[]): boolean {
    const addedPerShard = routesByShard(node, added)
    const removedPerShard = routesByShard(node, removed, false)
    let any = false
    deps.shards.forEach((shard, i) => {
      const add = addedPerShard[i] ?? []
      const remove = removedPerShard[i] ?? []
      if (add.length > 0) any = true
      if (add.length > 0 || remove.length > 0) dispatch(shard, { type: 'remote_routes_changed', node, added: add, removed: remove })
    })
    return any
  }

  /** Gives every shard its part of a node's new route set (an empty part drops what it held); returns whether any route is valid. */
  function routesReplaced (node: string, filters: string[]): boolean {
    const perShard = routesByShard(node, filters)
    deps.shards.forEach((shard, i) => { dispatch(shard, { type: 'remote_routes_replaced', node, filters: perShard[i] ?? [] }) })
    return perShard.some(part => part !== undefined)
  }

  /** Replies with the merged dump once every shard answered; the actor goes on meanwhile. */
  function replyWithDump (local: string[], replyTo: Ref<RouteDump>): void {
    Promise.all(deps.shards.map(async shard =>
      await query(shard, (shardReplyTo: Ref<RouteDump>) => ({ type: 'remote_routes_dump', replyTo: shardReplyTo }), SHARD_DUMP_TIMEOUT_MS)))
      .then(parts => { dispatch(replyTo, mergeRoutes(deps.node, local, parts)) },
        (err: unknown) => { log.warn({ err: String(err) }, 'route_dump_failed') })
  }

  /** A shard has the first local subscriber of `route`; the node announces it when it is the first shard. */
  function addLocal (state: RouteTableState, route: string): void {
    const count = state.local.get(route) ?? 0
    state.local.set(route, count + 1)
    if (count === 0) {
      log.debug({ filter: route }, 'route_added')
      deps.replicator?.addLocalRoute(route)
    }
  }

  /** A shard lost the last local subscriber of `route`; the node withdraws it when no shard has one. */
  function removeLocal (state: RouteTableState, route: string): void {
    const count = state.local.get(route) ?? 0
    if (count > 1) {
      state.local.set(route, count - 1)
      return
    }
    state.local.delete(route)
    if (count === 1) {
      log.debug({ filter: route }, 'route_removed')
      deps.replicator?.removeLocalRoute(route)
    }
  }

  function handle (state: RouteTableState, msg: RouteTableMsg): RouteTableState {
    switch (msg.type) {
      case 'local_routes_changed':
        for (const { route, added } of msg.changes) {
          if (added) addLocal(state, route)
          else removeLocal(state, route)
        }
        break
      case 'remote_routes_changed':
        if (routesChanged(msg.node, msg.added, msg.removed)) state.remoteNodes.add(msg.node)
        break
      case 'remote_routes_replaced':
        if (routesReplaced(msg.node, msg.filters)) state.remoteNodes.add(msg.node)
        else state.remoteNodes.delete(msg.node)
        break
      case 'remote_node_removed':
        if (state.remoteNodes.delete(msg.node)) log.info({ node: msg.node }, 'remote_routes_removed')
        for (const shard of deps.shards) dispatch(shard, { type: 'remote_node_removed', node: msg.node })
        break
      case 'remote_nodes_cleared':
        if (state.remoteNodes.size > 0) log.info({ nodes: [...state.remoteNodes] }, 'remote_routes_cleared')
        state.remoteNodes.clear()
        for (const shard of deps.shards) dispatch(shard, { type: 'remote_nodes_cleared' })
        break
      case 'dump':
        replyWithDump([...state.local.keys()], msg.replyTo)
        break
    }
    return state
  }

  return spawnMetered('route_table', system, handle, 'route-table', {
    initialState: { local: new Map<string, number>(), remoteNodes: new Set<string>() },
    onCrash: resumeOnCrash<RouteTableMsg>(log)
  })
}
