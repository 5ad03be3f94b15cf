/** UNSUBSCRIBE (§3.10): removes subscriptions and answers UNSUBACK, with a reason per filter in v5. */
import type { IUnsubscribePacket } from 'mqtt-packet'
import type { SessionContext } from './channel-context.js'
import { ReasonCode } from '../mqtt/reason-codes.js'

export function handleUnsubscribe (ctx: SessionContext, packet: IUnsubscribePacket): void {
  const reasons: number[] = []
  for (const filter of packet.unsubscriptions) {
    // Unsubscribing a filter that does not exist still gets an UNSUBACK [MQTT-3.10.4-5].
    reasons.push(ctx.unsubscribe(filter) ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted)
  }
  ctx.acknowledge({ cmd: 'unsuback', messageId: packet.messageId ?? 0, granted: ctx.protocolVersion === 5 ? reasons : [] })
}
