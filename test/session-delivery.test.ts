/**
 * The session functions without sockets or actors: delivery, the in-flight window, the queue and
 * its drop policy, resend after a reconnect, outbound topic aliases and packet ids. Effects are
 * recorded by a sink; PUBLISH bytes are decoded to check what the client would receive.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { IPubrelPacket } from 'mqtt-packet'
import { createSessionState, heldMessages, type Delivery, type InflightEntry, type SessionState } from '../src/core/session/session-state.js'
import type { DropReason, SessionOutput } from '../src/core/session/session-output.js'
import { createOutbound, type Outbound } from '../src/core/session/outbound.js'
import { deliver, drainQueue } from '../src/core/session/delivery.js'
import { resendInflight } from '../src/core/session/inflight.js'
import { allocatePacketId } from '../src/core/session/packet-id.js'
import type { QueueLimits } from '../src/core/session/queue.js'
import { DeliveryBudget } from '../src/core/session/delivery-budget.js'
import { decodePublish, type PublishPacket } from '../src/core/mqtt/publish-codec.js'
import type { QoS } from '../src/core/mqtt/message.js'

const NOW = 1_700_000_000_000

/** Records every effect, as the session actor would carry it out. */
class RecordingOutput implements SessionOutput {
  congested = false
  readonly published: PublishPacket[] = []
  readonly sent: IPubrelPacket[] = []
  readonly drops: Array<{ reason: DropReason, topic: string }> = []
  constructor (private readonly protocolVersion: number = 5) {}
  writePublish (bytes: Buffer): void { this.published.push(decodePublish(bytes, this.protocolVersion)) }
  send (packet: IPubrelPacket): void { this.sent.push(packet) }
  dropped (reason: DropReason, topic: string): void { this.drops.push({ reason, topic }) }
  /** Payloads of the deliveries that left the session for good (their store records would go). */
  readonly settledPayloads: string[] = []
  settled (delivery: Delivery): void { this.settledPayloads.push(delivery.message.payload.toString()) }
  /** Packet id and phase of each QoS 2 flow change. */
  readonly flows: string[] = []
  flowChanged (entry: InflightEntry): void { this.flows.push(`${entry.packetId} ${entry.phase}`) }
  payloads (): string[] { return this.published.map(p => p.payload.toString()) }
}

function delivery (payload: string, qos: QoS = 1, topic = 't', expiresAt?: number): Delivery {
  const message: Delivery['message'] = { topic, payload: Buffer.from(payload), qos, retain: false, publisher: 'p', origin: 'n@h' }
  if (expiresAt !== undefined) message.expiresAt = expiresAt
  return { message, qos, retain: false }
}

function outbound (fields: Partial<{ receiveMaximum: number, maximumPacketSize: number, topicAliasMaximum: number, protocolVersion: 3 | 4 | 5 }> = {}, maxInflight = 32): Outbound {
  return createOutbound({
    protocolVersion: fields.protocolVersion ?? 5,
    receiveMaximum: fields.receiveMaximum ?? 65535,
    maximumPacketSize: fields.maximumPacketSize ?? 268435460,
    topicAliasMaximum: fields.topicAliasMaximum ?? 0
  }, maxInflight)
}

const LIMITS: QueueLimits = { maxQueuedMessages: 1000, maxQueuedBytes: 1 << 30, queueDropPolicy: 'drop_oldest' }

/** A node budget that never fills. */
function budget (): DeliveryBudget {
  return new DeliveryBudget({ limitBytes: 2 ** 40 })
}

function session (): SessionState {
  return createSessionState('c', NOW)
}

