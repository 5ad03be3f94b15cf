/** CONNACK (§3.2): the answer to an accepted CONNECT, with the server's limits in v5, or to a refused one. */
import type { IConnackPacket } from 'mqtt-packet'
import type { BrokerConfig } from '../config/config.js'
import type { ConnectRequest } from './connect.js'
import { toV3ConnectReturnCode } from '../mqtt/reason-codes.js'

/**
 * CONNACK for an accepted CONNECT. Session Present tells whether a session was resumed
 * [MQTT-3.2.2-2, MQTT-3.2.2-3]; v5 adds the server's limits, the assigned client id
 * [MQTT-3.2.2-16], the Server Keep Alive [MQTT-3.2.2-21] and a changed Session Expiry Interval.
 */
export function acceptConnack (request: ConnectRequest, sessionPresent: boolean, mqtt: BrokerConfig['mqtt']): IConnackPacket {
  if (request.protocolVersion !== 5) return { cmd: 'connack', returnCode: 0, sessionPresent }
  const properties: NonNullable<IConnackPacket['properties']> = {
    receiveMaximum: mqtt.receiveMaximum,
    maximumPacketSize: mqtt.maxPacketSize,
    topicAliasMaximum: mqtt.topicAliasMaximum
  }
  if (!mqtt.retainAvailable) properties.retainAvailable = false
  if (request.assignedClientId) properties.assignedClientIdentifier = request.clientId
  if (request.serverKeepAlive !== undefined) properties.serverKeepAlive = request.serverKeepAlive
  if (request.sessionExpiryChanged) properties.sessionExpiryInterval = request.sessionExpiryInterval
  return { cmd: 'connack', reasonCode: 0, sessionPresent, properties }
}

/**
 * CONNACK for a refused CONNECT, with Session Present 0 [MQTT-3.2.2-4]; the connection closes
 * after it [MQTT-3.2.2-5]. v3 clients get the v3 return code for the reason.
 */
export function refuseConnack (protocolVersion: 3 | 4 | 5, reasonCode: number): IConnackPacket {
  return protocolVersion === 5
    ? { cmd: 'connack', reasonCode, sessionPresent: false }
    : { cmd: 'connack', returnCode: toV3ConnectReturnCode(reasonCode), sessionPresent: false }
}
