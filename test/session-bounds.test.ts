/**
 * The session's bounds without sockets or actors (issue 8): the queue in messages and bytes, the
 * node's byte budget, QoS 1/2 held back from a slow consumer, the backlog marks that meter inbound
 * forwards and the stall timeout, and one delivery for overlapping subscriptions.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { IPubrelPacket } from 'mqtt-packet'
import { createSessionState, type Delivery, type InflightEntry, type SessionState, type SubscriptionOptions } from '../src/core/session/session-state.js'
import type { DropReason, SessionOutput } from '../src/core/session/session-output.js'
import { createOutbound, type Outbound } from '../src/core/session/outbound.js'
import { deliver, drainQueue } from '../src/core/session/delivery.js'
import { clearQueue, deliveryBytes, type QueueLimits } from '../src/core/session/queue.js'
import { aboveHighWater, atLowWater, isBacklogged } from '../src/core/session/backlog.js'
import { addMatchingSubscription, deliveryFor } from '../src/core/session/matched-delivery.js'
import { DeliveryBudget } from '../src/core/session/delivery-budget.js'
import { ManualClock } from '../src/core/clock.js'
import { SessionBacklog } from '../actors/session-backlog.js'
import type { Message, QoS } from '../src/core/mqtt/message.js'

const NOW = 1_700_000_000_000

/** Records effects; `congestAfter` makes the connection congested once that many PUBLISH were written. */
class RecordingOutput implements SessionOutput {
  readonly written: Buffer[] = []
  readonly sent: IPubrelPacket[] = []
  readonly drops: Array<{ reason: DropReason, topic: string }> = []
  congestAfter = Infinity
  get congested (): boolean { return this.written.length >= this.congestAfter }
  writePublish (bytes: Buffer): void { this.written.push(bytes) }
  send (packet: IPubrelPacket): void { this.sent.push(packet) }
  dropped (reason: DropReason, topic: string): void { this.drops.push({ reason, topic }) }
  /** Payloads of the deliveries that left the session for good (their store records would go). */
  readonly settledPayloads: string[] = []
  settled (delivery: Delivery): void { this.settledPayloads.push(delivery.message.payload.toString()) }
  /** Packet id and phase of each QoS 2 flow change. */
  readonly flows: string[] = []
  flowChanged (entry: InflightEntry): void { this.flows.push(`${entry.packetId} ${entry.phase}`) }
  reasons (): DropReason[] { return this.drops.map(d => d.reason) }
}

function message (payload: string | number, qos: QoS = 1, topic = 't', retain = false): Message {
  return { topic, payload: typeof payload === 'number' ? Buffer.alloc(payload) : Buffer.from(payload), qos, retain, publisher: 'p', origin: 'n@h' }
}

function delivery (payload: string | number, qos: QoS = 1, topic = 't'): Delivery {
  return { message: message(payload, qos, topic), qos, retain: false }
}

function outbound (window = 32): Outbound {
  return createOutbound({ protocolVersion: 5, receiveMaximum: 65535, maximumPacketSize: 268435460, topicAliasMaximum: 0 }, window)
}

function limits (fields: Partial<QueueLimits> = {}): QueueLimits {
  return { maxQueuedMessages: 1000, maxQueuedBytes: 1 << 30, queueDropPolicy: 'drop_oldest', ...fields }
}

const bigBudget = (): DeliveryBudget => new DeliveryBudget({ limitBytes: 2 ** 40 })
const payloads = (state: SessionState): string[] => state.queue.map(d => d.message.payload.toString())

/** The bytes one delivery of `size` payload bytes on topic `t` is counted for. */
const entryBytes = (size: number): number => deliveryBytes(delivery(size))

