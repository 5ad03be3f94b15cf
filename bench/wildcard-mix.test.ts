/**
 * The mixed wildcard workload's data (issue 12): the filter and topic set as specified, each topic
 * matched by exactly one filter, that of its owner; and the generator's precomputed packets,
 * schedules and delivery check. Pure, no sockets.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt-packet'
import { buildWildcardMix, MIX_EXACT_PER_CLIENT, MIX_HASH_PER_CLIENT, MIX_LAST_PLUS_PER_CLIENT, MIX_SECOND_PLUS_PER_CLIENT, seededRandom } from './wildcard-mix.js'
import { prepareTopicSet, scheduledTopic, SCHEDULE_LENGTH, topicSchedule, TopicSetPackets } from './topic-set.js'
import { KIND_DATA, KIND_PROBE, PAYLOAD_KIND_OFFSET, PAYLOAD_PUBLISHER_OFFSET, PAYLOAD_SEQ_OFFSET, PAYLOAD_TIME_OFFSET } from './payload.js'

/** MQTT filter matching [MQTT-4.7.1-2, MQTT-4.7.1-3]: `+` one level, `#` the parent and any levels below. */
function matches (filter: string, topic: string): boolean {
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false
  }
  return f.length === t.length
}

/** Filter ids per level, so 26.5k topics are matched against 10k filters in milliseconds. */
interface TrieNode { children: Map<string, TrieNode>, here: number[], hash: number[] }
const trieNode = (): TrieNode => ({ children: new Map(), here: [], hash: [] })

function buildTrie (filters: readonly string[]): TrieNode {
  const root = trieNode()
  filters.forEach((filter, id) => {
    let node = root
    for (const level of filter.split('/')) {
      if (level === '#') { node.hash.push(id); return }
      let next = node.children.get(level)
      if (next === undefined) { next = trieNode(); node.children.set(level, next) }
      node = next
    }
    node.here.push(id)
  })
  return root
}

function matchTrie (node: TrieNode, levels: readonly string[], at: number, out: number[]): void {
  out.push(...node.hash)
  if (at === levels.length) { out.push(...node.here); return }
  for (const key of [levels[at]!, '+']) {
    const next = node.children.get(key)
    if (next !== undefined) matchTrie(next, levels, at + 1, out)
  }
}

const mix = buildWildcardMix(100)
const allFilters = mix.filters.flat()
const ownerOfFilter = mix.filters.flatMap((filters, c) => filters.map(() => c))

test('the mix has 100 filters per client in the four shapes, 10,000 distinct in all, and 26,500 distinct topics', () => {
  assert.equal(mix.filters.length, 100)
  for (const [c, filters] of mix.filters.entries()) {
    const shapes = {
      exact: filters.filter(f => new RegExp(`^w/${c}/e/\\d+$`).test(f)).length,
      lastPlus: filters.filter(f => new RegExp(`^w/${c}/p/\\d+/\\+$`).test(f)).length,
      secondPlus: filters.filter(f => new RegExp(`^w/\\+/q${c}/\\d+$`).test(f)).length,
      hash: filters.filter(f => new RegExp(`^w/${c}/h/\\d+/#$`).test(f)).length
    }
    assert.deepEqual(shapes, { exact: MIX_EXACT_PER_CLIENT, lastPlus: MIX_LAST_PLUS_PER_CLIENT, secondPlus: MIX_SECOND_PLUS_PER_CLIENT, hash: MIX_HASH_PER_CLIENT })
    assert.equal(filters.length, 100)
  }
  assert.deepEqual([allFilters.length, new Set(allFilters).size], [10_000, 10_000])
  assert.deepEqual([mix.topics.length, new Set(mix.topics).size, mix.owners.length], [26_500, 26_500, 26_500])
  assert.ok(mix.topics.every(topic => !topic.includes('+') && !topic.includes('#')))
})

