/**
 * CONNECT validation (§3.1): turns a decoded CONNECT into a connect request for the client
 * registry, or a refusal with the CONNACK reason code. Pure: no sockets, no actors.
 */
import { randomBytes } from 'node:crypto'
import type { IConnectPacket } from 'mqtt-packet'
import type { BrokerConfig } from '../config/config.js'
import type { Message, MessageProperties } from '../mqtt/message.js'
import type { WillMessage } from '../session/session-state.js'
import { ReasonCode } from '../mqtt/reason-codes.js'
import { isValidTopicName } from '../mqtt/topic.js'

export interface ConnectRequest {
  clientId: string
  /** The server chose the client id (v5 Assigned Client Identifier) [MQTT-3.1.3-7]. */
  assignedClientId: boolean
  protocolVersion: 3 | 4 | 5
  cleanStart: boolean
  /** Keepalive in seconds in force for this connection (after the server cap). */
  keepalive: number
  /** Set when the server overrides the client's keepalive (v5 Server Keep Alive) [MQTT-3.2.2-21]. */
  serverKeepAlive?: number
  /** Session Expiry Interval in force, seconds. */
  sessionExpiryInterval: number
  /** Set when the server changed the requested session expiry, to tell the client in CONNACK. */
  sessionExpiryChanged: boolean
  /** Client's Receive Maximum: QoS 1/2 PUBLISH the server may have unacknowledged [MQTT-3.3.4-9]. */
  receiveMaximum: number
  /** Client's Maximum Packet Size [MQTT-3.1.2-24]. */
  maximumPacketSize: number
  /** Client's Topic Alias Maximum: aliases the server may use towards it [MQTT-3.1.2-26]. */
  topicAliasMaximum: number
  /** Whether reason strings and user properties may be sent on acks [MQTT-3.1.2-29]. */
  requestProblemInformation: boolean
  username?: string
  will?: WillMessage
}

export type ConnectDecision =
  | { ok: true, request: ConnectRequest }
  | { ok: false, reasonCode: number, reason: string }

const V31_MAX_CLIENT_ID = 23

function refuse (reasonCode: number, reason: string): ConnectDecision {
  return { ok: false, reasonCode, reason }
}

/** A generated client id for clients that send an empty one. */
export function generateClientId (node: string): string {
  return `meshmq-${node.split('@')[0] ?? 'node'}-${randomBytes(8).toString('hex')}`
}

function willFrom (packet: IConnectPacket, node: string, clientId: string): WillMessage | undefined {
  const will = packet.will
  if (will === undefined) return undefined
  const props = will.properties
  const message: Message = {
    topic: will.topic,
    payload: typeof will.payload === 'string' ? Buffer.from(will.payload) : will.payload,
    qos: will.qos ?? 0,
    retain: will.retain ?? false,
    publisher: clientId,
    origin: node
  }
  if (props !== undefined) {
    const properties: MessageProperties = {}
    if (props.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = props.payloadFormatIndicator
    if (props.contentType !== undefined) properties.contentType = props.contentType
    if (props.responseTopic !== undefined) properties.responseTopic = props.responseTopic
    if (props.correlationData !== undefined) properties.correlationData = props.correlationData
    if (props.userProperties !== undefined) {
      properties.userProperties = Object.entries(props.userProperties)
        .flatMap(([key, value]) => (Array.isArray(value) ? value : [value]).map(v => [key, v] as [string, string]))
    }
    if (Object.keys(properties).length > 0) message.properties = properties
  }
  const result: WillMessage = { message, delay: props?.willDelayInterval ?? 0 }
  if (props?.messageExpiryInterval !== undefined) result.expiryInterval = props.messageExpiryInterval
  return result
}

export function validateConnect (packet: IConnectPacket, config: BrokerConfig, node: string): ConnectDecision {
  // mqtt-packet types the level as 3 | 4 | 5; the check stays for what arrives at run time.
  const version: number = packet.protocolVersion ?? 4
  if (version !== 3 && version !== 4 && version !== 5) {
    return refuse(ReasonCode.UnsupportedProtocolVersion, 'unsupported_protocol_version')
  }
  const props = packet.properties ?? {}
  const clean = packet.clean !== false
  let clientId = packet.clientId
  let assignedClientId = false
  if (clientId.length === 0) {
    // Zero-length client id: v3.1 refuses; v3.1.1 only with clean session [MQTT-3.1.3-7, MQTT-3.1.3-8]; v5 assigns.
    if (version === 3 || (version === 4 && !clean)) return refuse(ReasonCode.ClientIdentifierNotValid, 'empty_client_id')
    clientId = generateClientId(node)
    assignedClientId = true
  }
  if (version === 3 && clientId.length > V31_MAX_CLIENT_ID && !assignedClientId) {
    return refuse(ReasonCode.ClientIdentifierNotValid, 'client_id_too_long')
  }
  if (Buffer.byteLength(clientId) > config.mqtt.maxClientIdLength) return refuse(ReasonCode.ClientIdentifierNotValid, 'client_id_too_long')
  if (props.authenticationMethod !== undefined) return refuse(ReasonCode.BadAuthenticationMethod, 'unsupported_authentication_method')
  if (props.receiveMaximum === 0 || props.maximumPacketSize === 0) return refuse(ReasonCode.ProtocolError, 'invalid_connect_property')
  if (packet.will !== undefined) {
    if (!isValidTopicName(packet.will.topic)) return refuse(ReasonCode.TopicNameInvalid, 'invalid_will_topic')
    if (packet.will.retain === true && !config.mqtt.retainAvailable) return refuse(ReasonCode.RetainNotSupported, 'retain_not_supported')
  }

  let keepalive = packet.keepalive ?? 0
  let serverKeepAlive: number | undefined
  const cap = config.mqtt.serverKeepAlive
  if (version === 5 && cap > 0 && (keepalive === 0 || keepalive > cap)) {
    keepalive = cap
    serverKeepAlive = cap
  }

  let sessionExpiryInterval: number
  let sessionExpiryChanged = false
  if (version === 5) {
    const requested = props.sessionExpiryInterval ?? 0
    sessionExpiryInterval = Math.min(requested, config.mqtt.maxSessionExpiry)
    sessionExpiryChanged = sessionExpiryInterval !== requested
  } else {
    // v3: a persistent session lasts until the server's maximum expiry.
    sessionExpiryInterval = clean ? 0 : config.mqtt.maxSessionExpiry
  }

  const request: ConnectRequest = {
    clientId,
    assignedClientId,
    protocolVersion: version,
    cleanStart: clean,
    keepalive,
    sessionExpiryInterval,
    sessionExpiryChanged,
    receiveMaximum: props.receiveMaximum ?? 65535,
    maximumPacketSize: props.maximumPacketSize ?? 268435460,
    topicAliasMaximum: version === 5 ? props.topicAliasMaximum ?? 0 : 0,
    requestProblemInformation: props.requestProblemInformation !== false
  }
  if (serverKeepAlive !== undefined) request.serverKeepAlive = serverKeepAlive
  if (packet.username !== undefined) request.username = packet.username
  const will = willFrom(packet, node, clientId)
  if (will !== undefined) request.will = will
  return { ok: true, request }
}
