/** References and settings every broker actor is given at spawn: the node's wiring, in one place. */
import type { ActorSystemRef, Ref } from 'nact'
import type { BrokerConfig } from '../src/core/config/config.js'
import type { Logger } from '../src/core/log.js'
import type { Clock } from '../src/core/clock.js'
import type { DeliveryBudget } from '../src/core/session/delivery-budget.js'
import type { WillMessage } from '../src/core/session/session-state.js'
import type { RetainerMsg, RouteTableMsg, ShardMsg } from './messages.js'
import type { Authorization } from '../src/core/auth/identity.js'
import type { Durable } from '../src/core/store/durable.js'

export interface BrokerContext {
  config: BrokerConfig
  /** This node's name, `name@host`. */
  node: string
  log: Logger
  /** Time for session expiry, will delay and message expiry: the system clock, a manual one in tests. */
  clock: Clock
  system: ActorSystemRef
  shards: Array<Ref<ShardMsg>>
  retainer: Ref<RetainerMsg>
  routeTable: Ref<RouteTableMsg>
  /**
   * The node's budget of bytes queued for its clients (`mqtt.maxNodeQueuedBytes`) and its pressure
   * signal (backlogged sessions), which meters what other nodes forward here.
   */
  deliveryBudget: DeliveryBudget
  /** What each client may publish, subscribe and read (the ACL); sessions take their client's authorizer at attach. */
  authorization: Authorization
  /** Told the will each client has (the cluster replicates it, so a node death publishes it); none when standalone. */
  wills?: WillReplicator
  /** The node's store (`persistence`): persistent sessions, their messages and retained messages are kept in it. */
  durable?: Durable
}

/**
 * Where sessions report the will the node's death would have to publish: the connected client's,
 * or one waiting for its delay; undefined once it was published or discarded.
 */
export interface WillReplicator {
  willChanged: (clientId: string, will: WillMessage | undefined) => void
}
