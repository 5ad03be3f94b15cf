import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { InvalidTopicFilterError, TopicTrie } from '../src/core/routing/trie.js'
import { topicMatches } from '../src/core/mqtt/topic.js'
import { prng } from './helpers/prng.js'

function sorted<T> (values: readonly T[]): T[] {
  return [...values].sort()
}

describe('TopicTrie matching', () => {
  const filters = [
    'sport/tennis/player1',
    'sport/tennis/+',
    'sport/#',
    '#',
    '+',
    '+/+',
    '/+',
    '+/tennis/#',
    'a//b',
    'a/+/b',
    'a/#',
    '$SYS/#',
    '$SYS/+',
    '+/broker',
    'a/$b'
  ]
  const trie = new TopicTrie<string>()
  for (const filter of filters) trie.set(filter, filter)

  const cases: Array<[string, string, string[]]> = [
    ['literal, + and # levels [MQTT-4.7.1-2, MQTT-4.7.1-3]', 'sport/tennis/player1',
      ['sport/tennis/player1', 'sport/tennis/+', 'sport/#', '#', '+/tennis/#']],
    ['# matches its parent level [MQTT-4.7.1-2]', 'sport', ['sport/#', '#', '+']],
    ['+ matches an empty level [MQTT-4.7.1-3]', 'sport/', ['sport/#', '#', '+/+']],
    ['leading slash is an empty first level [MQTT-4.7.1-3]', '/finance', ['#', '+/+', '/+']],
    ['empty middle level [MQTT-4.7.1-3]', 'a//b', ['#', 'a//b', 'a/+/b', 'a/#']],
    ['# matches parent a [MQTT-4.7.1-2]', 'a', ['#', '+', 'a/#']],
    ['$SYS not matched by first-level # or + [MQTT-4.7.2-1]', '$SYS/broker', ['$SYS/#', '$SYS/+']],
    ['$SYS itself matched only by $SYS/# [MQTT-4.7.2-1]', '$SYS', ['$SYS/#']],
    ['$ beyond the first level is an ordinary character [MQTT-4.7.2-1]', 'a/$b', ['#', '+/+', 'a/#', 'a/$b']],
    ['+/broker matches a non-$ topic', 'x/broker', ['#', '+/+', '+/broker']],
    ['no match but #', 'x/y/z', ['#']]
  ]
  for (const [name, topic, expected] of cases) {
    it(`${name}: '${topic}'`, () => {
      assert.deepEqual(sorted(trie.match(topic)), sorted(expected))
      assert.deepEqual(sorted(trie.match(topic)), sorted(expected), 'same answer from the cache')
    })
  }

  it('returns an empty result for a topic nothing matches', () => {
    const only = new TopicTrie<number>()
    only.set('a/b', 1)
    assert.deepEqual(only.match('a/c'), [])
    assert.deepEqual(only.match('$SYS/x'), [])
  })

  it('matches topics with more levels than the call stack could recurse through', () => {
    const deep = new TopicTrie<string>()
    const levels = 30000
    const filter = Array.from({ length: levels }, () => '+').join('/')
    deep.set(filter, 'deep')
    deep.set('#', 'all')
    assert.deepEqual(sorted(deep.match('/'.repeat(levels - 1))), ['all', 'deep'])
    assert.deepEqual(deep.match('/'.repeat(levels)), ['all'])
    assert.equal(deep.delete(filter), true)
    assert.deepEqual(deep.match('/'.repeat(levels - 1)), ['all'])
  })
})

