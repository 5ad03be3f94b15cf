/**
 * The MQTT 5 acks that wait for their message's routing (routed-acks.ts): they leave in PUBLISH
 * order whatever order the trie shards report in, with 0x10 for a message nothing matched.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RoutedAcks } from '../src/core/channel/routed-acks.js'

const describeAcks = (packets: ReturnType<RoutedAcks['take']>): string[] =>
  packets.map(p => `${p.cmd} ${p.messageId ?? 0}${p.reasonCode === undefined ? '' : ` 0x${p.reasonCode.toString(16)}`}`)

describe('acks waiting for their routing', () => {
  it('leave in PUBLISH order when the reports come out of order, 0x10 for an unmatched message (§3.4.2.1, §3.5.2.1)', () => {
    const acks = new RoutedAcks()
    const a = acks.wait({ cmd: 'puback', messageId: 1 })
    const b = acks.wait({ cmd: 'pubrec', messageId: 2 })
    const c = acks.wait({ cmd: 'puback', messageId: 3 })
    acks.resolve(c, false)
    acks.resolve(b, false)
    assert.deepEqual(describeAcks(acks.take()), [], 'nothing leaves before the first is routed')
    assert.equal(acks.waiting, true)
    acks.resolve(a, true)
    assert.deepEqual(describeAcks(acks.take()), ['puback 1', 'pubrec 2 0x10', 'puback 3 0x10'])
    assert.equal(acks.waiting, false)
  })

  it('an ack that needs no routing (a re-sent QoS 2 PUBLISH) waits behind those before it', () => {
    const acks = new RoutedAcks()
    const a = acks.wait({ cmd: 'puback', messageId: 1 })
    acks.ready({ cmd: 'pubrec', messageId: 7 })
    const c = acks.wait({ cmd: 'puback', messageId: 2 })
    acks.resolve(c, true)
    assert.deepEqual(describeAcks(acks.take()), [])
    acks.resolve(a, true)
    assert.deepEqual(describeAcks(acks.take()), ['puback 1', 'pubrec 7', 'puback 2'])
  })

  it('after the connection is gone, reports for its acks are ignored and new acks get new tokens', () => {
    const acks = new RoutedAcks()
    const old = acks.wait({ cmd: 'puback', messageId: 1 })
    acks.clear()
    assert.equal(acks.waiting, false)
    const fresh = acks.wait({ cmd: 'puback', messageId: 1 })
    assert.notEqual(fresh, old)
    acks.resolve(old, false)
    assert.deepEqual(describeAcks(acks.take()), [], 'the old token resolves nothing')
    acks.resolve(fresh, true)
    assert.deepEqual(describeAcks(acks.take()), ['puback 1'])
  })

  it('a long run of acks keeps its order across the compaction of the queue', () => {
    const acks = new RoutedAcks()
    const out: string[] = []
    const tokens: number[] = []
    for (let id = 1; id <= 1000; id++) tokens.push(acks.wait({ cmd: 'puback', messageId: id }))
    for (let i = 0; i < tokens.length; i++) {
      acks.resolve(tokens[i]!, i % 3 !== 0)
      if (i % 7 === 0) out.push(...describeAcks(acks.take()))
    }
    out.push(...describeAcks(acks.take()))
    assert.equal(out.length, 1000)
    assert.deepEqual(out.slice(0, 3), ['puback 1 0x10', 'puback 2', 'puback 3'])
    assert.equal(out[999], 'puback 1000 0x10')
  })
})

describe('acks waiting for the store commit (persistence batch or sync)', () => {
  it('[MQTT-4.6.0-2] leave once the store is durable up to the position they were stamped with, in order', () => {
    const acks = new RoutedAcks()
    const a = acks.wait({ cmd: 'puback', messageId: 1 })
    acks.resolve(a, true)
    assert.equal(acks.stamp(10), 10)
    const b = acks.wait({ cmd: 'puback', messageId: 2 })
    acks.resolve(b, true)
    assert.equal(acks.stamp(20), 20)
    assert.deepEqual(describeAcks(acks.take(9)), [], 'nothing durable yet')
    assert.deepEqual(describeAcks(acks.take(15)), ['puback 1'])
    assert.deepEqual(describeAcks(acks.take(20)), ['puback 2'])
  })

  it('an ack whose routing is not known yet is not stamped, and holds back those after it', () => {
    const acks = new RoutedAcks()
    const a = acks.wait({ cmd: 'puback', messageId: 1 })
    acks.ready({ cmd: 'pubcomp', messageId: 2 })
    assert.equal(acks.stamp(5), 5, 'the ready PUBCOMP is stamped')
    assert.deepEqual(describeAcks(acks.take(100)), [], 'behind the unrouted PUBACK')
    acks.resolve(a, false)
    acks.stamp(8)
    assert.deepEqual(describeAcks(acks.take(8)), ['puback 1 0x10', 'pubcomp 2'], 'a PUBCOMP never carries 0x10')
  })

  it('a refusal (0x97 while the disk is full) waits for the acks before it, not for a commit', () => {
    const acks = new RoutedAcks()
    acks.ready({ cmd: 'puback', messageId: 1, reasonCode: 0x97 })
    acks.stamp(50)
    assert.deepEqual(describeAcks(acks.take(0)), ['puback 1 0x97'])
    const b = acks.wait({ cmd: 'puback', messageId: 2 })
    acks.resolve(b, true)
    acks.ready({ cmd: 'puback', messageId: 3, reasonCode: 0x97 })
    acks.stamp(60)
    assert.deepEqual(describeAcks(acks.take(0)), [], 'behind the ack that waits for its commit')
    assert.deepEqual(describeAcks(acks.take(60)), ['puback 2', 'puback 3 0x97'])
  })

  it('a PUBACK waiting for its routing\'s writes leaves when they settle, before a stamped ack behind it would', () => {
    const acks = new RoutedAcks()
    const a = acks.wait({ cmd: 'puback', messageId: 1 }, true)
    const b = acks.wait({ cmd: 'pubrec', messageId: 2 })
    const c = acks.wait({ cmd: 'puback', messageId: 3 }, true)
    for (const token of [a, b, c]) acks.resolve(token, true)
    assert.deepEqual(acks.awaitWrites([a, b, c], true), [a, c], 'the PUBREC is not precise')
    acks.stamp(40)
    assert.deepEqual(describeAcks(acks.take(0)), [], 'the first waits for its writes')
    acks.settle([a, c])
    assert.deepEqual(describeAcks(acks.take(0)), ['puback 1'], 'then the PUBREC waits for its stamp, and the PUBACK behind it too')
    assert.deepEqual(describeAcks(acks.take(40)), ['pubrec 2', 'puback 3'])
  })

  it('a PUBACK whose routing wrote nothing waits for no commit', () => {
    const acks = new RoutedAcks()
    const a = acks.wait({ cmd: 'puback', messageId: 1 }, true)
    acks.resolve(a, true)
    assert.deepEqual(acks.awaitWrites([a], false), [])
    acks.stamp(99)
    assert.deepEqual(describeAcks(acks.take(0)), ['puback 1'])
  })
})

