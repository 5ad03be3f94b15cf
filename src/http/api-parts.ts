/** What the HTTP API's routes read and act on: the node's parts, handed over by the broker wiring. */
import type { Ref } from 'nact'
import type { BrokerContext } from '../../actors/broker-context.js'
import type { RouteDump } from '../../actors/messages.js'
import type { ClusterNetwork } from '../../network/cluster.js'
import type { ClusterAdmin } from '../admin/cluster-admin.js'
import type { RegistryMsg } from '../../actors/messages.js'

export interface ApiParts {
  admin: ClusterAdmin
  context: BrokerContext
  registry: Ref<RegistryMsg>
  network: ClusterNetwork
  routes: () => Promise<RouteDump>
  connectionCount: () => number
}