describe('TopicTrie map operations', () => {
  it('get/set/has/delete/size/entries behave like a Map keyed by filter', () => {
    const trie = new TopicTrie<number>()
    assert.equal(trie.size, 0)
    trie.set('a/+', 1)
    trie.set('a/#', 2)
    trie.set('a/b', 3)
    assert.equal(trie.size, 3)
    assert.equal(trie.get('a/+'), 1)
    assert.equal(trie.has('a/#'), true)
    assert.equal(trie.has('a'), false, 'a prefix of a stored filter is not a filter')
    assert.equal(trie.get('a'), undefined)
    trie.set('a/+', 10)
    assert.equal(trie.size, 3, 'replacing a value keeps the count')
    assert.equal(trie.get('a/+'), 10)
    assert.deepEqual(sorted([...trie.entries()].map(([filter, value]) => `${filter}=${value}`)), ['a/#=2', 'a/+=10', 'a/b=3'])
    assert.equal(trie.delete('a/+'), true)
    assert.equal(trie.delete('a/+'), false, 'deleting twice reports absence')
    assert.equal(trie.delete('nothing/here'), false)
    assert.equal(trie.size, 2)
    assert.deepEqual(sorted(trie.match('a/b')), [2, 3])
    assert.deepEqual(trie.stats, { matches: 1, cacheHits: 0, inserts: 3, removes: 1 })
  })

  it('keeps values that are undefined distinct from absent filters', () => {
    const trie = new TopicTrie<undefined>()
    trie.set('a', undefined)
    assert.equal(trie.has('a'), true)
    assert.deepEqual(trie.match('a'), [undefined])
  })

  it('deleting a filter keeps the filters that share its prefix or extend it', () => {
    const trie = new TopicTrie<string>()
    trie.set('a', 'a')
    trie.set('a/b', 'a/b')
    trie.set('a/b/c', 'a/b/c')
    trie.delete('a/b')
    assert.deepEqual(trie.match('a'), ['a'])
    assert.deepEqual(trie.match('a/b'), [])
    assert.deepEqual(trie.match('a/b/c'), ['a/b/c'])
    trie.delete('a/b/c')
    trie.delete('a')
    assert.equal(trie.size, 0)
    trie.set('a/b/c', 'again')
    assert.deepEqual(trie.match('a/b/c'), ['again'])
  })

  const invalid: Array<[string, string]> = [
    ['empty filter [MQTT-4.7.3-1]', ''],
    ['# not last [MQTT-4.7.1-2]', 'a/#/b'],
    ['+ glued to text [MQTT-4.7.1-3]', 'a/b+'],
    ['U+0000 [MQTT-4.7.3-2]', 'a\u0000']
  ]
  for (const [name, filter] of invalid) {
    it(`set rejects an invalid filter: ${name}`, () => {
      const trie = new TopicTrie<number>()
      assert.throws(() => { trie.set(filter, 1) }, { name: 'InvalidTopicFilterError' })
      assert.throws(() => { trie.set(filter, 1) }, InvalidTopicFilterError)
      assert.equal(trie.size, 0)
    })
  }
})

