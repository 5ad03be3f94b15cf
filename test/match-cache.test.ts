import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MatchCache } from '../src/core/routing/match-cache.js'
import { prng } from './helpers/prng.js'

function put (cache: MatchCache<number>, topic: string, result: number[]): void {
  cache.set(cache.slotOf(topic), topic, result)
}
function get (cache: MatchCache<number>, topic: string): readonly number[] | undefined {
  return cache.get(cache.slotOf(topic), topic)
}

describe('MatchCache', () => {
  it('holds at most maxTopics topics (a power of two) and answers only for the topic stored', () => {
    const cache = new MatchCache<number>({ maxTopics: 100, maxBytes: 1 << 20 })
    for (let i = 0; i < 1000; i++) put(cache, `t/${i}`, [i])
    assert.ok(cache.size <= 64, `size ${cache.size}`)
    let hits = 0
    for (let i = 0; i < 1000; i++) {
      const result = get(cache, `t/${i}`)
      if (result !== undefined) {
        hits++
        assert.deepEqual(result, [i])
      }
    }
    assert.equal(hits, cache.size)
  })

  it('holds at most maxBytes: an entry that would pass the bound is not stored', () => {
    const cache = new MatchCache<number>({ maxTopics: 1024, maxBytes: 1000 })
    for (let i = 0; i < 1000; i++) put(cache, `topic/number/${i}`, [1, 2, 3])
    assert.ok(cache.bytes <= 1000, `bytes ${cache.bytes}`)
    assert.ok(cache.size > 0)
    put(cache, 'x'.repeat(600), [1])
    assert.equal(get(cache, 'x'.repeat(600)), undefined)
  })

  it('maxTopics 0 disables it', () => {
    const cache = new MatchCache<number>({ maxTopics: 0, maxBytes: 1 << 20 })
    put(cache, 'a', [1])
    assert.equal(get(cache, 'a'), undefined)
    assert.equal(cache.size, 0)
  })

  it('deleteWhere drops exactly the stale topics and keeps its counts right', () => {
    const random = prng(3)
    const cache = new MatchCache<number>({ maxTopics: 256, maxBytes: 1 << 20 })
    const stored = new Map<string, number[]>()
    for (let i = 0; i < 2000; i++) {
      const topic = `s/${Math.floor(random() * 400)}`
      const slot = cache.slotOf(topic)
      for (const [other] of stored) if (cache.slotOf(other) === slot) stored.delete(other)
      put(cache, topic, [i])
      stored.set(topic, [i])
      if (i % 97 === 0) {
        const stale = (t: string): boolean => t.endsWith('7')
        cache.deleteWhere(stale)
        for (const t of [...stored.keys()]) if (stale(t)) stored.delete(t)
      }
      if (i % 13 === 0) {
        const gone = `s/${Math.floor(random() * 400)}`
        cache.delete(gone)
        stored.delete(gone)
      }
    }
    assert.equal(cache.size, stored.size)
    for (const [topic, result] of stored) assert.deepEqual(get(cache, topic), result)
    cache.clear()
    assert.equal(cache.size, 0)
    assert.equal(cache.bytes, 0)
  })
})
