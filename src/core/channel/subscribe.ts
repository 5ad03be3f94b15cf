/**
 * SUBSCRIBE (§3.8): validates each filter, asks the ACL (for a shared subscription, about its
 * topic filter), records the subscription within the client's quota
 * (`mqtt.maxSubscriptionsPerClient`; replacing a subscription it holds is always allowed),
 * answers SUBACK and asks for the retained messages of the new subscriptions.
 */
import type { ISubscribePacket } from 'mqtt-packet'
import type { RetainedRequest, SessionContext } from './channel-context.js'
import type { SubscriptionOptions } from '../session/session-state.js'
import { ReasonCode } from '../mqtt/reason-codes.js'
import { isValidTopicFilter, parseSharedFilter, InvalidSharedFilterError, levelCount } from '../mqtt/topic.js'

/**
 * Whether the filter is shared and the topic filter it subscribes to (the one after
 * `$share/<group>/`), or undefined when it is invalid [MQTT-4.7.1-*] or too deep.
 */
function checkFilter (filter: string, maxLevels: number): { shared: boolean, inner: string } | undefined {
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
  return { shared: shared !== undefined, inner }
}

export function handleSubscribe (ctx: SessionContext, packet: ISubscribePacket): void {
  const v5 = ctx.protocolVersion === 5
  const subscriptionId = packet.properties?.subscriptionIdentifier
  if (v5 && subscriptionId === 0) {
    ctx.disconnect('protocol_error', ReasonCode.ProtocolError, 'subscription identifier 0')
    return
  }
  const granted: number[] = []
  // A SUBSCRIBE is handled as a sequence of SUBSCRIBEs of one filter each [MQTT-3.8.4-4]. A filter
  // named several times ends with the options of its last occurrence, so it is recorded once with
  // those, and matched against the retained messages once, with the options of its first
  // occurrence that asks for them (those the sequence would send first).
  const subscriptions = new Map<string, SubscriptionOptions>()
  const retained = new Map<string, RetainedRequest>()
  const maxSubscriptions = ctx.mqttConfig.maxSubscriptionsPerClient
  let overQuota = 0
  const held = ctx.state.subscriptions
  let added = 0
  for (const sub of packet.subscriptions) {
    const check = checkFilter(sub.topic, ctx.mqttConfig.maxTopicLevels)
    if (check === undefined) {
      // Refused filter: 0x80 in v3.1.1 [MQTT-3.9.3-2], Topic Filter invalid in v5.
      granted.push(v5 ? ReasonCode.TopicFilterInvalid : 0x80)
      continue
    }
    if (!ctx.authorizer.allows('subscribe', check.inner)) {
      // The ACL refuses the filter: 0x80 Failure in v3.1.1 [MQTT-3.9.3-2], 0x87 Not authorized in v5 (§3.9.3).
      granted.push(v5 ? ReasonCode.NotAuthorized : 0x80)
      ctx.notAuthorized('subscribe', sub.topic)
      continue
    }
    const isNew = held?.has(sub.topic) !== true && !subscriptions.has(sub.topic)
    if (isNew && (held?.size ?? 0) + added >= maxSubscriptions) {
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
    const existed = subscriptions.has(sub.topic) || held?.has(sub.topic) === true
    if (isNew) added++
    subscriptions.set(sub.topic, options)
    granted.push(qos)
    // No retained messages for a shared subscription (MQTT 5 §4.8.2); Retain Handling 1 sends them
    // only for a new subscription, 2 never [MQTT-3.3.1-9 .. MQTT-3.3.1-11].
    const wantsRetained = !check.shared && (options.retainHandling === 0 || (options.retainHandling === 1 && !existed))
    if (wantsRetained && !retained.has(sub.topic)) retained.set(sub.topic, { filter: sub.topic, options })
  }
  for (const [filter, options] of subscriptions) ctx.subscribe(filter, options)
  if (overQuota > 0) ctx.subscriptionsRefused(overQuota, maxSubscriptions)
  // One return code per filter, in order [MQTT-3.8.4-5 .. MQTT-3.8.4-7].
  // A kept session's SUBACK leaves once its subscriptions are committed (ctx.acknowledge).
  ctx.acknowledge({ cmd: 'suback', messageId: packet.messageId ?? 0, granted })
  if (retained.size > 0) ctx.sendRetained([...retained.values()])
}
