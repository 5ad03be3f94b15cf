import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { shardForTopic, shardsForFilter } from '../src/core/routing/shard-index.js'
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

  it('keeps a filter with a first-level wildcard in every shard, and others in the shard of their first level', () => {
    for (const filter of ['+/b', '#', '+']) assert.deepEqual(shardsForFilter(filter, SHARDS), [0, 1, 2, 3], filter)
    for (const filter of ['a/#', 'a/+/b', 'a']) assert.deepEqual(shardsForFilter(filter, SHARDS), [shardForTopic('a', SHARDS)], filter)
  })
})
