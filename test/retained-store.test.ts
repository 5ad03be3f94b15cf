/**
 * The retained store on its own: matching by walking the topic tree (no recursion, so topics with
 * very many levels are safe), the count and byte bounds, and cursors that hand out the matches a
 * slice at a time.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RetainedStore, retainedSize, LEVEL_OVERHEAD_BYTES } from '../src/core/routing/retained-store.js'
import type { Message } from '../src/core/mqtt/message.js'

const NOW = 1_000_000
const ROOMY = { maxMessages: 1_000_000, maxBytes: 2 ** 40 }

function retained (topic: string, payload = 'x', expiresAt?: number): Message {
  const message: Message = { topic, payload: Buffer.from(payload), qos: 0, retain: true, publisher: 'p', origin: 'n' }
  if (expiresAt !== undefined) message.expiresAt = expiresAt
  return message
}

function topicsOf (messages: Message[]): string[] {
  return messages.map(m => m.topic)
}

describe('RetainedStore matching', () => {
  it('[MQTT-4.7.1-2] [MQTT-4.7.1-3] finds the topics a filter matches, in the order they were stored', () => {
    const store = new RetainedStore(ROOMY)
    for (const topic of ['a', 'a/b', 'a/b/c', 'a/x', 'b/b', '/a']) store.put(retained(topic), NOW)
    assert.deepEqual(topicsOf(store.match('a/#', NOW)), ['a', 'a/b', 'a/b/c', 'a/x'])
    assert.deepEqual(topicsOf(store.match('+/b', NOW)), ['a/b', 'b/b'])
    assert.deepEqual(topicsOf(store.match('#', NOW)), ['a', 'a/b', 'a/b/c', 'a/x', 'b/b', '/a'])
    assert.deepEqual(topicsOf(store.match('+/+/c', NOW)), ['a/b/c'])
    assert.deepEqual(topicsOf(store.match('+', NOW)), ['a'])
    assert.deepEqual(topicsOf(store.match('a/b', NOW)), ['a/b'])
    assert.deepEqual(topicsOf(store.match('c/#', NOW)), [])
  })

  it('[MQTT-4.7.2-1] first-level wildcards do not match topics starting with $', () => {
    const store = new RetainedStore(ROOMY)
    store.put(retained('$SYS/x'), NOW)
    store.put(retained('s/x'), NOW)
    assert.deepEqual(topicsOf(store.match('#', NOW)), ['s/x'])
    assert.deepEqual(topicsOf(store.match('+/x', NOW)), ['s/x'])
    assert.deepEqual(topicsOf(store.match('$SYS/#', NOW)), ['$SYS/x'])
  })

  it('[MQTT-3.3.2-5] an expired message is removed when a walk meets it, and frees its room', () => {
    const store = new RetainedStore({ maxMessages: 2, maxBytes: 2 ** 40 })
    store.put(retained('e/1', 'x', NOW + 10), NOW)
    store.put(retained('e/2'), NOW)
    assert.deepEqual(topicsOf(store.match('e/#', NOW + 10)), ['e/2'])
    assert.equal(store.size, 1)
    assert.equal(store.put(retained('e/3'), NOW + 10), 'stored')
  })

  it('a topic of 100,000 levels is stored, matched by # and by its own name, and cleared, without overflowing the stack', () => {
    const store = new RetainedStore(ROOMY)
    const deep = Array.from({ length: 100_000 }, (_, i) => `l${i % 10}`).join('/')
    assert.equal(store.put(retained(deep, 'deep'), NOW), 'stored')
    assert.deepEqual(topicsOf(store.match('#', NOW)), [deep])
    assert.deepEqual(topicsOf(store.match(deep, NOW)), [deep])
    assert.deepEqual(topicsOf(store.match('l0/#', NOW)), [deep])
    assert.equal(store.put(retained(deep, ''), NOW), 'cleared')
    assert.equal(store.size, 0)
    assert.deepEqual(store.match('#', NOW), [])
  })
})

describe('RetainedStore bounds', () => {
  it('at maxMessages a new topic is refused; replacing and clearing existing topics still work', () => {
    const store = new RetainedStore({ maxMessages: 2, maxBytes: 2 ** 40 })
    assert.equal(store.put(retained('t/1'), NOW), 'stored')
    assert.equal(store.put(retained('t/2'), NOW), 'stored')
    assert.equal(store.put(retained('t/3'), NOW), 'full')
    assert.equal(store.put(retained('t/2', 'newer'), NOW), 'replaced')
    assert.equal(store.get('t/2')?.payload.toString(), 'newer')
    assert.equal(store.get('t/3'), undefined)
    assert.equal(store.put(retained('t/1', ''), NOW), 'cleared')
    assert.equal(store.put(retained('t/3'), NOW), 'stored')
    assert.deepEqual(topicsOf(store.match('t/+', NOW)), ['t/2', 't/3'])
  })

  it('counts topic, payload, properties and the index per level against maxBytes', () => {
    const message = retained('a/b/c', 'payload')
    message.properties = { contentType: 'ct', userProperties: [['k', 'v']] }
    assert.equal(retainedSize(message), 5 + 7 + 2 + 2 + 3 * LEVEL_OVERHEAD_BYTES)
    const limit = 3 * retainedSize(retained('b/1', '0123456789'))
    const store = new RetainedStore({ maxMessages: 100, maxBytes: limit })
    for (const topic of ['b/1', 'b/2', 'b/3']) assert.equal(store.put(retained(topic, '0123456789'), NOW), 'stored')
    assert.equal(store.bytes, limit)
    assert.equal(store.put(retained('b/4', 'y'), NOW), 'full')
  })

  it('a replacement that does not fit maxBytes is refused and the older message removed, so no stale message stays', () => {
    const size = retainedSize(retained('c/1', '0123456789'))
    const store = new RetainedStore({ maxMessages: 100, maxBytes: 2 * size })
    store.put(retained('c/1', '0123456789'), NOW)
    store.put(retained('c/2', '0123456789'), NOW)
    assert.equal(store.put(retained('c/1', '0123456789-longer'), NOW), 'full')
    assert.equal(store.get('c/1'), undefined)
    assert.equal(store.size, 1)
    assert.equal(store.bytes, size)
  })

  it('at the bound, expired messages nobody matched are purged to make room', () => {
    const store = new RetainedStore({ maxMessages: 2, maxBytes: 2 ** 40 })
    store.put(retained('p/1', 'x', NOW + 5), NOW)
    store.put(retained('p/2', 'x', NOW + 5), NOW)
    assert.equal(store.put(retained('p/3'), NOW + 1), 'full')
    assert.equal(store.put(retained('p/3'), NOW + 5), 'full', 'at most one purge per second')
    assert.equal(store.put(retained('p/3'), NOW + 1001), 'stored')
    assert.equal(store.size, 1)
  })

  it('unbounded messages (the node\'s own $SYS topics) are stored at the bound and leave the bound to the others', () => {
    const store = new RetainedStore({ maxMessages: 1, maxBytes: 2 ** 40 })
    assert.equal(store.put(retained('$SYS/a'), NOW, false), 'stored')
    assert.equal(store.put(retained('u/1'), NOW), 'stored')
    assert.equal(store.put(retained('$SYS/b'), NOW, false), 'stored')
    assert.equal(store.put(retained('u/2'), NOW), 'full')
    assert.equal(store.size, 3)
  })
})

describe('RetainedCursor', () => {
  it('hands out the matches a slice at a time, all of them once', () => {
    const store = new RetainedStore(ROOMY)
    const topics = Array.from({ length: 25 }, (_, i) => `s/${i}`)
    for (const topic of topics) store.put(retained(topic), NOW)
    const cursor = store.cursor('s/#')
    const slices: number[] = []
    const seen: string[] = []
    while (!cursor.done) {
      const slice = cursor.next(NOW, 10)
      slices.push(slice.length)
      seen.push(...topicsOf(slice))
    }
    assert.deepEqual(slices, [10, 10, 5])
    assert.deepEqual(seen, topics)
  })

  it('between slices, a replaced message is seen in its new version and a cleared one is skipped', () => {
    const store = new RetainedStore(ROOMY)
    for (const topic of ['r/1', 'r/2', 'r/3']) store.put(retained(topic, 'old'), NOW)
    const cursor = store.cursor('r/#')
    assert.deepEqual(topicsOf(cursor.next(NOW, 1)), ['r/1'])
    store.put(retained('r/2', ''), NOW)
    store.put(retained('r/3', 'new'), NOW)
    const rest = cursor.next(NOW, 10)
    assert.deepEqual(rest.map(m => `${m.topic}=${m.payload.toString()}`), ['r/3=new'])
    assert.equal(cursor.done, true)
  })
})
