/**
 * A node whose data directory fills up (a 1 MiB tmpfs, root only; skipped otherwise): QoS 1
 * PUBLISH it cannot keep are refused — MQTT 5 PUBACK 0x97 Quota exceeded, MQTT 3.1.1 the
 * connection closed without an ack — every message it acknowledged reaches the persistent
 * subscriber, and once space is freed it takes publishes again without a restart.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { unlinkSync } from 'node:fs'
import { join } from 'node:path'
import type { IConnectPacket } from 'mqtt-packet'
import { startTestBroker } from './helpers/broker.js'
import { RawClient } from './helpers/raw-client.js'
import { mountTmpfs } from './helpers/tmpfs.js'
import { WaitTimeoutError } from './helpers/wait.js'
import type { Cleanup } from './helpers/mqtt-client.js'

const PAYLOAD = Buffer.alloc(8 * 1024, 0x61)
const MAX_PUBLISHES = 400

async function connected (t: Cleanup, port: number, fields: Partial<IConnectPacket>, protocolVersion: 4 | 5 = 5): Promise<RawClient> {
  const { client } = await RawClient.connected(port, { protocolVersion, ...fields })
  t.after(() => { client.destroy() })
  return client
}

describe('a full disk under the store', () => {
  it('refuses what it cannot keep (v5 0x97, v3.1.1 closed), loses nothing it acknowledged, and takes publishes again once space is freed', async t => {
    const dir = mountTmpfs(t)
    if (dir === undefined) return
    const broker = await startTestBroker(t, { dataDir: dir, persistence: { mode: 'batch', retryMs: 50 } })
    const persistent = { clientId: 'full-sub', clean: false, properties: { sessionExpiryInterval: 300 } }
    const sub = await connected(t, broker.port, persistent)
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'full/#', qos: 1 }] })
    await sub.expect('suback')
    sub.send({ cmd: 'disconnect' })
    await sub.closed()

    const pub = await connected(t, broker.port, { clientId: 'full-pub' })
    const acked: string[] = []
    // Publish until one is not acknowledged: its commit failed, its ack is held until a commit succeeds.
    let held: number | undefined
    for (let id = 1; id <= MAX_PUBLISHES && held === undefined; id++) {
      pub.send({ cmd: 'publish', topic: `full/${id}`, payload: PAYLOAD, qos: 1, retain: false, dup: false, messageId: id })
      try {
        const ack = await pub.waitFor('puback', p => p.messageId === id, 1000)
        assert.equal(ack.reasonCode ?? 0, 0)
        acked.push(`full/${id}`)
      } catch (err) {
        if (!(err instanceof WaitTimeoutError)) throw err
        held = id
      }
    }
    assert.ok(held !== undefined, `the disk filled within ${MAX_PUBLISHES} publishes of 8 KiB`)
    assert.ok(acked.length > 10, `${acked.length} acknowledged before the disk was full`)

    // Another client's QoS 1 PUBLISH is refused at once: 0x97 Quota exceeded (acks of one connection keep their order [MQTT-4.6.0-2]).
    const other = await connected(t, broker.port, { clientId: 'full-other' })
    other.send({ cmd: 'publish', topic: 'full/refused', payload: PAYLOAD, qos: 1, retain: false, dup: false, messageId: 1 })
    const refusal = await other.waitFor('puback', p => p.messageId === 1, 5000)
    assert.equal(refusal.reasonCode, 0x97)
    // MQTT 3.1.1 has no code for it: the connection is closed without an ack (the client resends on reconnect).
    const v3 = await connected(t, broker.port, { clientId: 'full-v3' }, 4)
    v3.send({ cmd: 'publish', topic: 'full/v3', payload: PAYLOAD, qos: 1, retain: false, dup: false, messageId: 9 })
    await v3.closed(5000)

    // Space freed: the failed commit is retried (persistence.retryMs), the held ack comes, publishes are taken again.
    unlinkSync(join(dir, 'ballast'))
    const heldAck = await pub.waitFor('puback', p => p.messageId === held, 10_000)
    assert.equal(heldAck.reasonCode ?? 0, 0, 'the held ack is a success once its commit is done')
    acked.push(`full/${held}`)
    other.send({ cmd: 'publish', topic: 'full/after', payload: Buffer.from('small'), qos: 1, retain: false, dup: false, messageId: 2 })
    const after = await other.waitFor('puback', p => p.messageId === 2, 5000)
    assert.equal(after.reasonCode ?? 0, 0)
    acked.push('full/after')

    const back = await connected(t, broker.port, persistent)
    const received = new Set<string>()
    while (received.size < acked.length) {
      const packet = await back.waitFor('publish', () => true, 10_000)
      received.add(packet.topic)
      if (packet.messageId !== undefined) back.send({ cmd: 'puback', messageId: packet.messageId })
    }
    assert.deepEqual(acked.filter(topic => !received.has(topic)), [], 'every acknowledged message delivered')
  })
})
