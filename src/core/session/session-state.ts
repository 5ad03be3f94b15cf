/**
 * A client session's state as plain data (in the spirit of EMQX's `emqx_session`): subscriptions,
 * messages in flight to the client, the offline/overflow queue, incoming QoS 2 awaiting PUBREL and
 * the packet id counter. No sockets, timers or actor references: it can be stored on disk or handed
 * to another node with structured clone. The pure rules over it are in this folder: delivery.ts
 * (deliver, drain), inflight.ts (window, resend), queue.ts (bounds, drop policy), backlog.ts
 * (high- and low-water marks), outbound.ts (limits, topic aliases, writing a PUBLISH),
 * matched-delivery.ts (one delivery from overlapping subscriptions) and packet-id.ts; their
 * effects go to a SessionOutput.
 */
import type { Message, QoS, SharedTarget } from '../mqtt/message.js'

/** Options of one subscription, as granted [MQTT-3.8.3-*]. */
export interface SubscriptionOptions {
  qos: QoS
  /** Do not deliver the subscriber's own publishes [MQTT-3.8.3-3]. */
  noLocal: boolean
  /** Keep the RETAIN flag as published [MQTT-3.3.1-12, MQTT-3.3.1-13]. */
  retainAsPublished: boolean
  /** 0: send retained on subscribe, 1: only if new, 2: never [MQTT-3.3.1-9 .. 3.3.1-11]. */
  retainHandling: 0 | 1 | 2
  subscriptionId?: number
}

/** One message on its way to a subscriber, with the QoS and flags for that subscriber. */
export interface Delivery {
  message: Message
  qos: QoS
  retain: boolean
  subscriptionIds?: number[]
  /** Set when delivered to this session as a member of a shared subscription (for redelivery, see shared-redelivery.ts). */
  shared?: SharedTarget
  /** The key of its record in the node's store, when kept for a persistent session (src/core/store/durable.ts). */
  storeKey?: string
}

/** An outgoing QoS 1/2 PUBLISH not yet completed by the client. */
export interface InflightEntry {
  packetId: number
  delivery: Delivery
  /** 'publish': waiting for PUBACK/PUBREC; 'pubrel': PUBREC received, waiting for PUBCOMP. */
  phase: 'publish' | 'pubrel'
}

export interface WillMessage {
  /** The will as a message; its `expiresAt` is set when it is published. */
  message: Message
  /** Will Delay Interval in seconds [MQTT-3.1.3-9]. */
  delay: number
  /** Message Expiry Interval of the will in seconds, counted from publication. */
  expiryInterval?: number
}

export interface SessionState {
  clientId: string
  createdAt: number
  /** Session Expiry Interval in seconds; 0 ends the session with the connection. */
  expiryInterval: number
  /**
   * Subscriptions keyed by the filter as the client sent it (incl. `$share/<group>/`). This and
   * the next two collections are created on first use: an idle client holds none of them.
   */
  subscriptions: Map<string, SubscriptionOptions> | undefined
  inflight: Map<number, InflightEntry> | undefined
  queue: Delivery[]
  /** Bytes the queue is counted for (see queue.ts `deliveryBytes`). */
  queuedBytes: number
  /** Packet ids of incoming QoS 2 PUBLISH received and not yet released by PUBREL [MQTT-4.3.3-*]. */
  awaitingRel: Set<number> | undefined
  nextPacketId: number
  will?: WillMessage
}

export function createSessionState (clientId: string, now: number): SessionState {
  return {
    clientId,
    createdAt: now,
    expiryInterval: 0,
    subscriptions: undefined,
    inflight: undefined,
    queue: [],
    queuedBytes: 0,
    awaitingRel: undefined,
    nextPacketId: 1
  }
}

/** Messages the session holds for the client (queued and in flight): what is lost when it is discarded. */
export function heldMessages (state: SessionState): number {
  return state.queue.length + (state.inflight?.size ?? 0)
}