describe('session queue bounded in bytes (mqtt.maxQueuedBytes)', () => {
  it('a delivery is counted for its topic, payload and properties plus a fixed overhead', () => {
    const plain = deliveryBytes(delivery(1000, 1, 'a/b'))
    assert.ok(plain >= 1003 && plain < 1003 + 200, `counted ${plain}`)
    const withProperties = delivery(1000, 1, 'a/b')
    withProperties.message.properties = { contentType: 'text', correlationData: Buffer.alloc(16), userProperties: [['k', 'vv']] }
    assert.equal(deliveryBytes(withProperties), plain + 4 + 16 + 3)
  })

  it('drop_oldest drops heads until the new message fits the byte limit, each counted as queue_full', () => {
    const state = createSessionState('c', NOW)
    const out = new RecordingOutput()
    const budget = bigBudget()
    const bounded = limits({ maxQueuedBytes: 4 * entryBytes(100) })
    deliver(state, undefined, [delivery(100), delivery(100), delivery(100)], bounded, budget, NOW, out)
    assert.equal(state.queue.length, 3)
    deliver(state, undefined, [delivery(150)], bounded, budget, NOW, out)
    assert.deepEqual(out.reasons(), ['queue_full'], 'one head makes room for 150 bytes')
    deliver(state, undefined, [delivery(250)], bounded, budget, NOW, out)
    assert.deepEqual(out.reasons(), ['queue_full', 'queue_full', 'queue_full'], 'two heads make room for 250 bytes')
    assert.deepEqual(state.queue.map(d => d.message.payload.length), [150, 250])
    assert.equal(state.queuedBytes, entryBytes(150) + entryBytes(250))
    assert.equal(budget.heldBytes, state.queuedBytes)
  })

  it('drop_newest keeps the queue and drops the message that does not fit', () => {
    const state = createSessionState('c', NOW)
    const out = new RecordingOutput()
    const bounded = limits({ maxQueuedBytes: 2 * entryBytes(100), queueDropPolicy: 'drop_newest' })
    deliver(state, undefined, [delivery(100, 1, 'a'), delivery(100, 1, 'b'), delivery(1, 1, 'c')], bounded, bigBudget(), NOW, out)
    assert.deepEqual(state.queue.map(d => d.message.topic), ['a', 'b'])
    assert.deepEqual(out.drops, [{ reason: 'queue_full', topic: 'c' }])
  })

  it('a message larger than the whole byte limit is dropped alone; the queue stays', () => {
    const state = createSessionState('c', NOW)
    const out = new RecordingOutput()
    const bounded = limits({ maxQueuedBytes: 2 * entryBytes(100) })
    deliver(state, undefined, [delivery('kept'), delivery(10_000, 1, 'huge')], bounded, bigBudget(), NOW, out)
    assert.deepEqual(payloads(state), ['kept'])
    assert.deepEqual(out.drops, [{ reason: 'queue_full', topic: 'huge' }])
  })

  it('the message count bound still holds with bytes to spare', () => {
    const state = createSessionState('c', NOW)
    const out = new RecordingOutput()
    deliver(state, undefined, [delivery('a'), delivery('b'), delivery('c')], limits({ maxQueuedMessages: 2 }), bigBudget(), NOW, out)
    assert.deepEqual(payloads(state), ['b', 'c'])
    assert.deepEqual(out.reasons(), ['queue_full'])
  })
})

