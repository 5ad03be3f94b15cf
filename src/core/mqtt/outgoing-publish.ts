/**
 * Builds PUBLISH packets for a subscriber. A message delivered at QoS 0 with the same flags to
 * many subscribers is encoded once and the bytes reused: they are kept on the message object
 * under a symbol (not serialized, gone with the message). A WeakMap here cost a third of the
 * publish path in GC time under one-to-one load.
 */
import type { Delivery } from '../session/session-state.js'
import { remainingExpiry } from './message.js'
import { encodePublishPacket, type PublishPacket, type PublishProperties } from './publish-codec.js'

export interface PublishEncoding {
  protocolVersion: 3 | 4 | 5
  packetId?: number
  dup?: boolean
  /** Topic alias to use; with `aliasKnown` the topic is omitted [MQTT-3.3.2-12]. */
  topicAlias?: number
  aliasKnown?: boolean
}

const ENCODED = Symbol('meshmq.encodedPublish')

/** The message's cached QoS 0 encoding and the slot (protocol version, RETAIN) it was made for. */
interface EncodedCache { [ENCODED]?: { slot: number, bytes: Buffer } }

export function encodePublish (delivery: Delivery, enc: PublishEncoding, now: number): Buffer {
  const { message } = delivery
  const cacheable = delivery.qos === 0 && delivery.subscriptionIds === undefined && enc.topicAlias === undefined &&
    message.expiresAt === undefined
  const slot = (enc.protocolVersion - 3) * 2 + (delivery.retain ? 1 : 0)
  if (cacheable) {
    const cached = (message as EncodedCache)[ENCODED]
    if (cached !== undefined && cached.slot === slot) return cached.bytes
  }
  const packet: PublishPacket = {
    cmd: 'publish',
    topic: enc.aliasKnown === true ? '' : message.topic,
    payload: message.payload,
    qos: delivery.qos,
    retain: delivery.retain,
    dup: enc.dup === true
  }
  if (delivery.qos > 0) packet.messageId = enc.packetId ?? 0
  if (enc.protocolVersion === 5) {
    const props: PublishProperties = {}
    let any = false
    const p = message.properties
    if (p !== undefined) {
      if (p.payloadFormatIndicator !== undefined) { props.payloadFormatIndicator = p.payloadFormatIndicator; any = true }
      if (p.contentType !== undefined) { props.contentType = p.contentType; any = true }
      if (p.responseTopic !== undefined) { props.responseTopic = p.responseTopic; any = true }
      if (p.correlationData !== undefined) { props.correlationData = p.correlationData; any = true }
      if (p.userProperties !== undefined) { props.userProperties = p.userProperties; any = true }
    }
    // The remaining lifetime is forwarded, not the original interval [MQTT-3.3.2-6].
    const remaining = remainingExpiry(message, now)
    if (remaining !== undefined) { props.messageExpiryInterval = remaining; any = true }
    if (delivery.subscriptionIds !== undefined) { props.subscriptionIdentifiers = delivery.subscriptionIds; any = true }
    if (enc.topicAlias !== undefined) { props.topicAlias = enc.topicAlias; any = true }
    if (any) packet.properties = props
  }
  const bytes = encodePublishPacket(packet, enc.protocolVersion)
  // The first encoding made for a message stays cached; other slots are encoded each time.
  if (cacheable && (message as EncodedCache)[ENCODED] === undefined) (message as EncodedCache)[ENCODED] = { slot, bytes }
  return bytes
}