describe('TopicTrie match cache', () => {
  it('answers a repeated topic from the cache with the same array', () => {
    const trie = new TopicTrie<number>()
    trie.set('a/+', 1)
    const first = trie.match('a/b')
    const second = trie.match('a/b')
    assert.equal(second, first)
    assert.deepEqual(trie.stats, { matches: 2, cacheHits: 1, inserts: 1, removes: 0 })
  })

  const mutations: Array<[string, (trie: TopicTrie<string>) => void, string[]]> = [
    ['insert of a wildcard filter', trie => { trie.set('a/#', 'new') }, ['a/+', 'a/b', 'new']],
    ['insert of the literal filter equal to the topic', trie => { trie.set('a/b/', 'x') }, ['a/+', 'a/b']],
    ['insert of a literal filter', trie => { trie.set('a/b', 'replaced') }, ['a/+', 'replaced']],
    ['value replacement of a wildcard filter', trie => { trie.set('a/+', 'replaced') }, ['a/b', 'replaced']],
    ['delete of a wildcard filter', trie => { trie.delete('a/+') }, ['a/b']],
    ['delete of a literal filter', trie => { trie.delete('a/b') }, ['a/+']]
  ]
  for (const [name, mutate, expected] of mutations) {
    it(`is invalidated by ${name}`, () => {
      const trie = new TopicTrie<string>()
      trie.set('a/+', 'a/+')
      trie.set('a/b', 'a/b')
      assert.deepEqual(sorted(trie.match('a/b')), ['a/+', 'a/b'])
      mutate(trie)
      assert.deepEqual(sorted(trie.match('a/b')), expected)
    })
  }

  it('a literal insert for another topic leaves cached results valid', () => {
    const trie = new TopicTrie<string>()
    trie.set('a/+', 'a/+')
    trie.match('a/b')
    trie.set('x/y', 'x/y')
    trie.match('a/b')
    assert.equal(trie.stats.cacheHits, 1)
  })

  /** Matches each topic once and returns how many of those calls the cache answered. */
  function hitsFor (trie: TopicTrie<string>, topics: string[]): number {
    const before = trie.stats.cacheHits
    for (const topic of topics) trie.match(topic)
    return trie.stats.cacheHits - before
  }

  it('a wildcard insert drops only the cached topics it matches [MQTT-4.7.1-2]', () => {
    const trie = new TopicTrie<string>()
    trie.set('a/+', 'a/+')
    trie.set('x/#', 'x/#')
    const topics = ['a/b', 'a/b/c', 'x/y', 'q']
    hitsFor(trie, topics)
    trie.set('a/#', 'a/#')
    assert.equal(hitsFor(trie, ['a/b/c', 'x/y', 'q']), 2, "'x/y' and 'q' stay cached")
    assert.equal(hitsFor(trie, ['a/b']), 0, "'a/b' is recomputed")
    assert.deepEqual(sorted(trie.match('a/b')), ['a/#', 'a/+'])
    assert.deepEqual(sorted(trie.match('a/b/c')), ['a/#'])
    assert.deepEqual(trie.match('x/y'), ['x/#'])
    assert.deepEqual(trie.match('q'), [])
  })

  it('a wildcard delete drops only the cached topics it matched', () => {
    const trie = new TopicTrie<string>()
    trie.set('a/+', 'a/+')
    trie.set('x/+', 'x/+')
    hitsFor(trie, ['a/b', 'x/y'])
    trie.delete('a/+')
    assert.equal(hitsFor(trie, ['x/y']), 1, "'x/y' stays cached")
    assert.equal(hitsFor(trie, ['a/b']), 0, "'a/b' is recomputed")
    assert.deepEqual(trie.match('a/b'), [])
    assert.deepEqual(trie.match('x/y'), ['x/+'])
  })

  it('a new value for a wildcard filter drops only the cached topics it matches', () => {
    const trie = new TopicTrie<string>()
    trie.set('a/+', 'old')
    trie.set('b/+', 'b/+')
    hitsFor(trie, ['a/1', 'a/2', 'b/1'])
    trie.set('a/+', 'new')
    assert.equal(hitsFor(trie, ['b/1']), 1)
    assert.deepEqual(trie.match('a/1'), ['new'])
    assert.deepEqual(trie.match('a/2'), ['new'])
  })

  it("a first-level wildcard change keeps cached '$' topics [MQTT-4.7.2-1]", () => {
    const trie = new TopicTrie<string>()
    trie.set('$SYS/#', '$SYS/#')
    hitsFor(trie, ['$SYS/uptime', 'plain'])
    trie.set('#', '#')
    trie.set('+/uptime', '+/uptime')
    assert.equal(hitsFor(trie, ['$SYS/uptime']), 1, 'a first-level wildcard does not match a $ topic')
    assert.equal(hitsFor(trie, ['plain']), 0)
    assert.deepEqual(trie.match('$SYS/uptime'), ['$SYS/#'])
    assert.deepEqual(trie.match('plain'), ['#'])
  })

  it('a bulk of a few wildcard changes still drops only the cached topics they match', () => {
    const trie = new TopicTrie<string>()
    trie.set('a/+', 'a/+')
    hitsFor(trie, ['a/b', 'x/y'])
    trie.bulk(() => {
      for (let i = 0; i < 10; i++) trie.set(`a/${i}/#`, `a/${i}/#`)
      trie.set('a/#', 'a/#')
    })
    assert.equal(hitsFor(trie, ['x/y']), 1)
    assert.deepEqual(sorted(trie.match('a/b')), ['a/#', 'a/+'])
  })

  it('a bulk of many wildcard changes drops the cache once, and matches stay right', () => {
    const trie = new TopicTrie<string>()
    trie.set('a/+', 'a/+')
    hitsFor(trie, ['a/b', 'x/y'])
    trie.bulk(() => {
      for (let i = 0; i < 1000; i++) trie.set(`s/${i}/+`, `s/${i}/+`)
    })
    assert.equal(hitsFor(trie, ['x/y', 'a/b']), 0, 'the cache was dropped')
    assert.deepEqual(trie.match('a/b'), ['a/+'])
    assert.deepEqual(trie.match('s/7/t'), ['s/7/+'])
    trie.set('x/#', 'x/#')
    assert.equal(hitsFor(trie, ['a/b']), 1, 'after the bulk, changes are selective again')
  })

  it('is bounded: the oldest topic is evicted when full', () => {
    const trie = new TopicTrie<number>({ cache: { maxTopics: 2, maxBytes: 1 << 20 } })
    trie.set('#', 1)
    trie.match('t1')
    trie.match('t2')
    trie.match('t3')
    trie.match('t3')
    assert.equal(trie.stats.cacheHits, 1, 't3 is cached')
    trie.match('t1')
    assert.equal(trie.stats.cacheHits, 1, 't1 was evicted')
  })

  it('a cache of 0 topics disables caching', () => {
    const trie = new TopicTrie<number>({ cache: { maxTopics: 0, maxBytes: 1 << 20 } })
    trie.set('#', 1)
    trie.match('t')
    assert.deepEqual(trie.match('t'), [1])
    assert.equal(trie.stats.cacheHits, 0)
  })
})

