import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { SHARD_KEY_LEVELS, shardForTopic, shardsForFilter } from '../src/core/routing/shard-index.js'
import { topicMatches } from '../src/core/mqtt/topic.js'
import { prng } from './helpers/prng.js'

const SHARDS = 4

describe('shard index', () => {
  it('a publish consults one shard, and it holds every filter that matches the topic [MQTT-4.7.1-2, MQTT-4.7.1-3]', () => {
    const random = prng(7)
    const levels = ['a', 'b', 'c', '', '$SYS']
    const pick = (): string => levels[Math.floor(random() * levels.length)] as string
    const topics = Array.from({ length: 300 }, () => Array.from({ length: 1 + Math.floor(random() * 4) }, pick).join('/') || '/')
    const filters = Array.from({ length: 300 }, () => {
      const count = 1 + Math.floor(random() * 4)
      return Array.from({ length: count }, (_, i) => {
        const roll = random()
        return roll < 0.15 && i === count - 1 ? '#' : roll < 0.35 ? '+' : pick()
      }).join('/') || '/'
    })
    let matches = 0
    for (const filter of filters) {
      const held = shardsForFilter(filter, SHARDS)
      for (const topic of topics) {
        if (!topicMatches(filter, topic)) continue
        matches++
        assert.ok(held.includes(shardForTopic(topic, SHARDS)), `'${filter}' (shards ${held.join(',')}) must be in the shard of '${topic}'`)
      }
    }
    assert.ok(matches > 1000, `the sample exercised matches (${matches})`)
  })

  it(`spreads filters that share a first level by their first ${SHARD_KEY_LEVELS} levels`, () => {
    const used = new Set(Array.from({ length: 100 }, (_, c) => shardsForFilter(`devices/${c}/telemetry/#`, SHARDS)).flat())
    assert.equal(used.size, SHARDS)
    assert.deepEqual(shardsForFilter('devices/17/+', SHARDS), [shardForTopic('devices/17/x', SHARDS)])
  })

  it('keeps a filter with a wildcard in its key in every shard: a/#, a/+/b, +/b, #', () => {
    for (const filter of ['a/#', 'a/+/b', '+/b', '#', '+']) assert.deepEqual(shardsForFilter(filter, SHARDS), [0, 1, 2, 3], filter)
  })

  it('a topic shorter than the key uses all its levels: a/# and a both reach topic a', () => {
    assert.deepEqual(shardsForFilter('a', SHARDS), [shardForTopic('a', SHARDS)])
    assert.ok(shardsForFilter('a/#', SHARDS).includes(shardForTopic('a', SHARDS)))
  })
})
