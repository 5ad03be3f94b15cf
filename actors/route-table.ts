/**
 * The route table actor (like `emqx_router`): the node's view of `topic filter → set of nodes`.
 * It is the only writer of this node's own routes: a route exists while at least one local client
 * subscribes to the filter (reported by the trie shards), and remote routes are applied to the
 * shards that index them. The cluster layer plugs in through `RouteReplicator`.
 */
import { spawn, dispatch, type Ref, type ActorContext, type ActorSystemRef } from 'nact'
import type { Logger } from '../src/core/log.js'
import { resumeOnCrash } from './supervision.js'
import { shardsForFilter } from '../src/core/routing/shard-index.js'
import type { ShardMsg } from './trie-shard.js'

export type RouteTableMsg =
  /** A shard gained the first local subscriber of a filter. */
  | { type: 'local_route_added', filter: string, shard: number }
  /** A shard lost the last local subscriber of a filter. */
  | { type: 'local_route_removed', filter: string, shard: number }
  /** A remote node's route set changed (from the cluster layer); no filter is in both lists. */
  | { type: 'remote_routes_changed', node: string, added: string[], removed: string[] }
  /** Replace all routes of a remote node (after a snapshot). */
  | { type: 'remote_routes_replaced', node: string, filters: string[] }
  /** Forget a remote node and all its routes. */
  | { type: 'remote_node_removed', node: string }
  /** Forget every remote node (this node left its cluster or joins another). */
  | { type: 'remote_nodes_cleared' }
  | { type: 'dump', replyTo: Ref<RouteDump> }

/** filter → nodes, sorted, for status and tests. */
export type RouteDump = Array<{ filter: string, nodes: string[] }>

/** Receives this node's route changes, to replicate them to the cluster. */
export interface RouteReplicator {
  addLocalRoute: (filter: string) => void
  removeLocalRoute: (filter: string) => void
}

export interface RouteTableDeps {
  node: string
  log: Logger
  shards: Array<Ref<ShardMsg>>
  replicator?: RouteReplicator
}

interface RouteTableState {
  /** Local filters → number of shards that report a local subscriber (wildcard-first filters live in all shards). */
  local: Map<string, number>
  /** Remote node → its filters. */
  remote: Map<string, Set<string>>
}

export function spawnRouteTable (system: ActorSystemRef, deps: RouteTableDeps): Ref<RouteTableMsg> {
  const log = deps.log.child({ actor: 'route_table' })


  /**
   * Applies remote route changes of one node and tells each shard concerned in one actor message
   * (a 100k-route snapshot is a few messages, not 100k).
   */
  function applyRemote (state: RouteTableState, node: string, added: Iterable<string>, removed: Iterable<string>): void {
    let filters = state.remote.get(node)
    if (filters === undefined) state.remote.set(node, filters = new Set())
    const perShard = deps.shards.map(() => ({ added: [] as string[], removed: [] as string[] }))
    for (const filter of removed) {
      if (!filters.delete(filter)) continue
      for (const i of shardsForFilter(filter, perShard.length)) perShard[i]!.removed.push(filter)
    }
    for (const filter of added) {
      if (filters.has(filter)) continue
      filters.add(filter)
      for (const i of shardsForFilter(filter, perShard.length)) perShard[i]!.added.push(filter)
    }
    if (filters.size === 0) state.remote.delete(node)
    perShard.forEach((change, i) => {
      if (change.added.length > 0 || change.removed.length > 0) dispatch(deps.shards[i]!, { type: 'remote_routes', node, ...change })
    })
  }

  function handle (state: RouteTableState, msg: RouteTableMsg, _ctx: ActorContext<RouteTableMsg, ActorSystemRef>): RouteTableState {
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
      case 'remote_routes_changed':
        applyRemote(state, msg.node, msg.added, msg.removed)
        break
      case 'remote_routes_replaced': {
        // Only a node already holding routes needs the new set to find what went (a joining
        // node's 100k-route snapshot is applied from its array, with no set built).
        const current = state.remote.get(msg.node)
        let removed: string[] = []
        if (current !== undefined && current.size > 0) {
          const next = new Set(msg.filters)
          removed = [...current].filter(filter => !next.has(filter))
        }
        applyRemote(state, msg.node, msg.filters, removed)
        break
      }
      case 'remote_node_removed':
        if (state.remote.delete(msg.node)) log.info({ node: msg.node }, 'remote_routes_removed')
        for (const shard of deps.shards) dispatch(shard, { type: 'remote_node_removed', node: msg.node })
        break
      case 'remote_nodes_cleared':
        for (const node of state.remote.keys()) {
          for (const shard of deps.shards) dispatch(shard, { type: 'remote_node_removed', node })
        }
        if (state.remote.size > 0) log.info({ nodes: [...state.remote.keys()] }, 'remote_routes_cleared')
        state.remote.clear()
        break
      case 'dump': {
        const table = new Map<string, string[]>()
        for (const filter of state.local.keys()) table.set(filter, [deps.node])
        for (const [node, filters] of state.remote) {
          for (const filter of filters) {
            const nodes = table.get(filter)
            if (nodes === undefined) table.set(filter, [node])
            else nodes.push(node)
          }
        }
        const dump: RouteDump = [...table].map(([filter, nodes]) => ({ filter, nodes: nodes.sort() }))
        dump.sort((a, b) => a.filter < b.filter ? -1 : a.filter > b.filter ? 1 : 0)
        dispatch(msg.replyTo, dump)
        break
      }
    }
    return state
  }

  return spawn(system, handle, 'route-table', {
    initialState: { local: new Map(), remote: new Map() },
    onCrash: resumeOnCrash<RouteTableMsg>(log)
  })
}
