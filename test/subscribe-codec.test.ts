/** decodeSubscribe: the one-pass SUBSCRIBE decoder agrees with mqtt-packet and refuses what the checks refuse (§3.8). */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import mqtt, { type ISubscribePacket } from 'mqtt-packet'
import { decodeSubscribe } from '../src/core/mqtt/subscribe-codec.js'
import { PacketDecodeError } from '../src/core/mqtt/wire-reader.js'
import { ReasonCode } from '../src/core/mqtt/reason-codes.js'

function frame (packet: Omit<ISubscribePacket, 'cmd'>, protocolVersion: 4 | 5): Buffer {
  return mqtt.generate({ cmd: 'subscribe', ...packet }, { protocolVersion })
}

function parsed (bytes: Buffer, protocolVersion: 4 | 5): ISubscribePacket {
  const parser = mqtt.parser({ protocolVersion })
  let packet: ISubscribePacket | undefined
  parser.on('packet', p => { packet = p as ISubscribePacket })
  parser.parse(bytes)
  assert.ok(packet !== undefined)
  return packet
}

function refusal (bytes: Buffer, protocolVersion: 4 | 5): number {
  try {
    decodeSubscribe(bytes, protocolVersion)
  } catch (err) {
    assert.ok(err instanceof PacketDecodeError)
    return err.reasonCode
  }
  assert.fail('decoded')
}

describe('decodeSubscribe', () => {
  it('[MQTT-3.8.3-1] reads the filters and options as mqtt-packet does, in 3.1.1 and 5', () => {
    const subscriptions = [
      { topic: 'a/b', qos: 0 as const },
      { topic: 'sport/+/player1', qos: 1 as const },
      { topic: '#', qos: 2 as const },
      { topic: 'ünï/cödé', qos: 1 as const }
    ]
    const v4 = frame({ messageId: 7, subscriptions }, 4)
    const mine4 = decodeSubscribe(v4, 4)!
    const theirs4 = parsed(v4, 4)
    assert.deepEqual([mine4.messageId, mine4.subscriptions], [theirs4.messageId, theirs4.subscriptions])
    const v5subs = subscriptions.map((s, i) => ({ ...s, nl: i % 2 === 0, rap: i % 3 === 0, rh: i % 3 }))
    const v5 = frame({ messageId: 65535, subscriptions: v5subs }, 5)
    const mine5 = decodeSubscribe(v5, 5)!
    const theirs5 = parsed(v5, 5)
    assert.deepEqual([mine5.messageId, mine5.subscriptions], [theirs5.messageId, theirs5.subscriptions])
    assert.equal(mine5.properties, undefined)
  })

  it('leaves an MQTT 5 SUBSCRIBE with properties to the general decoder', () => {
    const bytes = frame({ messageId: 1, subscriptions: [{ topic: 'a', qos: 1 }], properties: { subscriptionIdentifier: 9 } }, 5)
    assert.equal(decodeSubscribe(bytes, 5), undefined)
  })

  it('[MQTT-3.8.1-1] refuses reserved header flags other than 0010 as malformed', () => {
    const bytes = frame({ messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }] }, 4)
    bytes[0] = 0x80
    assert.equal(refusal(bytes, 4), ReasonCode.MalformedPacket)
  })

  it('[MQTT-2.2.1-3] refuses packet identifier 0', () => {
    const bytes = frame({ messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }] }, 4)
    bytes.writeUInt16BE(0, 2)
    assert.equal(refusal(bytes, 4), ReasonCode.MalformedPacket)
  })

  it('[MQTT-3.8.3-2] refuses a SUBSCRIBE without a topic filter as a protocol error', () => {
    assert.equal(refusal(Buffer.from([0x82, 0x02, 0x00, 0x01]), 4), ReasonCode.ProtocolError)
    assert.equal(refusal(Buffer.from([0x82, 0x03, 0x00, 0x01, 0x00]), 5), ReasonCode.ProtocolError)
  })

  it('[MQTT-3.8.3-4, MQTT-3.8.3-5] refuses reserved option bits, QoS 3 and retain handling 3', () => {
    const options = (value: number, protocolVersion: 4 | 5): Buffer => {
      const bytes = frame({ messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }] }, protocolVersion)
      bytes[bytes.length - 1] = value
      return bytes
    }
    assert.equal(refusal(options(0x04, 4), 4), ReasonCode.MalformedPacket)
    assert.equal(refusal(options(0x40, 5), 5), ReasonCode.MalformedPacket)
    assert.equal(refusal(options(0x03, 5), 5), ReasonCode.MalformedPacket)
    assert.equal(refusal(options(0x30, 5), 5), ReasonCode.ProtocolError)
  })

  it('[MQTT-1.5.4-1, MQTT-1.5.4-2] refuses a filter that is not well-formed UTF-8 or holds U+0000, and a truncated frame', () => {
    const bad = Buffer.from([0x82, 0x07, 0x00, 0x01, 0x00, 0x02, 0xc3, 0x28, 0x00])
    assert.equal(refusal(bad, 4), ReasonCode.MalformedPacket)
    const nul = Buffer.from([0x82, 0x07, 0x00, 0x01, 0x00, 0x02, 0x61, 0x00, 0x00])
    assert.equal(refusal(nul, 4), ReasonCode.MalformedPacket)
    const truncated = Buffer.from([0x82, 0x06, 0x00, 0x01, 0x00, 0x02, 0x61, 0x62])
    assert.equal(refusal(truncated, 4), ReasonCode.MalformedPacket)
  })
})
