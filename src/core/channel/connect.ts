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
import { isValidTopicName, levelCount } from '../mqtt/topic.js'
import type { ClientIdentity } from '../auth/identity.js'

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
  /**
   * Aliases the server may use towards the client: the client's Topic Alias Maximum
   * [MQTT-3.1.2-26], capped by the server's `mqtt.topicAliasMaximum`.
   */
  topicAliasMaximum: number
  /** Whether reason strings and user properties may be sent on acks [MQTT-3.1.2-29]. */
  requestProblemInformation: boolean
  /** The username the CONNECT carried. */
  username?: string
  /** Who the client is once authenticated (before that: its client id and username as sent). */
  identity: ClientIdentity
  /** When the client's credentials expire (a JWT's `exp`), ms since the epoch: the connection is closed then. */
  authExpiresAt?: number
  will?: WillMessage
}

/**
 * A refused CONNECT: the CONNACK reason code (v5) and the log reason. `connack` is false when the
 * refusal has no MQTT 3.1.1 return code: the v3 connection is then closed without a CONNACK
 * [MQTT-3.1.4-1, MQTT-3.2.2-6]; v5 always gets its CONNACK.
 */
export interface ConnectRefusal { ok: false, reasonCode: number, reason: string, connack: boolean }

export type ConnectDecision = { ok: true, request: ConnectRequest } | ConnectRefusal

const V31_MAX_CLIENT_ID = 23

function refuse (reasonCode: number, reason: string): ConnectRefusal {
  return { ok: false, reasonCode, reason, connack: true }
}

/** A refusal with a v5 reason code but no MQTT 3.1.1 return code: v3 clients are closed without CONNACK. */
function refuseV5Only (version: number, reasonCode: number, reason: string): ConnectRefusal {
  return { ok: false, reasonCode, reason, connack: version === 5 }
}

/**
 * Why the will cannot be accepted, or undefined. Will QoS 3 is malformed [MQTT-3.1.2-12 (v5),
 * MQTT-3.1.2-14 (3.1.1)]; the Will Topic follows the PUBLISH topic rules, the server's level
 * limit included [MQTT-3.1.3-11]; a retained will needs retain support.
 */
function willProblem (will: NonNullable<IConnectPacket['will']>, version: number, config: BrokerConfig): ConnectRefusal | undefined {
  // mqtt-packet types the QoS as 0 | 1 | 2 but decodes both QoS bits as sent.
  const qos: number = will.qos ?? 0
  if (qos > 2) return refuseV5Only(version, ReasonCode.MalformedPacket, 'will_qos_invalid')
  if (!isValidTopicName(will.topic)) return refuseV5Only(version, ReasonCode.TopicNameInvalid, 'invalid_will_topic')
  if (levelCount(will.topic) > config.mqtt.maxTopicLevels) return refuseV5Only(version, ReasonCode.TopicNameInvalid, 'will_topic_too_deep')
  if (will.retain === true && !config.mqtt.retainAvailable) return refuse(ReasonCode.RetainNotSupported, 'retain_not_supported')
  return undefined
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
  if (packet.will !== undefined) {
    const problem = willProblem(packet.will, version, config)
    if (problem !== undefined) return problem
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
    // The server keeps a table of the aliases it uses towards the client: at most its own maximum.
    topicAliasMaximum: version === 5 ? Math.min(props.topicAliasMaximum ?? 0, config.mqtt.topicAliasMaximum) : 0,
    requestProblemInformation: props.requestProblemInformation !== false,
    identity: packet.username === undefined ? { clientId } : { clientId, username: packet.username }
  }
  if (serverKeepAlive !== undefined) request.serverKeepAlive = serverKeepAlive
  if (packet.username !== undefined) request.username = packet.username
  const will = willFrom(packet, node, clientId)
  if (will !== undefined) request.will = will
  return { ok: true, request }
}
