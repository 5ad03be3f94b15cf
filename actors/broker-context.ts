/** References and settings every broker actor is given at spawn: the node's wiring, in one place. */
import type { ActorSystemRef, Ref } from 'nact'
import type { BrokerConfig } from '../src/core/config/config.js'
import type { Logger } from '../src/core/log.js'
import type { RetainerMsg, RouteTableMsg, ShardMsg } from './messages.js'

export interface BrokerContext {
  config: BrokerConfig
  /** This node's name, `name@host`. */
  node: string
  log: Logger
  system: ActorSystemRef
  shards: Array<Ref<ShardMsg>>
  retainer: Ref<RetainerMsg>
  routeTable: Ref<RouteTableMsg>
}
