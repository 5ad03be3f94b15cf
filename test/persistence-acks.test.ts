/**
 * When a QoS 1 PUBACK leaves with `persistence.mode` batch: once the store writes its routing made
 * are committed, or once the subscribers (and peers) that got the message acknowledged it, whichever
 * comes first (group-commit.ts `afterSettled`). Never before either: an acknowledged message is
 * kept somewhere [MQTT-4.3.2-2, MQTT-4.5.0-1].
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestBroker, type TestBrokerOptions } from './helpers/broker.js'
import { connectClient, endClient, Inbox, type Cleanup } from './helpers/mqtt-client.js'
import { MemoryStore } from '../src/store/memory-store.js'
import { decodeDelivery, DELIVERY_PREFIX, SUBSCRIPTION_PREFIX, type DecodedDelivery } from '../src/store/records.js'

/** A commit window long enough that a PUBACK leaving well before it did not wait for a commit. */
const BATCH_MS = 1500
const SUB_V5 = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 300 } }

async function options (t: Cleanup): Promise<{ store: MemoryStore, options: TestBrokerOptions }> {
  const store = new MemoryStore()
  await store.open()
  const dataDir = mkdtempSync(join(tmpdir(), 'meshmq-acks-'))
  t.after(() => { rmSync(dataDir, { recursive: true, force: true }) })
  return { store, options: { persistence: { mode: 'batch', batchMs: BATCH_MS }, store, dataDir } }
}

async function keys (store: MemoryStore, prefix: string): Promise<string[]> {
  const found: string[] = []
  for await (const [key] of store.entries(prefix)) found.push(key)
  return found
}

async function deliveryKeys (store: MemoryStore): Promise<string[]> {
  return await keys(store, DELIVERY_PREFIX)
}

/** The delivery records in the store as they are at the call. */
async function deliveries (store: MemoryStore): Promise<DecodedDelivery[]> {
  const found: DecodedDelivery[] = []
  for await (const [, value] of store.entries(DELIVERY_PREFIX)) found.push(decodeDelivery(value))
  return found
}

