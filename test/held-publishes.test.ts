/** HeldPublishes: PUBLISH packets wait for the store position they need, and leave in order. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { HeldPublishes } from '../src/core/session/held-publishes.js'

const bytes = (text: string): Buffer => Buffer.from(text)
const texts = (chunks: Buffer[]): string[] => chunks.map(chunk => chunk.toString())

describe('HeldPublishes', () => {
  it('[MQTT-4.3.3-9] holds a PUBLISH until its position is committed, and what was written after it behind it [MQTT-4.6.0-6]', () => {
    const held = new HeldPublishes()
    assert.equal(held.holding, false)
    held.holdUntil(5)
    held.add(bytes('qos2-a'))
    held.add(bytes('qos0-b'))
    held.holdUntil(9)
    held.add(bytes('qos2-c'))
    assert.equal(held.bytes, 18)
    assert.deepEqual(texts(held.release(4)), [], 'nothing before its commit')
    assert.deepEqual(texts(held.release(7)), ['qos2-a', 'qos0-b'])
    assert.equal(held.holding, true)
    assert.equal(held.bytes, 6)
    assert.deepEqual(texts(held.release(9)), ['qos2-c'])
    assert.equal(held.holding, false)
    assert.equal(held.bytes, 0)
  })

  it('never lets a later segment leave before an earlier one: positions only grow', () => {
    const held = new HeldPublishes()
    held.holdUntil(8)
    held.add(bytes('first'))
    held.holdUntil(3)
    held.add(bytes('second'))
    assert.deepEqual(texts(held.release(3)), [])
    assert.deepEqual(texts(held.release(8)), ['first', 'second'])
  })

  it('merges holds made before anything was written behind them', () => {
    const held = new HeldPublishes()
    held.holdUntil(2)
    held.holdUntil(4)
    held.add(bytes('x'))
    assert.deepEqual(texts(held.release(2)), [])
    assert.deepEqual(texts(held.release(4)), ['x'])
  })
})