describe('node budget of queued bytes (mqtt.maxNodeQueuedBytes)', () => {
  it('past the node budget the new message is dropped as node_queue_full when the session has nothing queued', () => {
    const budget = new DeliveryBudget({ limitBytes: 2 * entryBytes(100) })
    const first = createSessionState('a', NOW)
    const second = createSessionState('b', NOW)
    const out = new RecordingOutput()
    deliver(first, undefined, [delivery(100), delivery(100)], limits(), budget, NOW, out)
    deliver(second, undefined, [delivery(100, 1, 'x')], limits(), budget, NOW, out)
    assert.equal(second.queue.length, 0)
    assert.deepEqual(out.drops, [{ reason: 'node_queue_full', topic: 'x' }])
    assert.equal(first.queue.length, 2, 'another session\'s queue is not touched')
  })

  it('drop_oldest makes room in the session\'s own queue; drop_newest drops the new message', () => {
    const budget = new DeliveryBudget({ limitBytes: 3 * entryBytes(100) })
    const other = createSessionState('o', NOW)
    const state = createSessionState('c', NOW)
    const out = new RecordingOutput()
    deliver(other, undefined, [delivery(100)], limits(), budget, NOW, out)
    deliver(state, undefined, [delivery(100, 1, 'o'), delivery(100, 1, 'm'), delivery(100, 1, 'n')], limits(), budget, NOW, out)
    assert.deepEqual(state.queue.map(d => d.message.topic), ['m', 'n'])
    assert.deepEqual(out.drops, [{ reason: 'node_queue_full', topic: 'o' }])
    deliver(state, undefined, [delivery(100, 1, 'x')], limits({ queueDropPolicy: 'drop_newest' }), budget, NOW, out)
    assert.deepEqual(state.queue.map(d => d.message.topic), ['m', 'n'])
    assert.deepEqual(out.drops.at(-1), { reason: 'node_queue_full', topic: 'x' })
  })

  it('every byte held is released when messages leave the queue: sent, expired, dropped or discarded', () => {
    const budget = bigBudget()
    const state = createSessionState('c', NOW)
    const out = new RecordingOutput()
    const expiring = delivery('expiring')
    expiring.message.expiresAt = NOW + 10
    deliver(state, undefined, [delivery(500), expiring, delivery(700), delivery(900)], limits({ maxQueuedMessages: 3 }), budget, NOW, out)
    assert.equal(budget.heldMessages, 3)
    assert.equal(budget.heldBytes, state.queuedBytes)
    drainQueue(state, outbound(1), budget, NOW + 10, out)
    assert.equal(state.queue.length, 1, 'the expired one was skipped, one sent, one waits for the window')
    assert.equal(budget.heldBytes, state.queuedBytes)
    assert.equal(budget.heldMessages, 1)
    assert.equal(clearQueue(state, budget), 1)
    assert.equal(budget.heldBytes, 0)
    assert.equal(budget.heldMessages, 0)
    assert.equal(state.queuedBytes, 0)
  })
})

describe('DeliveryBudget: pressure from held bytes, parked for offline clients', () => {
  it('held bytes past half the limit put the node under pressure until they are below a quarter', () => {
    const budget = new DeliveryBudget({ limitBytes: 1000 })
    let reliefs = 0
    budget.onRelief(() => { reliefs++ })
    budget.hold(400)
    assert.equal(budget.pressured, false)
    budget.hold(200)
    assert.equal(budget.pressured, true)
    budget.release(200)
    assert.equal(budget.pressured, true, 'between the marks the pressure stays')
    budget.release(200)
    assert.equal(budget.pressured, false)
    assert.equal(reliefs, 1)
    assert.equal(budget.fits(800), true)
    assert.equal(budget.fits(801), false)
  })

  it('bytes held for offline clients count against the limit but put no pressure on the node', () => {
    const budget = new DeliveryBudget({ limitBytes: 1000 })
    budget.hold(700, true)
    assert.equal(budget.pressured, false)
    assert.equal(budget.fits(300), true)
    assert.equal(budget.fits(301), false)
    budget.park(700, false)
    assert.equal(budget.pressured, true, 'the client came back: its queue drains now, and presses')
    let reliefs = 0
    budget.onRelief(() => { reliefs++ })
    budget.park(700, true)
    assert.equal(budget.pressured, false, 'gone again: relieved')
    assert.equal(reliefs, 1)
    budget.release(700, true)
    assert.equal(budget.heldBytes, 0)
    assert.equal(budget.parkedBytes, 0)
  })
})

