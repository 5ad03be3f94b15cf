import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createSessionState, type Delivery } from '../src/core/session/session-state.js'
import { DeliveryBudget } from '../src/core/session/delivery-budget.js'
import { deliveryBytes, enqueue } from '../src/core/session/queue.js'
import { redeliveriesByShard, takeUnackedShared } from '../src/core/session/shared-redelivery.js'
import { shardForTopic } from '../src/core/routing/shard-index.js'

const LIMITS = { maxQueuedMessages: 100, maxQueuedBytes: 1 << 20, queueDropPolicy: 'drop_oldest' as const }
const out = { dropped: () => { assert.fail('nothing is dropped') }, settled: () => { assert.fail('nothing is settled') } }

function delivery (payload: string, group?: string, topic = 't/1'): Delivery {
  const d: Delivery = { message: { topic, payload: Buffer.from(payload), qos: 1, retain: false, publisher: 'p', origin: 'n1' }, qos: 1, retain: false }
  if (group !== undefined) d.shared = { group, filter: 't/+' }
  return d
}

describe('redelivery of a departed shared member\'s messages (MQTT 5 §4.8.2)', () => {
  it('takes the shared deliveries in flight before PUBACK / PUBREC and those queued, oldest first; a PUBREC\'d QoS 2 and plain deliveries stay', () => {
    const state = createSessionState('c', 0)
    const budget = new DeliveryBudget({ limitBytes: 1 << 30 })
    state.inflight = new Map([
      [1, { packetId: 1, delivery: delivery('in-shared', 'g'), phase: 'publish' }],
      [2, { packetId: 2, delivery: delivery('in-plain'), phase: 'publish' }],
      [3, { packetId: 3, delivery: delivery('in-pubrel', 'g'), phase: 'pubrel' }]
    ])
    for (const d of [delivery('q-shared', 'g'), delivery('q-plain'), delivery('q-shared-2', 'h')]) enqueue(state, d, LIMITS, budget, out)
    const heldBefore = budget.heldBytes
    const taken = takeUnackedShared(state, budget)
    assert.deepEqual(taken.map(d => d.message.payload.toString()), ['in-shared', 'q-shared', 'q-shared-2'])
    assert.deepEqual([...state.inflight.keys()], [2, 3])
    assert.deepEqual(state.queue.map(d => d.message.payload.toString()), ['q-plain'])
    assert.equal(state.queuedBytes, deliveryBytes(delivery('q-plain')))
    assert.equal(heldBefore - budget.heldBytes, deliveryBytes(delivery('q-shared', 'g')) + deliveryBytes(delivery('q-shared-2', 'h')))
  })

  it('groups what it takes by the shard of each topic, with the shared subscription it came by', () => {
    const state = createSessionState('c', 0)
    const budget = new DeliveryBudget({ limitBytes: 1 << 30 })
    const topics = ['a/1', 'b/1', 'c/1', 'a/2']
    for (const [i, topic] of topics.entries()) enqueue(state, delivery(String(i), 'g', topic), LIMITS, budget, out)
    const perShard = redeliveriesByShard(takeUnackedShared(state, budget), 4)
    const flattened = [...perShard].flatMap(([shard, items]) => items.map(item => {
      assert.equal(shard, shardForTopic(item.message.topic, 4))
      assert.deepEqual(item.target, { group: 'g', filter: 't/+' })
      return item.message.topic
    }))
    assert.deepEqual(flattened.sort(), [...topics].sort())
    assert.equal(state.queue.length, 0)
  })
})
