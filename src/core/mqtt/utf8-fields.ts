/**
 * Checks the raw UTF-8 bytes of the topic strings in a SUBSCRIBE or UNSUBSCRIBE frame (PUBLISH
 * has its own codec, publish-codec.ts, which checks them while decoding).
 * mqtt-packet decodes strings leniently (bad sequences become U+FFFD), so a decoded string
 * containing U+FFFD is re-checked against the bytes it came from [MQTT-1.5.4-1].
 */
import type { Packet } from 'mqtt-packet'
import { isWellFormedUtf8 } from './topic.js'

const REPLACEMENT = '\uFFFD'

function varintEnd (frame: Buffer, offset: number): { value: number, end: number } {
  let value = 0
  let multiplier = 1
  let pos = offset
  for (let i = 0; i < 4 && pos < frame.length; i++) {
    const byte = frame[pos++]!
    value += (byte & 0x7f) * multiplier
    if ((byte & 0x80) === 0) break
    multiplier *= 128
  }
  return { value, end: pos }
}

/** True when every topic string in the frame is well-formed UTF-8. */
export function topicsAreWellFormed (packet: Packet, frame: Buffer, protocolVersion: number): boolean {
  switch (packet.cmd) {
    case 'subscribe':
    case 'unsubscribe': {
      const topics = packet.cmd === 'subscribe' ? packet.subscriptions.map(s => s.topic) : packet.unsubscriptions
      if (!topics.some(t => t.includes(REPLACEMENT))) return true
      let pos = varintEnd(frame, 1).end + 2
      if (protocolVersion === 5) {
        const props = varintEnd(frame, pos)
        pos = props.end + props.value
      }
      while (pos + 2 <= frame.length) {
        const len = frame.readUInt16BE(pos)
        if (!isWellFormedUtf8(frame.subarray(pos + 2, pos + 2 + len))) return false
        pos += 2 + len + (packet.cmd === 'subscribe' ? 1 : 0)
      }
      return true
    }
    case 'connect': {
      const strings = [packet.clientId, packet.username ?? '', packet.will?.topic ?? '']
      return !strings.some(s => s.includes(REPLACEMENT))
    }
    default:
      return true
  }
}
