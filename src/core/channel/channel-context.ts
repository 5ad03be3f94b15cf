/**
 * What a packet handler may read and do. The session actor implements it; handlers hold the
 * protocol rules for one packet type each (as Aedes' lib/handlers) and never touch sockets or
 * actors directly.
 */
import type { Packet } from 'mqtt-packet'
import type { BrokerConfig } from '../config/config.js'
import type { Message } from '../mqtt/message.js'
import type { Delivery, InflightEntry, SessionState, SubscriptionOptions } from '../session/session-state.js'
import type { CloseReason } from './client-link.js'
import type { InboundAck } from './routed-acks.js'
import type { Logger } from '../log.js'
import type { ClientAuthorizer, TopicAccess } from '../auth/identity.js'

/** A subscription whose retained messages are to be sent [MQTT-3.3.1-9 .. MQTT-3.3.1-11]. */
export interface RetainedRequest { filter: string, options: SubscriptionOptions }

export interface SessionContext {
  readonly state: SessionState
  readonly protocolVersion: 3 | 4 | 5
  readonly mqttConfig: BrokerConfig['mqtt']
  readonly node: string
  readonly log: Logger
  /** Topic aliases set by the client on this connection (client → server) [MQTT-3.3.2-10]. */
  readonly inboundAliases: Map<number, string>
  /** Session Expiry Interval the client sent in CONNECT (for the DISCONNECT rule [MQTT-3.14.2-2]). */
  readonly connectSessionExpiry: number
  /** Whether reason strings / user properties may be sent on acks [MQTT-3.1.2-29]. */
  readonly problemInformation: boolean
  /** What the connected client may publish, subscribe and read (the ACL, for its identity). */
  readonly authorizer: ClientAuthorizer
  /** The ACL refused the client `access` to `topic` (a PUBLISH dropped, a filter refused): counted and logged. */
  notAuthorized: (access: Exclude<TopicAccess, 'read'>, topic: string) => void
  /** Clock time in ms (message expiry is counted from it). */
  now: () => number
  send: (packet: Packet) => void
  /** Routes an application message published by this client. */
  publish: (message: Message) => void
  /**
   * MQTT 5: routes a QoS 1/2 message and sends its PUBACK/PUBREC once the trie shard has routed
   * it, with 0x10 (No matching subscribers) when nothing matched; acks keep the PUBLISH order.
   */
  publishThenAck: (message: Message, ack: InboundAck) => void
  /** Sends the ack of an inbound PUBLISH, behind any still waiting for their routing. */
  acknowledge: (ack: InboundAck) => void
  /** Adds or replaces a subscription in the trie shards. */
  subscribe: (filter: string, options: SubscriptionOptions) => void
  /** Sends the retained messages matching each request's filter, one request per distinct filter of a SUBSCRIBE. */
  sendRetained: (requests: RetainedRequest[]) => void
  /** `count` filters of one SUBSCRIBE were refused: the client holds `limit` subscriptions already. */
  subscriptionsRefused: (count: number, limit: number) => void
  /** Removes a subscription; returns whether it existed. */
  unsubscribe: (filter: string) => boolean
  /** Server-initiated close: v5 gets a DISCONNECT with the reason code first [MQTT-4.13.2-1]. */
  disconnect: (reason: CloseReason, reasonCode: number, reasonString?: string) => void
  /** The client sent DISCONNECT; its will is published only if `publishWill` [MQTT-3.14.4-3]. */
  clientDisconnect: (publishWill: boolean) => void
  /** An outgoing QoS 1/2 flow ended (PUBACK, PUBCOMP, or PUBREC with an error); queued messages may now go out. */
  outgoingCompleted: (packetId: number) => void
  /** A delivery left the session for good (see SessionOutput.settled). */
  settled: (delivery: Delivery) => void
  /** A QoS 2 delivery went on to PUBREL (see SessionOutput.flowChanged). */
  flowChanged: (entry: InflightEntry) => void
  /** Whether QoS 1/2 acks wait for the node's store to commit (`persistence.mode` batch or sync): they then go through `publishThenAck`/`acknowledge`. */
  readonly acksWaitForStore: boolean
  /** Set while the node's store cannot be written (disk full): QoS 1/2 publishes are refused. */
  readonly storeFailure: Error | undefined
  /** A QoS 1/2 PUBLISH to `topic` was refused as the store cannot be written: counted and logged. */
  unstored: (topic: string) => void
}