describe('deliver', () => {
  it('QoS 0 goes out at once to an online client and is not kept', () => {
    const state = session()
    const out = new RecordingOutput()
    deliver(state, outbound(), [delivery('a', 0)], LIMITS, budget(), NOW, out)
    assert.deepEqual(out.payloads(), ['a'])
    assert.equal(out.published[0]!.qos, 0)
    assert.equal(heldMessages(state), 0)
  })

  it('QoS 0 for an offline client is neither sent nor queued', () => {
    const state = session()
    const out = new RecordingOutput()
    deliver(state, undefined, [delivery('a', 0)], LIMITS, budget(), NOW, out)
    assert.equal(out.published.length, 0)
    assert.equal(state.queue.length, 0)
    assert.equal(out.drops.length, 0)
  })

  it('QoS 0 to a congested client is dropped and counted as slow_consumer; QoS 1 waits in the queue', () => {
    const state = session()
    const out = new RecordingOutput()
    out.congested = true
    deliver(state, outbound(), [delivery('a', 0, 'x'), delivery('b', 1)], LIMITS, budget(), NOW, out)
    assert.deepEqual(out.drops, [{ reason: 'slow_consumer', topic: 'x' }])
    assert.deepEqual(out.payloads(), [])
    assert.deepEqual(state.queue.map(d => d.message.payload.toString()), ['b'])
    out.congested = false
    drainQueue(state, outbound(), budget(), NOW, out)
    assert.deepEqual(out.payloads(), ['b'])
  })

  it('QoS 1/2 for an offline client is queued for the session [MQTT-3.1.2-23]', () => {
    const state = session()
    const out = new RecordingOutput()
    deliver(state, undefined, [delivery('a', 1), delivery('b', 2)], LIMITS, budget(), NOW, out)
    assert.equal(out.published.length, 0)
    assert.deepEqual(state.queue.map(d => d.message.payload.toString()), ['a', 'b'])
  })

  it('[MQTT-3.3.4-9] QoS 1/2 beyond the window (the client\'s Receive Maximum) waits in the queue', () => {
    const state = session()
    const out = new RecordingOutput()
    const link = outbound({ receiveMaximum: 2 })
    deliver(state, link, [delivery('a'), delivery('b', 2), delivery('c'), delivery('d')], LIMITS, budget(), NOW, out)
    assert.deepEqual(out.payloads(), ['a', 'b'])
    assert.equal(state.inflight?.size, 2)
    assert.deepEqual(state.queue.map(d => d.message.payload.toString()), ['c', 'd'])
  })

  it('the window is the smaller of the server\'s in-flight limit and the client\'s Receive Maximum', () => {
    const state = session()
    const out = new RecordingOutput()
    deliver(state, outbound({ receiveMaximum: 100 }, 1), [delivery('a'), delivery('b')], LIMITS, budget(), NOW, out)
    assert.deepEqual(out.payloads(), ['a'])
    assert.equal(state.queue.length, 1)
  })

  it('a QoS 1 message does not overtake queued ones even when the window has room', () => {
    const state = session()
    const out = new RecordingOutput()
    deliver(state, undefined, [delivery('queued')], LIMITS, budget(), NOW, out)
    deliver(state, outbound(), [delivery('later')], LIMITS, budget(), NOW, out)
    assert.equal(out.published.length, 0)
    assert.deepEqual(state.queue.map(d => d.message.payload.toString()), ['queued', 'later'])
  })

  it('queue full with drop_oldest: the head of the queue is dropped and counted as queue_full', () => {
    const state = session()
    const out = new RecordingOutput()
    const limits: QueueLimits = { maxQueuedMessages: 2, maxQueuedBytes: 1 << 30, queueDropPolicy: 'drop_oldest' }
    deliver(state, undefined, [delivery('a', 1, 'ta'), delivery('b'), delivery('c'), delivery('d', 1, 'td')], limits, budget(), NOW, out)
    assert.deepEqual(state.queue.map(d => d.message.payload.toString()), ['c', 'd'])
    assert.deepEqual(out.drops, [{ reason: 'queue_full', topic: 'ta' }, { reason: 'queue_full', topic: 't' }])
    assert.deepEqual(out.settledPayloads, ['a', 'b'], 'the dropped ones leave the session (and the store)')
  })

  it('queue full with drop_newest: the new message is dropped and counted as queue_full', () => {
    const state = session()
    const out = new RecordingOutput()
    const limits: QueueLimits = { maxQueuedMessages: 2, maxQueuedBytes: 1 << 30, queueDropPolicy: 'drop_newest' }
    deliver(state, undefined, [delivery('a'), delivery('b'), delivery('c', 1, 'tc')], limits, budget(), NOW, out)
    assert.deepEqual(state.queue.map(d => d.message.payload.toString()), ['a', 'b'])
    assert.deepEqual(out.drops, [{ reason: 'queue_full', topic: 'tc' }])
    assert.deepEqual(out.settledPayloads, ['c'])
  })

  it('[MQTT-3.3.2-5] an expired message is not delivered, one expiring later is', () => {
    const state = session()
    const out = new RecordingOutput()
    deliver(state, outbound(), [delivery('gone', 1, 't', NOW), delivery('live', 1, 't', NOW + 1)], LIMITS, budget(), NOW, out)
    assert.deepEqual(out.payloads(), ['live'])
    assert.deepEqual(out.settledPayloads, ['gone'])
  })

  it('[MQTT-3.3.2-6] the PUBLISH carries the remaining Message Expiry Interval, rounded up', () => {
    const state = session()
    const out = new RecordingOutput()
    deliver(state, outbound(), [delivery('a', 1, 't', NOW + 58_001)], LIMITS, budget(), NOW, out)
    assert.equal(out.published[0]!.properties?.messageExpiryInterval, 59)
  })

  it('[MQTT-3.1.2-25] a PUBLISH larger than the client\'s Maximum Packet Size is dropped, not left in flight', () => {
    const state = session()
    const out = new RecordingOutput()
    deliver(state, outbound({ maximumPacketSize: 40 }), [delivery('x'.repeat(100), 1, 'big'), delivery('y'.repeat(100), 0, 'big0'), delivery('small')], LIMITS, budget(), NOW, out)
    assert.deepEqual(out.payloads(), ['small'])
    assert.deepEqual(out.drops.map(d => d.reason), ['packet_too_large', 'packet_too_large'])
    assert.equal(state.inflight?.size, 1)
    assert.deepEqual(out.settledPayloads, ['x'.repeat(100)])
  })

  it('a QoS 2 delivery reports its packet id when it goes out (a resend after a restart keeps it); QoS 1 does not', () => {
    const state = session()
    const out = new RecordingOutput()
    deliver(state, outbound(), [delivery('one', 1), delivery('two', 2)], LIMITS, budget(), NOW, out)
    assert.deepEqual(out.flows, ['2 publish'])
    assert.deepEqual(out.settledPayloads, [])
  })

  it('a queued message that expired while waiting leaves the session when the queue drains', () => {
    const state = session()
    const out = new RecordingOutput()
    deliver(state, undefined, [delivery('old', 1, 't', NOW + 10), delivery('new', 1, 't', NOW + 60_000)], LIMITS, budget(), NOW, out)
    drainQueue(state, outbound(), budget(), NOW + 20, out)
    assert.deepEqual(out.payloads(), ['new'])
    assert.deepEqual(out.settledPayloads, ['old'])
  })
})

