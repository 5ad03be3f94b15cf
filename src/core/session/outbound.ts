/**
 * The client's current connection as delivery sees it: the limits its CONNECT set and the topic
 * aliases the server has sent on it; and the writing of one PUBLISH under those limits. Plain data,
 * made when a connection attaches and gone with it (aliases do not outlive a connection
 * [MQTT-3.3.2-7]).
 */
import type { Delivery } from './session-state.js'
import type { SessionOutput } from './session-output.js'
import { encodePublish, type PublishEncoding } from '../mqtt/outgoing-publish.js'

export interface Outbound {
  protocolVersion: 3 | 4 | 5
  /**
   * QoS 1/2 PUBLISH the client may have unacknowledged: the smaller of the server's in-flight
   * limit and the client's Receive Maximum [MQTT-3.3.4-9].
   */
  window: number
  /** Client's Maximum Packet Size [MQTT-3.1.2-24]. */
  maxPacketSize: number
  /** Client's Topic Alias Maximum: no alias above it is sent, none at all when 0 [MQTT-3.3.2-11]. */
  topicAliasMaximum: number
  /** Topic → alias sent on this connection, created on first use. */
  aliases: Map<string, number> | undefined
}

/** What the client asked for in its CONNECT (a ConnectRequest has these fields). */
export interface OutboundRequest {
  protocolVersion: 3 | 4 | 5
  receiveMaximum: number
  maximumPacketSize: number
  topicAliasMaximum: number
}

/** The in-flight window of a connection: the server's limit, lowered by the client's Receive Maximum. */
export function inflightWindow (request: OutboundRequest, maxInflight: number): number {
  return Math.min(maxInflight, request.receiveMaximum)
}

export function createOutbound (request: OutboundRequest, maxInflight: number): Outbound {
  return {
    protocolVersion: request.protocolVersion,
    window: inflightWindow(request, maxInflight),
    maxPacketSize: request.maximumPacketSize,
    topicAliasMaximum: request.topicAliasMaximum,
    aliases: undefined
  }
}

/** The alias already sent for `topic` on this connection: the topic name is then left out (§3.3.2.3.4). */
export function knownAlias (outbound: Outbound, topic: string): number | undefined {
  return outbound.aliases?.get(topic)
}

/** A new alias for `topic`, while fewer than the client's Topic Alias Maximum are in use [MQTT-3.3.2-11]. */
export function assignAlias (outbound: Outbound, topic: string): number | undefined {
  if (outbound.topicAliasMaximum === 0) return undefined
  const aliases = outbound.aliases ??= new Map()
  if (aliases.size >= outbound.topicAliasMaximum) return undefined
  const alias = aliases.size + 1
  aliases.set(topic, alias)
  return alias
}

/**
 * Encodes one PUBLISH for the client and writes it to `out`. Returns false, counting a drop, when
 * it is larger than the client's Maximum Packet Size [MQTT-3.1.2-25]; a topic alias it would have
 * introduced is then forgotten, as the client never learnt it.
 */
export function writePublish (outbound: Outbound, delivery: Delivery, packetId: number | undefined, dup: boolean, now: number, out: SessionOutput): boolean {
  const topic = delivery.message.topic
  let topicAlias: number | undefined
  let aliasKnown = false
  if (outbound.topicAliasMaximum > 0) {
    topicAlias = knownAlias(outbound, topic)
    aliasKnown = topicAlias !== undefined
    topicAlias ??= assignAlias(outbound, topic)
  }
  const encoding: PublishEncoding = { protocolVersion: outbound.protocolVersion, dup, aliasKnown }
  if (packetId !== undefined) encoding.packetId = packetId
  if (topicAlias !== undefined) encoding.topicAlias = topicAlias
  const bytes = encodePublish(delivery, encoding, now)
  if (bytes.length > outbound.maxPacketSize) {
    out.dropped('packet_too_large', topic)
    if (topicAlias !== undefined && !aliasKnown) outbound.aliases?.delete(topic)
    return false
  }
  out.writePublish(bytes)
  return true
}
