/** What the HTTP API's routes read and act on: the node's parts, handed over by the broker wiring. */
import type { Ref } from 'nact'
import type { BrokerContext } from '../../actors/broker-context.js'
import type { RouteDump } from '../../actors/messages.js'
import type { ClusterNetwork } from '../../network/cluster.js'
import type { ClusterAdmin } from '../admin/cluster-admin.js'
import type { RegistryMsg } from '../../actors/messages.js'
import type { LogTap } from '../core/log-tap.js'

/** An MQTT listener of the node, as the dashboard learns it (the watch panel needs a `ws` or `wss` one). */
export interface ListenerView {
  type: string
  name: string
  host: string
  port: number
  path?: string
}

export interface ApiParts {
  admin: ClusterAdmin
  context: BrokerContext
  registry: Ref<RegistryMsg>
  network: ClusterNetwork
  routes: () => Promise<RouteDump>
  connectionCount: () => number
  /** The node's MQTT listeners as bound (none when not given). */
  listeners?: readonly ListenerView[]
  /** The tap on the node's log the log stream reads (absent: a node embedded with its own logger). */
  logTap?: LogTap | undefined
}
