import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  SHARED_STRATEGIES, createPickState, hashText, pickCandidate, type GroupCounter, type PickLevel, type PickState, type SharedStrategy
} from '../src/core/routing/shared-dispatch.js'
import { prng } from './helpers/prng.js'

interface Picker {
  pick: (candidates: readonly string[], localCount: number, message?: { topic: string, publisher: string }, level?: PickLevel) => string
  state: PickState<string>
  counter: GroupCounter
}

function picker (strategy: SharedStrategy, seed = 1): Picker {
  const state = createPickState<string>()
  const counter = { next: 0 }
  const random = prng(seed)
  return {
    state,
    counter,
    pick: (candidates, localCount, message = { topic: 't', publisher: 'p' }, level = 'publisher') =>
      pickCandidate(strategy, candidates, localCount, state, counter, message, level, random)
  }
}

function counts (picks: string[]): Map<string, number> {
  const result = new Map<string, number>()
  for (const p of picks) result.set(p, (result.get(p) ?? 0) + 1)
  return result
}

const CANDIDATES = ['m1', 'm2', 'nodeB', 'nodeC']

describe('shared subscription strategies (MQTT 5 §4.8.2)', () => {
  it('every strategy picks one of the candidates, also for a single candidate', () => {
    for (const strategy of SHARED_STRATEGIES) {
      const { pick } = picker(strategy)
      for (let i = 0; i < 50; i++) {
        assert.ok(CANDIDATES.includes(pick(CANDIDATES, 2, { topic: `t/${i}`, publisher: `c${i}` })), strategy)
        assert.equal(pick(['only'], 0), 'only', strategy)
      }
    }
  })

  it('round_robin cycles through the candidates in order', () => {
    const { pick } = picker('round_robin')
    assert.deepEqual(Array.from({ length: 8 }, () => pick(CANDIDATES, 2)), [...CANDIDATES, ...CANDIDATES])
  })

  it('round_robin keeps cycling when a candidate leaves', () => {
    const { pick } = picker('round_robin')
    assert.equal(pick(CANDIDATES, 2), 'm1')
    assert.equal(pick(CANDIDATES, 2), 'm2')
    assert.equal(pick(['m1', 'nodeB'], 1), 'm1')
    assert.equal(pick(['m1', 'nodeB'], 1), 'nodeB')
  })

  it('round_robin_per_group shares one counter between the filters of a group', () => {
    const counter = { next: 0 }
    const random = prng(2)
    const a = createPickState<string>()
    const b = createPickState<string>()
    const message = { topic: 't', publisher: 'p' }
    const picks = [a, b, a, b].map(state => pickCandidate('round_robin_per_group', ['x', 'y', 'z'], 3, state, counter, message, 'publisher', random))
    assert.deepEqual(picks, ['x', 'y', 'z', 'x'])
  })

  it('random spreads over every candidate', () => {
    const { pick } = picker('random', 7)
    const spread = counts(Array.from({ length: 400 }, () => pick(CANDIDATES, 2)))
    for (const candidate of CANDIDATES) assert.ok((spread.get(candidate) ?? 0) > 50, `${candidate}: ${spread.get(candidate)}`)
  })

  it('sticky keeps its pick while it is a candidate, then picks another and sticks to that', () => {
    const { pick } = picker('sticky', 3)
    const first = pick(CANDIDATES, 2)
    for (let i = 0; i < 20; i++) assert.equal(pick(CANDIDATES, 2), first)
    // Still picked when the candidates move around it.
    assert.equal(pick(['extra', ...CANDIDATES], 3), first)
    const rest = CANDIDATES.filter(c => c !== first)
    const second = pick(rest, 1)
    assert.notEqual(second, first)
    for (let i = 0; i < 20; i++) assert.equal(pick(rest, 1), second)
  })

  it('hash_clientid: one publisher always gets the same candidate, publishers spread', () => {
    const { pick } = picker('hash_clientid')
    const byPublisher = new Map<string, string>()
    for (let round = 0; round < 3; round++) {
      for (let c = 0; c < 100; c++) {
        const got = pick(CANDIDATES, 2, { topic: `t/${round}`, publisher: `client-${c}` })
        const before = byPublisher.get(`client-${c}`)
        if (before !== undefined) assert.equal(got, before)
        byPublisher.set(`client-${c}`, got)
      }
    }
    assert.equal(new Set(byPublisher.values()).size, CANDIDATES.length)
  })

  it('hash_topic: one topic always gets the same candidate, topics spread', () => {
    const { pick } = picker('hash_topic')
    const byTopic = new Map<string, string>()
    for (let round = 0; round < 3; round++) {
      for (let t = 0; t < 100; t++) {
        const got = pick(CANDIDATES, 2, { topic: `sensor/${t}`, publisher: `p${round}` })
        const before = byTopic.get(`sensor/${t}`)
        if (before !== undefined) assert.equal(got, before)
        byTopic.set(`sensor/${t}`, got)
      }
    }
    assert.equal(new Set(byTopic.values()).size, CANDIDATES.length)
  })

  it('hashing strategies use another hash at the member level, so a node picked for some hashes spreads them over its members', () => {
    // Two nodes of two members each: the topics a node gets at the publisher level must reach both its members.
    const publisher = picker('hash_topic')
    const member = picker('hash_topic')
    const members = new Set<string>()
    for (let t = 0; t < 200; t++) {
      const message = { topic: `s/${t}`, publisher: 'p' }
      if (publisher.pick(['nodeA', 'nodeB'], 0, message) === 'nodeB') members.add(member.pick(['b1', 'b2'], 2, message, 'member'))
    }
    assert.deepEqual([...members].sort(), ['b1', 'b2'])
    assert.notEqual(hashText('x', 1), hashText('x', 2))
  })

  it('local prefers local members, and picks among other nodes only without one', () => {
    const { pick } = picker('local', 5)
    const local = counts(Array.from({ length: 200 }, () => pick(CANDIDATES, 2)))
    assert.deepEqual([...local.keys()].sort(), ['m1', 'm2'])
    const remote = counts(Array.from({ length: 200 }, () => pick(['nodeB', 'nodeC'], 0)))
    assert.deepEqual([...remote.keys()].sort(), ['nodeB', 'nodeC'])
  })
})