describe('slow consumer: QoS 1/2 held back while the connection is congested', () => {
  it('QoS 1 to a congested connection waits in the queue instead of being written', () => {
    const state = createSessionState('c', NOW)
    const out = new RecordingOutput()
    out.congestAfter = 0
    deliver(state, outbound(), [delivery('a'), delivery('b', 2)], limits(), bigBudget(), NOW, out)
    assert.equal(out.written.length, 0)
    assert.equal(state.inflight?.size ?? 0, 0)
    assert.deepEqual(payloads(state), ['a', 'b'])
  })

  it('delivery stops writing once the connection becomes congested; the drain resumes in order when it is writable', () => {
    const state = createSessionState('c', NOW)
    const out = new RecordingOutput()
    const budget = bigBudget()
    out.congestAfter = 2
    deliver(state, outbound(), [delivery('a'), delivery('b'), delivery('c'), delivery('d')], limits(), budget, NOW, out)
    assert.equal(out.written.length, 2)
    assert.deepEqual(payloads(state), ['c', 'd'])
    drainQueue(state, outbound(), budget, NOW, out)
    assert.equal(out.written.length, 2, 'still congested: nothing more is written')
    out.congestAfter = Infinity
    drainQueue(state, outbound(), budget, NOW, out)
    assert.equal(out.written.length, 4)
    assert.equal(state.queue.length, 0)
    assert.equal(budget.heldBytes, 0)
  })
})

describe('backlog marks (half and a quarter of the queue limits)', () => {
  const bounds = { maxQueuedMessages: 8, maxQueuedBytes: 8 * entryBytes(1000) }

  function queued (count: number, size = 1): SessionState {
    const state = createSessionState('c', NOW)
    for (let i = 0; i < count; i++) {
      const d = delivery(size)
      state.queue.push(d)
      state.queuedBytes += deliveryBytes(d)
    }
    return state
  }

  it('the high-water mark is half the limit in messages or in bytes', () => {
    assert.equal(aboveHighWater(queued(3), bounds), false)
    assert.equal(aboveHighWater(queued(4), bounds), true)
    assert.equal(aboveHighWater(queued(1, 4 * 1000 + 4 * 96), bounds), true, 'one large message past half the bytes')
  })

  it('the low-water mark is a quarter of both limits', () => {
    assert.equal(atLowWater(queued(2), bounds), true)
    assert.equal(atLowWater(queued(3), bounds), false)
    assert.equal(atLowWater(queued(1, 3000), bounds), false)
  })

  it('between the marks a session stays as it was', () => {
    assert.equal(isBacklogged(queued(3), bounds, false), false)
    assert.equal(isBacklogged(queued(3), bounds, true), true)
    assert.equal(isBacklogged(queued(2), bounds, true), false)
    assert.equal(isBacklogged(queued(4), bounds, false), true)
  })
})

