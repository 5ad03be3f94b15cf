/**
 * Encodes PUBLISH packets for a subscriber. A message delivered at QoS 0 with the same flags to
 * many subscribers is encoded once per protocol version and the bytes reused (the cache lives as
 * long as the message object).
 */
import mqtt, { type IPublishPacket } from 'mqtt-packet'
import type { Delivery } from './session-state.js'
import { remainingExpiry } from './message.js'

export interface PublishEncoding {
  protocolVersion: 3 | 4 | 5
  packetId?: number
  dup?: boolean
  /** Topic alias to use; with `aliasKnown` the topic is omitted [MQTT-3.3.2-12]. */
  topicAlias?: number
  aliasKnown?: boolean
}

const sharedQos0 = new WeakMap<object, Buffer[]>()

const OPTS = [{ protocolVersion: 3 }, { protocolVersion: 4 }, { protocolVersion: 5 }] as const

export function encodePublish (delivery: Delivery, enc: PublishEncoding, now: number): Buffer {
  const { message } = delivery
  const cacheable = delivery.qos === 0 && delivery.subscriptionIds === undefined && enc.topicAlias === undefined &&
    message.expiresAt === undefined
  const slot = (enc.protocolVersion - 3) * 2 + (delivery.retain ? 1 : 0)
  if (cacheable) {
    const cached = sharedQos0.get(message)?.[slot]
    if (cached !== undefined) return cached
  }
  const packet: IPublishPacket = {
    cmd: 'publish',
    topic: enc.aliasKnown === true ? '' : message.topic,
    payload: message.payload,
    qos: delivery.qos,
    retain: delivery.retain,
    dup: enc.dup === true
  }
  if (delivery.qos > 0) packet.messageId = enc.packetId ?? 0
  if (enc.protocolVersion === 5) {
    const props: NonNullable<IPublishPacket['properties']> = {}
    const p = message.properties
    if (p !== undefined) {
      if (p.payloadFormatIndicator !== undefined) props.payloadFormatIndicator = p.payloadFormatIndicator
      if (p.contentType !== undefined) props.contentType = p.contentType
      if (p.responseTopic !== undefined) props.responseTopic = p.responseTopic
      if (p.correlationData !== undefined) props.correlationData = p.correlationData
      if (p.userProperties !== undefined) props.userProperties = p.userProperties
    }
    // The remaining lifetime is forwarded, not the original interval [MQTT-3.3.2-6].
    const remaining = remainingExpiry(message, now)
    if (remaining !== undefined) props.messageExpiryInterval = remaining
    if (delivery.subscriptionIds !== undefined) {
      props.subscriptionIdentifier = delivery.subscriptionIds.length === 1 ? delivery.subscriptionIds[0]! : delivery.subscriptionIds
    }
    if (enc.topicAlias !== undefined) props.topicAlias = enc.topicAlias
    for (const _ in props) { packet.properties = props; break }
  }
  const bytes = mqtt.generate(packet, OPTS[enc.protocolVersion - 3])
  if (cacheable) {
    let slots = sharedQos0.get(message)
    if (slots === undefined) sharedQos0.set(message, slots = [])
    slots[slot] = bytes
  }
  return bytes
}