describe('QoS 1 PUBACK with persistence batch', () => {
  it('[MQTT-4.3.2-2] leaves as soon as the persistent subscriber acknowledged the delivery, without waiting for the commit window, and nothing is written', async t => {
    const { store, options: brokerOptions } = await options(t)
    const broker = await startTestBroker(t, brokerOptions)
    const sub = await connectClient(t, broker.port, { ...SUB_V5, clientId: 'online-keeper' })
    await sub.subscribeAsync('a/#', { qos: 1 })
    const inbox = new Inbox(sub)
    const pub = await connectClient(t, broker.port, { protocolVersion: 5, clientId: 'pub-a' })
    const started = performance.now()
    await pub.publishAsync('a/1', 'hello', { qos: 1 })
    const elapsed = performance.now() - started
    assert.equal((await inbox.waitForTopic('a/1')).payload.toString(), 'hello')
    assert.ok(elapsed < BATCH_MS / 2, `PUBACK after ${elapsed.toFixed(0)} ms, the commit window is ${BATCH_MS} ms`)
    await new Promise(resolve => setTimeout(resolve, BATCH_MS + 200))
    assert.deepEqual(await deliveryKeys(store), [], 'the acknowledged delivery was never written')
    await endClient(pub)
    await endClient(sub)
  })

  it('[MQTT-4.3.2-2] waits for the commit that keeps the delivery when the persistent subscriber is away', async t => {
    const { store, options: brokerOptions } = await options(t)
    const broker = await startTestBroker(t, brokerOptions)
    const sub = await connectClient(t, broker.port, { ...SUB_V5, clientId: 'away-keeper' })
    await sub.subscribeAsync('b/#', { qos: 1 })
    await endClient(sub)
    const pub = await connectClient(t, broker.port, { protocolVersion: 5, clientId: 'pub-b' })
    const started = performance.now()
    await pub.publishAsync('b/1', 'kept', { qos: 1 })
    const elapsed = performance.now() - started
    assert.ok(elapsed >= BATCH_MS * 0.8, `PUBACK after ${elapsed.toFixed(0)} ms, before the commit (window ${BATCH_MS} ms)`)
    assert.equal((await deliveryKeys(store)).length, 1, 'the delivery is in the store when the PUBACK arrives')
    await endClient(pub)
  })

  it('[MQTT-4.3.3-4] PUBREL for a QoS 2 delivery the store keeps leaves only once its record says PUBREC came', async t => {
    const { options: brokerOptions } = await options(t)
    const broker = await startTestBroker(t, brokerOptions)
    const sub = await connectClient(t, broker.port, { ...SUB_V5, clientId: 'qos2-keeper' })
    await sub.subscribeAsync('c/#', { qos: 2 })
    let pubrecSent = 0
    let pubrelReceived = 0
    sub.on('packetsend', packet => { if (packet.cmd === 'pubrec') pubrecSent = performance.now() })
    sub.on('packetreceive', packet => { if (packet.cmd === 'pubrel') pubrelReceived = performance.now() })
    const inbox = new Inbox(sub)
    const pub = await connectClient(t, broker.port, { protocolVersion: 5, clientId: 'pub-c' })
    await pub.publishAsync('c/1', 'once', { qos: 2 })
    assert.equal((await inbox.waitForTopic('c/1')).payload.toString(), 'once')
    assert.ok(pubrecSent > 0 && pubrelReceived > pubrecSent, 'the flow completed')
    const waited = pubrelReceived - pubrecSent
    assert.ok(waited >= BATCH_MS * 0.5, `PUBREL ${waited.toFixed(0)} ms after PUBREC: before the commit (window ${BATCH_MS} ms)`)
    await endClient(pub)
    await endClient(sub)
  })

  it('[MQTT-4.3.3-9] a QoS 2 PUBLISH to a kept session leaves only once the store holds its packet id, so a restart resends it under the same id', async t => {
    const { store, options: brokerOptions } = await options(t)
    const broker = await startTestBroker(t, brokerOptions)
    const sub = await connectClient(t, broker.port, { ...SUB_V5, clientId: 'qos2-id-keeper' })
    await sub.subscribeAsync('f/#', { qos: 2 })
    const recordsAtReceipt: Array<Promise<DecodedDelivery[]>> = []
    const received: number[] = []
    sub.on('packetreceive', packet => {
      if (packet.cmd !== 'publish' || packet.qos !== 2) return
      received.push(packet.messageId ?? 0)
      recordsAtReceipt.push(deliveries(store))
    })
    const inbox = new Inbox(sub)
    const pub = await connectClient(t, broker.port, { protocolVersion: 5, clientId: 'pub-f' })
    await pub.publishAsync('f/1', 'kept id', { qos: 2 })
    assert.equal((await inbox.waitForTopic('f/1')).payload.toString(), 'kept id')
    assert.equal(received.length, 1)
    const records = await recordsAtReceipt[0]!
    assert.deepEqual(records.map(record => [record.packetId, record.phase]), [[received[0], 'publish']], 'the delivery\'s record names the packet id the client got')
    await endClient(pub)
    await endClient(sub)
  })

  it('[MQTT-4.3.3-9] a QoS 2 PUBLISH to a session that is not kept leaves without waiting for a commit', async t => {
    const { options: brokerOptions } = await options(t)
    const broker = await startTestBroker(t, brokerOptions)
    const sub = await connectClient(t, broker.port, { protocolVersion: 5, clientId: 'qos2-clean' })
    await sub.subscribeAsync('g/#', { qos: 2 })
    const inbox = new Inbox(sub)
    const pub = await connectClient(t, broker.port, { protocolVersion: 5, clientId: 'pub-g' })
    const started = performance.now()
    pub.publish('g/1', 'at once', { qos: 2 })
    assert.equal((await inbox.waitForTopic('g/1')).payload.toString(), 'at once')
    const elapsed = performance.now() - started
    assert.ok(elapsed < BATCH_MS / 2, `PUBLISH after ${elapsed.toFixed(0)} ms, the commit window is ${BATCH_MS} ms`)
    await endClient(pub)
    await endClient(sub)
  })

  it('[MQTT-3.8.4-1] a kept session\'s SUBACK and UNSUBACK leave once the subscription\'s record is committed, so a crash after SUBACK keeps it', async t => {
    const { store, options: brokerOptions } = await options(t)
    const broker = await startTestBroker(t, brokerOptions)
    const sub = await connectClient(t, broker.port, { ...SUB_V5, clientId: 'sub-keeper' })
    const subscribing = performance.now()
    await sub.subscribeAsync('d/#', { qos: 1 })
    const subackAfter = performance.now() - subscribing
    assert.ok(subackAfter >= BATCH_MS * 0.5, `SUBACK after ${subackAfter.toFixed(0)} ms: before the commit (window ${BATCH_MS} ms)`)
    assert.equal((await keys(store, SUBSCRIPTION_PREFIX)).length, 1, 'the subscription is in the store when SUBACK arrives')
    await sub.unsubscribeAsync('d/#')
    assert.deepEqual(await keys(store, SUBSCRIPTION_PREFIX), [], 'the subscription is gone from the store when UNSUBACK arrives')
    await endClient(sub)
  })

  it('[MQTT-3.8.4-1] a session that is not kept gets its SUBACK without waiting for a commit', async t => {
    const { store, options: brokerOptions } = await options(t)
    const broker = await startTestBroker(t, brokerOptions)
    const sub = await connectClient(t, broker.port, { protocolVersion: 5, clientId: 'sub-clean' })
    const subscribing = performance.now()
    await sub.subscribeAsync('e/#', { qos: 1 })
    const subackAfter = performance.now() - subscribing
    assert.ok(subackAfter < BATCH_MS / 2, `SUBACK after ${subackAfter.toFixed(0)} ms, the commit window is ${BATCH_MS} ms`)
    assert.deepEqual(await keys(store, SUBSCRIPTION_PREFIX), [], 'nothing of a session that is not kept is written')
    await endClient(sub)
  })
})
