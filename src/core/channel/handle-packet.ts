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
    case 'publish': return handlePublish(ctx, packet)
    case 'puback': return handlePuback(ctx, packet)
    case 'pubrec': return handlePubrec(ctx, packet)
    case 'pubrel': return handlePubrel(ctx, packet)
    case 'pubcomp': return handlePubcomp(ctx, packet)
    case 'subscribe': return handleSubscribe(ctx, packet)
    case 'unsubscribe': return handleUnsubscribe(ctx, packet)
    case 'pingreq': return handlePingreq(ctx)
    case 'disconnect': return handleDisconnect(ctx, packet)
    case 'auth': return handleAuth(ctx, packet)
    default:
      // Server-to-client packet types sent by a client are a protocol violation [MQTT-4.8.0-1 v3.1.1 §4.8].
      ctx.disconnect('protocol_error', ReasonCode.ProtocolError, `unexpected ${packet.cmd}`)
  }
}