describe('in-flight window and queue drain', () => {
  it('[MQTT-4.9.0-2] completing a flow lets the queue drain in order, within the window', () => {
    const state = session()
    const out = new RecordingOutput()
    const link = outbound({ receiveMaximum: 1 })
    deliver(state, link, [delivery('a'), delivery('b'), delivery('c')], LIMITS, budget(), NOW, out)
    assert.deepEqual(out.payloads(), ['a'])
    state.inflight?.delete(out.published[0]!.messageId!)
    drainQueue(state, link, budget(), NOW, out)
    assert.deepEqual(out.payloads(), ['a', 'b'])
    assert.deepEqual(state.queue.map(d => d.message.payload.toString()), ['c'])
  })

  it('[MQTT-3.3.2-5] draining skips queued messages that expired meanwhile', () => {
    const state = session()
    const out = new RecordingOutput()
    deliver(state, undefined, [delivery('gone', 1, 't', NOW + 1000), delivery('live', 1, 't', NOW + 5000)], LIMITS, budget(), NOW, out)
    drainQueue(state, outbound(), budget(), NOW + 1000, out)
    assert.deepEqual(out.payloads(), ['live'])
    assert.equal(state.queue.length, 0)
  })

  it('[MQTT-2.2.1-3] each message in flight has its own non-zero packet id', () => {
    const state = session()
    const out = new RecordingOutput()
    deliver(state, outbound(), [delivery('a'), delivery('b', 2), delivery('c')], LIMITS, budget(), NOW, out)
    const ids = out.published.map(p => p.messageId)
    assert.equal(new Set(ids).size, 3)
    assert.ok(ids.every(id => id !== undefined && id > 0))
  })
})

