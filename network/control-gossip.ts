/**
 * The control gossip topic, a component of the cluster network: publishes this node's control
 * messages (replication deltas and digests, leave notices) on `ROUTES_TOPIC`, each in its envelope
 * (gossip-envelope.ts), and hands every one that arrives, decoded, to the network with the peer it
 * came from.
 *
 * The topic is point to point (control-trust.ts): a message counts only from its author, the direct
 * peer it came from. The topic validator is where gossipsub names that peer (the propagation
 * source), so each message is consumed there and then "ignored" (no peer penalty), which keeps
 * gossipsub from relaying it: a relayed copy would be refused anyway, and a forged message about a
 * node relayed by that node would look authored by it.
 */
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { ROUTES_TOPIC } from './constants.js'
import { decodeControl, type ControlMessage } from './control-codec.js'
import { GossipEnvelope, openGossipEnvelope } from './gossip-envelope.js'
import type { ClusterLibp2p } from './libp2p-node.js'
import { guarded, type ClusterLogger } from './logger.js'

export interface ControlGossipComponents {
  /** Whether this node is in a cluster now (started and not left): nothing is sent or taken otherwise. */
  running: () => boolean
  /** A control message from the direct peer `source` (a peer id), which is not necessarily its author; must not throw. */
  received: (message: ControlMessage, source: string) => void
  logger: ClusterLogger
}

export class ControlGossip {
  private readonly envelope = new GossipEnvelope()
  private node: ClusterLibp2p | undefined

  constructor (private readonly components: ControlGossipComponents) {}

  /** Takes the topic's messages on `node`; call before it starts. */
  start (node: ClusterLibp2p): void {
    this.node = node
    node.services.pubsub.topicValidators.set(ROUTES_TOPIC, (source, message) => {
      guarded(this.components.logger, 'gossip', () => { this.receive(message.data, source.toString()) })
      return TopicValidatorResult.Ignore
    })
  }

  /** Subscribes to the topic; call once the node has started. */
  subscribe (): void {
    this.node?.services.pubsub.subscribe(ROUTES_TOPIC)
  }

  /** The node stopped. */
  stop (): void {
    this.node = undefined
  }

  /** Publishes an encoded control message; never throws (a failure is logged at debug level). */
  publish (bytes: Uint8Array): void {
    if (this.node === undefined || !this.components.running()) return
    this.node.services.pubsub.publish(ROUTES_TOPIC, this.envelope.wrap(bytes)).catch((err: unknown) => {
      this.components.logger.debug({ err }, 'gossip_publish_failed')
    })
  }

  private receive (data: Uint8Array, source: string): void {
    if (!this.components.running()) return
    let message: ControlMessage
    try {
      message = decodeControl(openGossipEnvelope(data))
    } catch (err) {
      this.components.logger.debug({ err }, 'gossip_malformed')
      return
    }
    this.components.received(message, source)
  }
}