test('each topic matches exactly one of the 10,000 filters, one of its owner\'s, and every filter has a topic', () => {
  const root = buildTrie(allFilters)
  const hits = new Uint32Array(allFilters.length)
  mix.topics.forEach((topic, t) => {
    const matched: number[] = []
    matchTrie(root, topic.split('/'), 0, matched)
    assert.equal(matched.length, 1, `${topic} matches ${matched.map(id => allFilters[id]).join(', ')}`)
    assert.equal(ownerOfFilter[matched[0]!], mix.owners[t], topic)
    hits[matched[0]!]!++
  })
  assert.ok(hits.every(n => n >= 1), 'every filter is matched by some topic')
  // The `#` filters get topics 1 and 2 levels below their prefix; the `+` filters 4–5 values each.
  const counts = (pattern: RegExp): number[] => [...new Set(allFilters.flatMap((f, id) => pattern.test(f) ? [hits[id]!] : []))]
  assert.deepEqual(counts(/\/e\//), [1])
  assert.deepEqual(counts(/\/p\//), [5])
  assert.deepEqual(counts(/^w\/\+\//), [4])
  assert.deepEqual(counts(/\/h\//), [4])
  assert.ok(mix.topics.some(t => /\/h\/\d+\/x\d$/.test(t)) && mix.topics.some(t => /\/h\/\d+\/x\d\/y$/.test(t)))
  // The trie agrees with a plain matcher on a sample.
  for (let t = 0; t < mix.topics.length; t += 1_000) {
    const plain = allFilters.filter(f => matches(f, mix.topics[t]!))
    assert.equal(plain.length, 1, mix.topics[t])
  }
})

test('the seeded schedules are the same in every process and spread over the whole set', () => {
  assert.deepEqual(topicSchedule(12, 3, 26_500), topicSchedule(12, 3, 26_500))
  assert.notDeepEqual(topicSchedule(12, 3, 26_500).subarray(0, 100), topicSchedule(12, 4, 26_500).subarray(0, 100))
  const seen = new Set<number>()
  for (let p = 0; p < 10; p++) for (const t of topicSchedule(12, p, 26_500)) seen.add(t)
  assert.equal(seen.size, 26_500, 'ten publishers draw every topic')
  const random = seededRandom(1)
  const draws = Array.from({ length: 1000 }, random)
  assert.ok(draws.every(x => x >= 0 && x < 1))
  assert.equal(SCHEDULE_LENGTH & (SCHEDULE_LENGTH - 1), 0)
})

test('topic-set batches are well-formed PUBLISH packets on the scheduled topics, QoS 0 and 1', () => {
  for (const qos of [0, 1] as const) {
    const prepared = prepareTopicSet({ ...mix, seed: 7 }, qos, 64, 3)
    const bytes = prepared.data[2]!.fill(50, 1_000, 4.5)
    const parser = mqtt.parser({ protocolVersion: 4 })
    const packets: mqtt.IPublishPacket[] = []
    parser.on('packet', (p) => { packets.push(p as mqtt.IPublishPacket) })
    parser.parse(bytes)
    assert.equal(packets.length, 50)
    const schedule = topicSchedule(7, 2, mix.topics.length)
    packets.forEach((packet, k) => {
      const payload = packet.payload as Buffer
      assert.equal(packet.qos, qos)
      assert.equal(packet.topic, mix.topics[scheduledTopic(schedule, 1_000 + k)])
      assert.deepEqual([payload.length, payload[PAYLOAD_KIND_OFFSET], payload.readUInt32BE(PAYLOAD_PUBLISHER_OFFSET), payload.readUInt32BE(PAYLOAD_SEQ_OFFSET), payload.readDoubleBE(PAYLOAD_TIME_OFFSET)], [64, KIND_DATA, 2, 1_000 + k, 4.5])
    })
    const probe = mqtt.parser({ protocolVersion: 4 })
    probe.on('packet', (p) => {
      const packet = p as mqtt.IPublishPacket
      assert.deepEqual([packet.topic, packet.qos, (packet.payload as Buffer)[PAYLOAD_KIND_OFFSET]], [mix.topics[123], 0, KIND_PROBE])
    })
    probe.parse(prepared.probes[0]!.probe(123, 0))
  }
})

test('the delivery check accepts the owner on the published topic only, and counts order per topic', () => {
  const prepared = prepareTopicSet({ ...mix, seed: 7 }, 0, 64, 2)
  const schedule = topicSchedule(7, 1, mix.topics.length)
  const packets = new TopicSetPackets(mix.topics, 0, 64)
  const deliver = (subscriber: number, seq: number, topic: string): boolean => {
    const buf = Buffer.from(`xx${topic}yy`)
    return prepared.deliveries.accept(subscriber, 1, seq, buf, 2, 2 + Buffer.byteLength(topic))
  }
  const t = scheduledTopic(schedule, 10)
  const owner = mix.owners[t]!
  assert.equal(packets.isTopic(t, Buffer.from(mix.topics[t]!), 0, Buffer.byteLength(mix.topics[t]!)), true)
  assert.equal(deliver(owner, 10, mix.topics[t]!), true)
  assert.equal(deliver((owner + 1) % 100, 10, mix.topics[t]!), false, 'another client did not subscribe to it')
  assert.equal(deliver(owner, 10, `${mix.topics[t]!}/z`), false, 'another topic than published')
  assert.equal(prepared.deliveries.misrouted, 2)
  const later = Array.from({ length: SCHEDULE_LENGTH }, (_, k) => k).find(k => k > 10 && scheduledTopic(schedule, k) === t)!
  assert.equal(deliver(owner, later, mix.topics[t]!), true)
  assert.equal(deliver(owner, 10, mix.topics[t]!), true)
  assert.equal(prepared.deliveries.outOfOrder, 1, 'an older message on the same topic after a newer one')
})
