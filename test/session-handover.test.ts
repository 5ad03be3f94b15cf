/**
 * The pure parts of a session takeover across nodes: the session snapshot codec, the duplicate
 * suppression of the handover window and the client id conflict rule.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  decodeDeliveries, decodeSessionSnapshot, encodeDeliveries, encodeSessionSnapshot, snapshotOf, stateOf, type SessionSnapshot
} from '../src/core/session/session-snapshot.js'
import { createSessionState, type Delivery } from '../src/core/session/session-state.js'
import { deliveryBytes } from '../src/core/session/queue.js'
import { HandoverDedupe } from '../src/core/session/handover-dedupe.js'
import { losesConflict } from '../actors/client-registry.js'

function delivery (payload: string, extra: Partial<Delivery['message']> = {}): Delivery {
  return { message: { topic: 't/1', payload: Buffer.from(payload), qos: 1, retain: false, publisher: 'p', origin: 'n1@h', ...extra }, qos: 1, retain: false }
}

describe('session snapshot', () => {
  it('round-trips subscriptions, in-flight both phases, the queue, awaiting PUBREL, every message field and the shared subscription a delivery was picked for', () => {
    const state = createSessionState('c1', 1234)
    state.subscriptions = new Map([
      ['a/+', { qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 2, subscriptionId: 7 }],
      ['$share/g/b/#', { qos: 2, noLocal: false, retainAsPublished: true, retainHandling: 0 }]
    ])
    const full = delivery('full', {
      expiresAt: 99_000,
      properties: { payloadFormatIndicator: true, contentType: 'text/plain', responseTopic: 'r', correlationData: Buffer.from([0, 255]), userProperties: [['k', 'v'], ['k', 'w']] }
    })
    state.inflight = new Map([[3, { packetId: 3, delivery: full, phase: 'publish' }], [4, { packetId: 4, delivery: delivery('rel'), phase: 'pubrel' }],
      [5, { packetId: 5, delivery: { ...delivery('shared'), shared: { group: 'g', filter: 'b/#' } }, phase: 'publish' }]])
    state.queue = [delivery('q1'), { ...delivery(''), subscriptionIds: [1, 2] }, { ...delivery('member'), shared: { group: 'g', filter: 'b/#' } }]
    state.awaitingRel = new Set([9, 10])
    state.nextPacketId = 11
    const snapshot = decodeSessionSnapshot(encodeSessionSnapshot(snapshotOf(state)))
    assert.deepStrictEqual(snapshot, snapshotOf(state))
    const restored = stateOf(snapshot)
    assert.deepStrictEqual(restored.inflight, state.inflight)
    assert.deepStrictEqual(restored.awaitingRel, state.awaitingRel)
    assert.equal(restored.queuedBytes, state.queue.reduce((sum, d) => sum + deliveryBytes(d), 0))
    assert.equal(restored.subscriptions, undefined, 'the caller subscribes them')
    assert.equal(restored.nextPacketId, 11)
  })

  it('refuses a snapshot of the wrong shape rather than importing it', () => {
    const good: SessionSnapshot = snapshotOf(createSessionState('c1', 1))
    const bad = (patch: Record<string, unknown>): Uint8Array => Buffer.from(JSON.stringify({ ...good, ...patch }))
    for (const bytes of [Buffer.from('{'), bad({ clientId: 5 }), bad({ nextPacketId: 0 }), bad({ awaitingRel: [70000] }),
      bad({ queue: [{ message: { topic: 't' }, qos: 1, retain: false }] }), bad({ subscriptions: [['a', { qos: 3 }]] }),
      bad({ queue: [{ ...delivery('s'), message: { ...delivery('s').message, payload: { $b64: '' } }, shared: { group: 1, filter: 't' } }] })]) {
      assert.throws(() => decodeSessionSnapshot(bytes), { name: 'InvalidSessionSnapshotError' })
    }
  })

  it('forwarded deliveries round-trip, a shared member\'s with its shared subscription (for redelivery on the new node)', () => {
    const deliveries = [delivery('x'), delivery('y', { retain: true }), { ...delivery('z'), shared: { group: 'g', filter: 't/+' } }]
    assert.deepStrictEqual(decodeDeliveries(encodeDeliveries('c1', deliveries)), { clientId: 'c1', deliveries })
  })
})

describe('handover dedupe', () => {
  it('drops a copy that arrived from the other source, in either order, and counts it', () => {
    const dedupe = new HandoverDedupe(100)
    assert.equal(dedupe.filter('direct', [delivery('1'), delivery('2')]).length, 2)
    assert.deepEqual(dedupe.filter('forwarded', [delivery('2'), delivery('3')]).map(d => d.message.payload.toString()), ['3'])
    assert.deepEqual(dedupe.filter('direct', [delivery('3'), delivery('4')]).map(d => d.message.payload.toString()), ['4'])
    assert.equal(dedupe.suppressed, 2)
  })

  it('keeps two genuinely identical messages apart: each finds its own counterpart', () => {
    const dedupe = new HandoverDedupe(100)
    assert.equal(dedupe.filter('direct', [delivery('same'), delivery('same')]).length, 2)
    assert.equal(dedupe.filter('forwarded', [delivery('same')]).length, 0)
    assert.equal(dedupe.filter('forwarded', [delivery('same'), delivery('same')]).length, 1)
  })

  it('tells messages apart by origin, publisher and topic, and past its bound lets copies through', () => {
    const dedupe = new HandoverDedupe(2)
    dedupe.filter('direct', [delivery('a')])
    assert.equal(dedupe.filter('forwarded', [delivery('a', { origin: 'n2@h' }), delivery('a', { publisher: 'q' })]).length, 2)
    assert.equal(dedupe.filter('forwarded', [delivery('b'), delivery('b')]).length, 2, 'the bound is reached: nothing is held back')
  })
})

describe('client id conflicts', () => {
  it('resolves a client id held on two nodes the same way on both: the later connect wins, then the greater name', () => {
    assert.equal(losesConflict(10, 'n1@h', 20, 'n2@h'), true)
    assert.equal(losesConflict(20, 'n2@h', 10, 'n1@h'), false)
    assert.equal(losesConflict(10, 'n1@h', 10, 'n2@h'), true)
    assert.equal(losesConflict(10, 'n2@h', 10, 'n1@h'), false)
  })
})