describe('resend after a reconnect', () => {
  it('[MQTT-4.4.0-1] unacknowledged PUBLISH go out again with DUP=1 [MQTT-3.3.1-1] under their packet ids, and PUBREL is repeated', () => {
    const state = session()
    const first = new RecordingOutput()
    deliver(state, outbound(), [delivery('q1', 1), delivery('q2', 2)], LIMITS, budget(), NOW, first)
    const [q1, q2] = first.published
    assert.equal(q1!.dup, false)
    // The client sent PUBREC for q2: the server answered PUBREL and waits for PUBCOMP.
    state.inflight!.get(q2!.messageId!)!.phase = 'pubrel'

    const again = new RecordingOutput()
    resendInflight(state, outbound(), NOW, again)
    assert.equal(again.published.length, 1)
    assert.equal(again.published[0]!.dup, true)
    assert.equal(again.published[0]!.messageId, q1!.messageId)
    assert.equal(again.published[0]!.payload.toString(), 'q1')
    assert.deepEqual(again.sent, [{ cmd: 'pubrel', messageId: q2!.messageId }])
    assert.equal(state.inflight?.size, 2)
  })

  it('[MQTT-3.1.2-25] a message too large for the new connection\'s Maximum Packet Size is dropped from flight', () => {
    const state = session()
    deliver(state, outbound(), [delivery('x'.repeat(100))], LIMITS, budget(), NOW, new RecordingOutput())
    const out = new RecordingOutput()
    resendInflight(state, outbound({ maximumPacketSize: 40 }), NOW, out)
    assert.equal(out.published.length, 0)
    assert.deepEqual(out.drops.map(d => d.reason), ['packet_too_large'])
    assert.equal(state.inflight?.size, 0)
  })
})

describe('outbound topic aliases', () => {
  it('[MQTT-3.3.2-11] no alias is sent to a client whose Topic Alias Maximum is 0', () => {
    const out = new RecordingOutput()
    deliver(session(), outbound(), [delivery('a', 0), delivery('b', 0)], LIMITS, budget(), NOW, out)
    assert.ok(out.published.every(p => p.properties?.topicAlias === undefined && p.topic === 't'))
  })

  it('the first PUBLISH on a topic sets an alias with the topic, later ones send the alias alone (§3.3.2.3.4)', () => {
    const out = new RecordingOutput()
    const link = outbound({ topicAliasMaximum: 2 })
    deliver(session(), link, [delivery('a', 0, 'x/1'), delivery('b', 0, 'x/1')], LIMITS, budget(), NOW, out)
    assert.deepEqual(out.published.map(p => [p.topic, p.properties?.topicAlias]), [['x/1', 1], ['', 1]])
  })

  it('[MQTT-3.3.2-11] no more aliases than the client\'s Topic Alias Maximum: further topics are sent in full', () => {
    const out = new RecordingOutput()
    const link = outbound({ topicAliasMaximum: 1 })
    deliver(session(), link, [delivery('a', 0, 'x/1'), delivery('b', 0, 'x/2'), delivery('c', 0, 'x/2')], LIMITS, budget(), NOW, out)
    assert.deepEqual(out.published.map(p => [p.topic, p.properties?.topicAlias]), [['x/1', 1], ['x/2', undefined], ['x/2', undefined]])
  })

  it('an alias whose PUBLISH was too large is not used later: the client never learnt it', () => {
    const out = new RecordingOutput()
    const link = outbound({ topicAliasMaximum: 4, maximumPacketSize: 40 })
    deliver(session(), link, [delivery('x'.repeat(100), 0, 'x/1'), delivery('small', 0, 'x/1')], LIMITS, budget(), NOW, out)
    assert.deepEqual(out.published.map(p => [p.topic, p.properties?.topicAlias]), [['x/1', 1]])
  })

  it('[MQTT-3.3.2-7] a new connection starts without aliases', () => {
    const state = session()
    const out = new RecordingOutput()
    deliver(state, outbound({ topicAliasMaximum: 2 }), [delivery('a', 0, 'x/1')], LIMITS, budget(), NOW, out)
    deliver(state, outbound({ topicAliasMaximum: 2 }), [delivery('b', 0, 'x/1')], LIMITS, budget(), NOW, out)
    assert.deepEqual(out.published.map(p => p.topic), ['x/1', 'x/1'])
  })
})

describe('packet ids', () => {
  it('[MQTT-2.2.1-3] packet ids wrap from 65535 to 1 and skip ids still in flight', () => {
    const state = session()
    state.nextPacketId = 65535
    state.inflight = new Map([[1, { packetId: 1, delivery: delivery('a'), phase: 'publish' }]])
    assert.equal(allocatePacketId(state), 65535)
    assert.equal(allocatePacketId(state), 2)
  })

  it('no packet id is given while all 65535 are in flight', () => {
    const state = session()
    state.inflight = new Map()
    for (let id = 1; id <= 65535; id++) state.inflight.set(id, { packetId: id, delivery: delivery('a'), phase: 'publish' })
    assert.equal(allocatePacketId(state), undefined)
  })
})
