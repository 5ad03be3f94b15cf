/**
 * SUBSCRIBE decoding (§3.8) in one pass over the frame, for a SUBSCRIBE without MQTT 5
 * properties (almost all of them): the checks of inbound-checks.ts and mqtt-packet's decoding
 * together, as publish-codec.ts does for PUBLISH. A client subscribing many filters at once spent
 * most of its SUBSCRIBE in reading the frame twice (the checks, then mqtt-packet with its byte
 * list and debug calls). A SUBSCRIBE with properties (Subscription Identifier, User Property)
 * goes the general way: `decodeSubscribe` returns undefined for it.
 */
import type { ISubscribePacket, ISubscription, QoS } from 'mqtt-packet'
import { WireReader, malformed, protocolError } from './wire-reader.js'

/** SUBSCRIBE's first byte: type 8 with the reserved flags 0010 [MQTT-3.8.1-1]. */
const SUBSCRIBE_HEADER = 0x82

/**
 * Decodes a SUBSCRIBE frame of a connection at `protocolVersion`; undefined for an MQTT 5
 * SUBSCRIBE with properties. Throws PacketDecodeError (Malformed Packet or Protocol Error).
 */
export function decodeSubscribe (frame: Buffer, protocolVersion: number): ISubscribePacket | undefined {
  if (frame[0] !== SUBSCRIBE_HEADER) throw malformed('SUBSCRIBE with reserved header flags other than 0010')
  const r = new WireReader(frame, 1, frame.length)
  r.varint()
  const messageId = r.u16()
  // A packet identifier of 0 is not allowed [MQTT-2.2.1-3 (3.1.1), MQTT-2.2.1-3 (5)].
  if (messageId === 0) throw malformed('SUBSCRIBE with packet identifier 0')
  const v5 = protocolVersion === 5
  if (v5) {
    const propertiesLength = r.varint()
    if (propertiesLength !== 0) return undefined
  }
  // At least one topic filter [MQTT-3.8.3-2 (3.1.1), MQTT-3.8.3-2 (5)].
  if (r.atEnd()) throw protocolError('SUBSCRIBE without a topic filter')
  const subscriptions: ISubscription[] = []
  while (!r.atEnd()) {
    const topic = r.string()
    const options = r.u8()
    // Reserved bits: 7-2 in 3.1.1 [MQTT-3.8.3-4], 7-6 in 5 [MQTT-3.8.3-5].
    if ((options & (v5 ? 0xc0 : 0xfc)) !== 0) throw malformed('reserved bits set in subscription options')
    const qos = (options & 0x03) as QoS | 3
    if (qos === 3) throw malformed('subscription with QoS 3')
    if (v5) {
      const rh = (options >> 4) & 0x03
      if (rh === 3) throw protocolError('retain handling 3')
      subscriptions.push({ topic, qos, nl: (options & 0x04) !== 0, rap: (options & 0x08) !== 0, rh })
    } else {
      subscriptions.push({ topic, qos })
    }
  }
  return { cmd: 'subscribe', messageId, subscriptions }
}
