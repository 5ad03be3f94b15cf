/**
 * SUBSCRIBE (§3.8): validates each filter, records the subscription within the client's quota
 * (`mqtt.maxSubscriptionsPerClient`; replacing a subscription it holds is always allowed) and
 * answers SUBACK.
 */
import type { ISubscribePacket } from 'mqtt-packet'
import type { SessionContext } from './channel-context.js'
import type { SubscriptionOptions } from '../session/session-state.js'
import { ReasonCode } from '../mqtt/reason-codes.js'
import { isValidTopicFilter, parseSharedFilter, InvalidSharedFilterError, levelCount } from '../mqtt/topic.js'

/** Whether the filter is shared, or undefined when it is invalid [MQTT-4.7.1-*] or too deep. */
function checkFilter (filter: string, maxLevels: number): { shared: boolean } | undefined {
  let shared
  try {
    shared = parseSharedFilter(filter)
  } catch (err) {
    if (err instanceof InvalidSharedFilterError) return undefined
    throw err
  }
  const inner = shared?.filter ?? filter
  if (levelCount(inner) > maxLevels) return undefined
  if (shared === undefined && !isValidTopicFilter(filter)) return undefined
  return { shared: shared !== undefined }
}

export function handleSubscribe (ctx: SessionContext, packet: ISubscribePacket): void {
  const v5 = ctx.protocolVersion === 5
  const subscriptionId = packet.properties?.subscriptionIdentifier
  if (v5 && subscriptionId === 0) {
    ctx.disconnect('protocol_error', ReasonCode.ProtocolError, 'subscription identifier 0')
    return
  }
  const granted: number[] = []
  const maxSubscriptions = ctx.mqttConfig.maxSubscriptionsPerClient
  let overQuota = 0
  for (const sub of packet.subscriptions) {
    const check = checkFilter(sub.topic, ctx.mqttConfig.maxTopicLevels)
    if (check === undefined) {
      // Refused filter: 0x80 in v3.1.1 [MQTT-3.9.3-2], Topic Filter invalid in v5.
      granted.push(v5 ? ReasonCode.TopicFilterInvalid : 0x80)
      continue
    }
    const held = ctx.state.subscriptions
    if ((held?.size ?? 0) >= maxSubscriptions && held?.has(sub.topic) !== true) {
      // A new filter past mqtt.maxSubscriptionsPerClient: Quota exceeded in v5, 0x80 in v3.1.1.
      granted.push(v5 ? ReasonCode.QuotaExceeded : 0x80)
      overQuota++
      continue
    }
    if (v5 && check.shared && sub.nl === true) {
      // No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4].
      ctx.disconnect('protocol_error', ReasonCode.ProtocolError, 'no local on shared subscription')
      return
    }
    const qos = sub.qos > 2 ? 2 : sub.qos
    const options: SubscriptionOptions = {
      qos,
      noLocal: v5 && sub.nl === true,
      retainAsPublished: v5 && sub.rap === true,
      retainHandling: v5 ? ((sub.rh ?? 0) as 0 | 1 | 2) : 0
    }
    if (v5 && subscriptionId !== undefined) options.subscriptionId = subscriptionId
    ctx.subscribe(sub.topic, options)
    granted.push(qos)
  }
  if (overQuota > 0) ctx.subscriptionsRefused(overQuota, maxSubscriptions)
  // One return code per filter, in order [MQTT-3.8.4-5 .. MQTT-3.8.4-7].
  ctx.send({ cmd: 'suback', messageId: packet.messageId ?? 0, granted })
}