describe('TopicTrie against brute-force topicMatches', () => {
  const literalLevels = ['a', 'b', '', '$SYS', '$x']
  const seeds = [1, 2, 3]
  for (const seed of seeds) {
    it(`agrees on random filters, topics, inserts and deletes (seed ${seed}) [MQTT-4.7.1-2, MQTT-4.7.1-3, MQTT-4.7.2-1]`, () => {
      const random = prng(seed)
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T
      // An empty string is neither a topic nor a filter [MQTT-4.7.3-1]: a lone empty level becomes '/'.
      const nonEmpty = (text: string): string => text === '' ? '/' : text
      const randomTopic = (): string => nonEmpty(Array.from({ length: 1 + Math.floor(random() * 4) }, () => pick(literalLevels)).join('/'))
      const randomFilter = (): string => {
        const count = 1 + Math.floor(random() * 4)
        const levels: string[] = []
        for (let i = 0; i < count; i++) {
          const roll = random()
          if (roll < 0.15 && i === count - 1) levels.push('#')
          else if (roll < 0.4) levels.push('+')
          else levels.push(pick(literalLevels))
        }
        return nonEmpty(levels.join('/'))
      }

      const trie = new TopicTrie<string>({ cache: { maxTopics: 64, maxBytes: 1 << 20 } })
      const reference = new Map<string, string>()
      let version = 0
      for (let step = 0; step < 4000; step++) {
        const roll = random()
        if (roll < 0.2) {
          const filter = randomFilter()
          const value = `${filter}@${version++}`
          trie.set(filter, value)
          reference.set(filter, value)
        } else if (roll < 0.3) {
          const filter = reference.size > 0 && random() < 0.8 ? pick([...reference.keys()]) : randomFilter()
          assert.equal(trie.delete(filter), reference.delete(filter), `delete '${filter}' at step ${step}`)
        } else {
          const topic = randomTopic()
          const expected = [...reference].filter(([filter]) => topicMatches(filter, topic)).map(([, value]) => value)
          assert.deepEqual(sorted(trie.match(topic)), sorted(expected), `topic '${topic}' at step ${step}`)
        }
        assert.equal(trie.size, reference.size)
      }
      assert.ok(trie.stats.cacheHits > 0, 'the cache was exercised')
      assert.deepEqual(new Map(trie.entries()), reference)
    })
  }
})
