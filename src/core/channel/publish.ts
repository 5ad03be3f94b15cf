/** Inbound PUBLISH (§3.3): topic alias, validation, QoS 1/2 acknowledgement and exactly-once receipt. */
import type { SessionContext } from './channel-context.js'
import type { Message, MessageProperties } from '../mqtt/message.js'
import type { PublishPacket } from '../mqtt/publish-codec.js'
import type { InboundAck } from './routed-acks.js'
import { ReasonCode } from '../mqtt/reason-codes.js'
import { isValidTopicName, levelCount } from '../mqtt/topic.js'

function messageProperties (packet: PublishPacket): MessageProperties | undefined {
  const p = packet.properties
  if (p === undefined) return undefined
  let out: MessageProperties | undefined
  if (p.payloadFormatIndicator !== undefined) (out ??= {}).payloadFormatIndicator = p.payloadFormatIndicator
  if (p.contentType !== undefined) (out ??= {}).contentType = p.contentType
  if (p.responseTopic !== undefined) (out ??= {}).responseTopic = p.responseTopic
  if (p.correlationData !== undefined) (out ??= {}).correlationData = p.correlationData
  if (p.userProperties !== undefined) (out ??= {}).userProperties = p.userProperties
  return out
}

/** Resolves the topic through the topic alias, or returns a reason code to disconnect with. */
function resolveTopic (ctx: SessionContext, packet: PublishPacket): string | number {
  const alias = packet.properties?.topicAlias
  if (ctx.protocolVersion !== 5) return packet.topic
  // An empty Topic Name without a Topic Alias is a Protocol Error (MQTT 5 §3.3.2.1).
  if (alias === undefined) return packet.topic.length > 0 ? packet.topic : ReasonCode.ProtocolError
  // Alias 0 or above the server's Topic Alias Maximum is invalid [MQTT-3.3.2-8, MQTT-3.3.2-9].
  if (alias === 0 || alias > ctx.mqttConfig.topicAliasMaximum) return ReasonCode.TopicAliasInvalid
  if (packet.topic.length > 0) {
    ctx.inboundAliases.set(alias, packet.topic)
    return packet.topic
  }
  const topic = ctx.inboundAliases.get(alias)
  return topic ?? ReasonCode.ProtocolError
}

/**
 * A PUBLISH the ACL refused is dropped. MQTT 5 acks QoS 1/2 with 0x87 Not authorized (§3.4.2.1,
 * §3.5.2.1; a PUBREC error ends the QoS 2 flow); MQTT 3.1.1 has no way to say it, so it acks as
 * usual (as mosquitto does: the client would otherwise resend forever) and a QoS 2 flow goes on to
 * PUBREL/PUBCOMP.
 */
function refusePublish (ctx: SessionContext, packet: PublishPacket, topic: string): void {
  ctx.notAuthorized('publish', topic)
  if (packet.qos === 0) return
  const messageId = packet.messageId ?? 0
  const cmd = packet.qos === 1 ? 'puback' : 'pubrec'
  if (ctx.protocolVersion === 5) {
    ctx.acknowledge({ cmd, messageId, reasonCode: ReasonCode.NotAuthorized })
    return
  }
  if (packet.qos === 2) (ctx.state.awaitingRel ??= new Set()).add(messageId)
  ctx.acknowledge({ cmd, messageId })
}

/**
 * The node's store cannot be written (disk full): a QoS 1/2 PUBLISH is not taken, as it could not
 * be kept. MQTT 5 gets PUBACK/PUBREC 0x97 Quota exceeded (§3.4.2.1); MQTT 3.1.1 has no way to say
 * it, so the connection is closed without an ack and the client sends it again when it reconnects
 * [MQTT-4.4.0-1].
 */
function refuseUnstored (ctx: SessionContext, packet: PublishPacket, topic: string): void {
  ctx.unstored(topic)
  if (ctx.protocolVersion === 5) {
    ctx.acknowledge({ cmd: packet.qos === 1 ? 'puback' : 'pubrec', messageId: packet.messageId ?? 0, reasonCode: ReasonCode.QuotaExceeded })
    return
  }
  ctx.disconnect('store_unavailable', ReasonCode.QuotaExceeded)
}

export function handlePublish (ctx: SessionContext, packet: PublishPacket): void {
  const topic = resolveTopic(ctx, packet)
  if (typeof topic === 'number') {
    ctx.disconnect(topic === ReasonCode.TopicAliasInvalid ? 'topic_alias_invalid' : 'protocol_error', topic)
    return
  }
  // No wildcards in a Topic Name [MQTT-3.3.2-2]; not empty, valid UTF-8 without U+0000 [MQTT-4.7.3-1, MQTT-4.7.3-2].
  if (!isValidTopicName(topic) || levelCount(topic) > ctx.mqttConfig.maxTopicLevels) {
    ctx.disconnect('protocol_error', ReasonCode.TopicNameInvalid, 'invalid topic name')
    return
  }
  if (packet.retain && !ctx.mqttConfig.retainAvailable) {
    ctx.disconnect('protocol_error', ReasonCode.RetainNotSupported)
    return
  }
  const { state } = ctx
  const packetId = packet.messageId ?? 0
  if (packet.qos === 2) {
    if (state.awaitingRel?.has(packetId) === true) {
      // A re-sent QoS 2 PUBLISH before PUBREL is not routed again [MQTT-4.3.3-9 v5 / MQTT-4.3.3-2 v3.1.1].
      ctx.acknowledge({ cmd: 'pubrec', messageId: packetId })
      return
    }
    // More unacknowledged QoS 2 than the server's Receive Maximum [MQTT-3.3.4-9].
    if (ctx.protocolVersion === 5 && (state.awaitingRel?.size ?? 0) >= ctx.mqttConfig.receiveMaximum) {
      ctx.disconnect('receive_maximum_exceeded', ReasonCode.ReceiveMaximumExceeded)
      return
    }
  }

  if (packet.qos > 0 && ctx.storeFailure !== undefined) {
    refuseUnstored(ctx, packet, topic)
    return
  }

  // The ACL may refuse the client this topic (and `$SYS/` is read-only unless auth.allowSysPublish).
  if (!ctx.authorizer.allows('publish', topic)) {
    refusePublish(ctx, packet, topic)
    return
  }

  const message: Message = {
    topic,
    payload: packet.payload,
    qos: packet.qos,
    retain: packet.retain,
    publisher: state.clientId,
    origin: ctx.node
  }
  const properties = messageProperties(packet)
  if (properties !== undefined) message.properties = properties
  const expiry = packet.properties?.messageExpiryInterval
  if (expiry !== undefined) message.expiresAt = ctx.now() + expiry * 1000
  if (packet.qos === 0) {
    ctx.publish(message)
    return
  }
  if (packet.qos === 2) (state.awaitingRel ??= new Set()).add(packetId)
  const ack: InboundAck = { cmd: packet.qos === 1 ? 'puback' : 'pubrec', messageId: packetId }
  // MQTT 5 acks tell whether the message matched a subscription (0x10 when not): they wait for
  // the routing. With a store that acks wait for, every ack waits for the routing and the commit
  // of what it recorded. Otherwise MQTT 3.1.1 acks have no reason code and go at once.
  if (ctx.protocolVersion === 5 || ctx.acksWaitForStore) {
    ctx.publishThenAck(message, ack)
  } else {
    ctx.publish(message)
    ctx.send(ack)
  }
}
