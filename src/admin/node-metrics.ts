/**
 * This node's numbers as JSON, for `/api/v1/metrics`, `/api/v1/actors` and `meshmq ctl metrics`:
 * the counters of `$SYS` (src/core/metrics.ts), the delivery budget, the cluster's forward
 * counters, the store's, and the actors of each type (actors/actor-meters.ts).
 */
import type { BrokerContext } from '../../actors/broker-context.js'
import { actorMetersOf } from '../../actors/actor-meters.js'
import type { ClusterNetwork } from '../../network/cluster.js'
import { droppedByReason, metrics } from '../core/metrics.js'

/** One actor type as `/api/v1/actors` lists it. */
export interface ActorTypeView {
  type: string
  /** Actors of the type running now. */
  count: number
  /** Messages whose handling started. */
  handled: number
  /** Messages queued in their mailboxes, not yet started. */
  mailboxDepth: number
  crashes: number
}

/** The broker's actor types, listed (at 0) before their first actor runs, so that their series exist from the start. */
const ACTOR_TYPES = ['client_registry', 'retainer', 'route_table', 'session', 'sys_publisher', 'trie_shard']

/** The actors of this node by type, sorted by type. */
export function actorTypes (context: BrokerContext): ActorTypeView[] {
  const meters = actorMetersOf(context.system)
  for (const type of ACTOR_TYPES) meters.of(type)
  return meters.all().map(meter => ({
    type: meter.type, count: meter.running, handled: meter.handled, mailboxDepth: meter.mailboxDepth, crashes: meter.crashes
  }))
}

/** This node's counters and gauges, as under `$SYS/brokers/<node>/`, with the drops by reason, queues, forward and store counters. */
export function nodeCounters (context: BrokerContext, network: ClusterNetwork, connections: number): Record<string, unknown> {
  const budget = context.deliveryBudget
  const store = context.durable?.stats()
  return {
    node: context.node,
    ...metrics,
    connections,
    droppedByReason: Object.fromEntries(droppedByReason),
    queued: { messages: budget.heldMessages, bytes: budget.heldBytes, sessionsBacklogged: budget.backlogged },
    forward: network.started ? network.stats().forward : undefined,
    ...(store === undefined ? {} : { store })
  }
}
