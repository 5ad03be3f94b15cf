/** DISCONNECT from the client (§3.14), PINGREQ (§3.12) and AUTH (§3.15). */
import type { IDisconnectPacket, IAuthPacket } from 'mqtt-packet'
import type { SessionContext } from './channel-context.js'
import { ReasonCode } from '../mqtt/reason-codes.js'

export function handleDisconnect (ctx: SessionContext, packet: IDisconnectPacket): void {
  const expiry = packet.properties?.sessionExpiryInterval
  if (expiry !== undefined && ctx.protocolVersion === 5) {
    // Setting a non-zero expiry on DISCONNECT after CONNECT said 0 is a Protocol Error [MQTT-3.14.2-2].
    if (ctx.connectSessionExpiry === 0 && expiry !== 0) {
      ctx.disconnect('protocol_error', ReasonCode.ProtocolError, 'session expiry was 0 in CONNECT')
      return
    }
    ctx.state.expiryInterval = Math.min(expiry, ctx.mqttConfig.maxSessionExpiry)
  }
  // Reason 0x04 asks for the will; any other normal DISCONNECT discards it [MQTT-3.14.4-3].
  ctx.clientDisconnect(ctx.protocolVersion === 5 && packet.reasonCode === ReasonCode.DisconnectWithWill)
}

export function handlePingreq (ctx: SessionContext): void {
  // [MQTT-3.12.4-1]
  ctx.send({ cmd: 'pingresp' })
}

/**
 * Enhanced authentication is not supported: a CONNECT naming a method gets CONNACK 0x8C, and an
 * AUTH without one is a Protocol Error (0x8C is not a DISCONNECT reason code) [MQTT-4.12.0-1].
 */
export function handleAuth (ctx: SessionContext, _packet: IAuthPacket): void {
  ctx.disconnect('protocol_error', ReasonCode.ProtocolError, 'enhanced authentication is not supported')
}
