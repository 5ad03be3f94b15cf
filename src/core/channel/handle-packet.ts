/** Dispatches a decoded packet of a connected client to the handler of its type. */
import type { Packet, IPublishPacket } from 'mqtt-packet'
import type { PublishPacket } from '../mqtt/publish-codec.js'
import type { SessionContext } from './channel-context.js'
import { handlePublish } from './publish.js'
import { handlePuback, handlePubrec, handlePubrel, handlePubcomp } from './acks.js'
import { handleSubscribe } from './subscribe.js'
import { handleUnsubscribe } from './unsubscribe.js'
import { handleDisconnect, handlePingreq, handleAuth } from './disconnect.js'
import { ReasonCode } from '../mqtt/reason-codes.js'

/** A decoded packet from a client: PUBLISH by the broker's own codec, the rest by mqtt-packet. */
export type InboundPacket = Exclude<Packet, IPublishPacket> | PublishPacket

export function handlePacket (ctx: SessionContext, packet: InboundPacket): void {
  switch (packet.cmd) {
    case 'publish': handlePublish(ctx, packet); return
    case 'puback': handlePuback(ctx, packet); return
    case 'pubrec': handlePubrec(ctx, packet); return
    case 'pubrel': handlePubrel(ctx, packet); return
    case 'pubcomp': handlePubcomp(ctx, packet); return
    case 'subscribe': handleSubscribe(ctx, packet); return
    case 'unsubscribe': handleUnsubscribe(ctx, packet); return
    case 'pingreq': handlePingreq(ctx); return
    case 'disconnect': handleDisconnect(ctx, packet); return
    case 'auth': handleAuth(ctx, packet); return
    default:
      // Server-to-client packet types sent by a client are a protocol violation [MQTT-4.8.0-1 v3.1.1 §4.8].
      ctx.disconnect('protocol_error', ReasonCode.ProtocolError, `unexpected ${packet.cmd}`)
  }
}
