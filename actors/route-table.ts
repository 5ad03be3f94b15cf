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
import { spawn, dispatch, query, type Ref, type ActorSystemRef } from 'nact'
import type { Logger } from '../src/core/log.js'
import { ThrottledLogEvent } from '../src/core/log-throttle.js'
import { isValidTopicFilter } from '../src/core/mqtt/topic.js'
import { resumeOnCrash } from './supervision.js'
import { shardsForFilter } from '../src/core/routing/shard-index.js'
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
   * The filters of a remote node's routes that are valid Topic Filters [MQTT-4.7.1-2, MQTT-4.7.1-3];
   * each invalid one is dropped alone and counted in a throttled log line.
   */
  function validFilters (node: string, filters: string[]): string[] {
    if (filters.every(filter => isValidTopicFilter(filter))) return filters
    const valid = filters.filter(filter => isValidTopicFilter(filter))
    const example = filters.find(filter => !isValidTopicFilter(filter)) ?? ''
    invalidLog.add({ count: filters.length - valid.length }, { node, filter: example.slice(0, 200) })
    return valid
  }

  /** Tells each shard concerned about one node's route change, in one actor message per shard. */
  function routesChanged (node: string, added: string[], removed: string[]): void {
    const shardCount = deps.shards.length
    const perShard = deps.shards.map(() => ({ added: [] as string[], removed: [] as string[] }))
    for (const filter of removed) {
      for (const i of shardsForFilter(filter, shardCount)) perShard[i]!.removed.push(filter)
    }
    for (const filter of added) {
      for (const i of shardsForFilter(filter, shardCount)) perShard[i]!.added.push(filter)
    }
    perShard.forEach((change, i) => {
      if (change.added.length > 0 || change.removed.length > 0) dispatch(deps.shards[i]!, { type: 'remote_routes_changed', node, ...change })
    })
  }

  /** Gives every shard its part of a node's new route set (an empty part drops what it held). */
  function routesReplaced (node: string, filters: string[]): void {
    const shardCount = deps.shards.length
    const perShard = deps.shards.map((): string[] => [])
    for (const filter of filters) {
      for (const i of shardsForFilter(filter, shardCount)) perShard[i]!.push(filter)
    }
    perShard.forEach((part, i) => { dispatch(deps.shards[i]!, { type: 'remote_routes_replaced', node, filters: part }) })
  }

  /** Replies with the merged dump once every shard answered; the actor goes on meanwhile. */
  function replyWithDump (local: string[], replyTo: Ref<RouteDump>): void {
    Promise.all(deps.shards.map(async shard =>
      await query(shard, (shardReplyTo: Ref<RouteDump>) => ({ type: 'remote_routes_dump', replyTo: shardReplyTo }), SHARD_DUMP_TIMEOUT_MS)))
      .then(parts => { dispatch(replyTo, mergeRoutes(deps.node, local, parts)) },
        (err: unknown) => { log.warn({ err: String(err) }, 'route_dump_failed') })
  }

  function handle (state: RouteTableState, msg: RouteTableMsg): RouteTableState {
    switch (msg.type) {
      case 'local_route_added': {
        const count = state.local.get(msg.filter) ?? 0
        state.local.set(msg.filter, count + 1)
        if (count === 0) {
          log.debug({ filter: msg.filter }, 'route_added')
          deps.replicator?.addLocalRoute(msg.filter)
        }
        break
      }
      case 'local_route_removed': {
        const count = state.local.get(msg.filter) ?? 0
        if (count <= 1) {
          state.local.delete(msg.filter)
          if (count === 1) {
            log.debug({ filter: msg.filter }, 'route_removed')
            deps.replicator?.removeLocalRoute(msg.filter)
          }
        } else state.local.set(msg.filter, count - 1)
        break
      }
      case 'remote_routes_changed': {
        const added = validFilters(msg.node, msg.added)
        if (added.length > 0) state.remoteNodes.add(msg.node)
        routesChanged(msg.node, added, msg.removed)
        break
      }
      case 'remote_routes_replaced': {
        const filters = validFilters(msg.node, msg.filters)
        if (filters.length > 0) state.remoteNodes.add(msg.node)
        else state.remoteNodes.delete(msg.node)
        routesReplaced(msg.node, filters)
        break
      }
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

  return spawn(system, handle, 'route-table', {
    initialState: { local: new Map<string, number>(), remoteNodes: new Set<string>() },
    onCrash: resumeOnCrash<RouteTableMsg>(log)
  })
}
