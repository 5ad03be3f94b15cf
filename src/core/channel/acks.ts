/** PUBACK, PUBREC, PUBREL and PUBCOMP (§3.4–3.7): the QoS 1 and QoS 2 flows in both directions. */
import type { IPubackPacket, IPubrecPacket, IPubrelPacket, IPubcompPacket } from 'mqtt-packet'
import type { SessionContext } from './channel-context.js'
import { ReasonCode } from '../mqtt/reason-codes.js'

/** PUBACK from the client ends an outgoing QoS 1 flow [MQTT-4.3.2-*]. */
export function handlePuback (ctx: SessionContext, packet: IPubackPacket): void {
  const id = packet.messageId ?? 0
  const entry = ctx.state.inflight?.get(id)
  if (entry === undefined || entry.delivery.qos !== 1) return
  ctx.state.inflight?.delete(id)
  ctx.settled(entry.delivery)
  ctx.outgoingCompleted(id)
}

/** PUBREC from the client: answer PUBREL and wait for PUBCOMP [MQTT-4.3.3-4]; a failure reason ends the flow. */
export function handlePubrec (ctx: SessionContext, packet: IPubrecPacket): void {
  const id = packet.messageId ?? 0
  const entry = ctx.state.inflight?.get(id)
  if (entry === undefined || entry.delivery.qos !== 2) {
    ctx.send(ctx.protocolVersion === 5
      ? { cmd: 'pubrel', messageId: id, reasonCode: ReasonCode.PacketIdentifierNotFound }
      : { cmd: 'pubrel', messageId: id })
    return
  }
  if ((packet.reasonCode ?? 0) >= 0x80) {
    ctx.state.inflight?.delete(id)
    ctx.settled(entry.delivery)
    ctx.outgoingCompleted(id)
    return
  }
  entry.phase = 'pubrel'
  ctx.flowChanged(entry)
  // A delivery the store keeps: PUBREL once its record says PUBREC came, or a restart in between
  // would send the PUBLISH again to a client that has already released it [MQTT-4.3.3-4].
  if (entry.delivery.storeKey !== undefined) ctx.acknowledge({ cmd: 'pubrel', messageId: id })
  else ctx.send({ cmd: 'pubrel', messageId: id })
}

/** PUBREL from the client releases an incoming QoS 2 packet id; answer PUBCOMP [MQTT-4.3.3-11 v5 / MQTT-4.3.3-2]. */
export function handlePubrel (ctx: SessionContext, packet: IPubrelPacket): void {
  const id = packet.messageId ?? 0
  const known = ctx.state.awaitingRel?.delete(id) === true
  // Behind the acks before it; with a store, once the released packet id is gone from it too.
  if (!known && ctx.protocolVersion === 5) {
    ctx.acknowledge({ cmd: 'pubcomp', messageId: id, reasonCode: ReasonCode.PacketIdentifierNotFound })
    return
  }
  ctx.acknowledge({ cmd: 'pubcomp', messageId: id })
}

/** PUBCOMP from the client ends an outgoing QoS 2 flow. */
export function handlePubcomp (ctx: SessionContext, packet: IPubcompPacket): void {
  const id = packet.messageId ?? 0
  const entry = ctx.state.inflight?.get(id)
  if (entry === undefined || entry.delivery.qos !== 2 || entry.phase !== 'pubrel') return
  ctx.state.inflight?.delete(id)
  ctx.settled(entry.delivery)
  ctx.outgoingCompleted(id)
}