describe('SessionBacklog: the session\'s part in the node\'s pressure signal', () => {
  const bounds = limits({ maxQueuedMessages: 8 })
  const STALL_MS = 10_000

  function fixture (): { state: SessionState, budget: DeliveryBudget, clock: ManualClock, backlog: SessionBacklog, fill: (n: number) => void, reliefs: () => number } {
    const state = createSessionState('c', NOW)
    const budget = bigBudget()
    const clock = new ManualClock(NOW)
    let relief = 0
    budget.onRelief(() => { relief++ })
    const backlog: SessionBacklog = new SessionBacklog('c', budget, clock, STALL_MS, marking => { backlog.stallDue(marking) })
    const fill = (n: number): void => {
      clearQueue(state, budget)
      deliver(state, undefined, Array.from({ length: n }, () => delivery('m')), bounds, budget, NOW, new RecordingOutput())
    }
    return { state, budget, clock, backlog, fill, reliefs: () => relief }
  }

  it('an online session past its high-water mark puts the node under pressure until it reaches its low-water mark', () => {
    const { state, budget, backlog, fill, reliefs } = fixture()
    fill(3)
    backlog.update(state, bounds, true)
    assert.equal(budget.pressured, false)
    fill(4)
    backlog.update(state, bounds, true)
    assert.equal(budget.pressured, true)
    assert.equal(budget.backlogged, 1)
    fill(3)
    backlog.update(state, bounds, true)
    assert.equal(budget.pressured, true, 'above the low-water mark it stays marked')
    fill(2)
    backlog.update(state, bounds, true)
    assert.equal(budget.pressured, false)
    assert.equal(reliefs(), 1)
  })

  it('an offline session never holds the node back', () => {
    const { state, budget, backlog, fill } = fixture()
    fill(8)
    backlog.update(state, bounds, false)
    assert.equal(budget.pressured, false)
    backlog.update(state, bounds, true)
    assert.equal(budget.pressured, true)
    backlog.update(state, bounds, false)
    assert.equal(budget.pressured, false, 'going offline unmarks it')
  })

  it('a backlogged session that does not drain within the stall timeout is stalled: unmarked until its low-water mark', () => {
    const { state, budget, clock, backlog, fill } = fixture()
    fill(6)
    backlog.update(state, bounds, true)
    clock.advance(STALL_MS - 1)
    assert.equal(budget.pressured, true)
    clock.advance(1)
    assert.equal(budget.pressured, false)
    assert.equal(backlog.stalled, true)
    backlog.update(state, bounds, true)
    assert.equal(budget.pressured, false, 'a stalled session is not marked again while its queue stays high')
    fill(2)
    backlog.update(state, bounds, true)
    assert.equal(backlog.stalled, false)
    fill(5)
    backlog.update(state, bounds, true)
    assert.equal(budget.pressured, true, 'drained to the low-water mark, it may hold the node back again')
  })

  it('a session that drains in time is not stalled by the timer of an earlier marking', () => {
    const { state, budget, clock, backlog, fill } = fixture()
    fill(6)
    backlog.update(state, bounds, true)
    clock.advance(STALL_MS / 2)
    fill(1)
    backlog.update(state, bounds, true)
    fill(6)
    backlog.update(state, bounds, true)
    clock.advance(STALL_MS / 2)
    assert.equal(budget.pressured, true, 'the second marking has its own full timeout')
    assert.equal(backlog.stalled, false)
    assert.equal(clock.pending, 1)
  })
})

describe('[MQTT-3.3.4-2] [MQTT-3.3.4-3] [MQTT-3.3.4-4] overlapping subscriptions of one client', () => {
  const options = (qos: QoS, subscriptionId?: number, retainAsPublished = false): SubscriptionOptions => {
    const o: SubscriptionOptions = { qos, noLocal: false, retainAsPublished, retainHandling: 0 }
    if (subscriptionId !== undefined) o.subscriptionId = subscriptionId
    return o
  }

  it('one delivery at the highest QoS granted, never above the message\'s', () => {
    const d = deliveryFor(message('x', 1), options(0))
    addMatchingSubscription(d, options(2))
    addMatchingSubscription(d, options(0))
    assert.equal(d.qos, 1)
  })

  it('carries the identifier of every matching subscription that has one, repeated when shared', () => {
    const d = deliveryFor(message('x', 2), options(1, 7))
    addMatchingSubscription(d, options(2))
    addMatchingSubscription(d, options(0, 3))
    addMatchingSubscription(d, options(0, 7))
    assert.deepEqual(d.subscriptionIds, [7, 3, 7])
    const none = deliveryFor(message('x', 1), options(1))
    addMatchingSubscription(none, options(1, 9))
    assert.deepEqual(none.subscriptionIds, [9])
  })

  it('[MQTT-3.3.1-12] [MQTT-3.3.1-13] RETAIN is kept if any matching subscription has Retain As Published', () => {
    const d = deliveryFor(message('x', 1, 't', true), options(1))
    assert.equal(d.retain, false)
    addMatchingSubscription(d, options(1, undefined, true))
    assert.equal(d.retain, true)
  })
})
