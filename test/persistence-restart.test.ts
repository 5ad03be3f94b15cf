/**
 * Persistence across a restart, in process: a node is stopped and a new one started on the same
 * store (a MemoryStore handed from one to the next, so these run fast; the disk backend and
 * kill -9 are in persistence-kill.test.ts). Sessions come back present with their subscriptions,
 * queued and unacknowledged messages, QoS 2 state; retained messages come back; expiry counts
 * across the restart [MQTT-3.1.2-4, MQTT-3.1.2-5, MQTT-4.1.0-1, MQTT-3.3.2-5].
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestBroker, type Broker, type TestBrokerOptions } from './helpers/broker.js'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { connectClient, endClient, Inbox, type Cleanup } from './helpers/mqtt-client.js'
import { MemoryStore } from '../src/store/memory-store.js'
import { ManualClock } from '../src/core/clock.js'
import { SESSION_PREFIX, DELIVERY_PREFIX, SUBSCRIPTION_PREFIX, subscriptionKey } from '../src/store/records.js'

const SUB_V5 = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 300 } }

/** A store and data directory shared by the brokers of one test, each started in turn. */
async function storeFor (t: Cleanup): Promise<{ store: MemoryStore, options: (extra?: TestBrokerOptions) => TestBrokerOptions }> {
  const store = new MemoryStore()
  await store.open()
  const dataDir = mkdtempSync(join(tmpdir(), 'meshmq-restart-'))
  t.after(() => { rmSync(dataDir, { recursive: true, force: true }) })
  return { store, options: extra => ({ persistence: { mode: 'batch' }, ...extra, store, dataDir }) }
}

/** Connects with an inbox listening from the first packet on (messages follow the CONNACK at once). */
async function reconnect (t: Cleanup, port: number, options: IClientOptions): Promise<{ client: MqttClient, inbox: Inbox, sessionPresent: boolean }> {
  const client = mqtt.connect({ host: '127.0.0.1', port, protocol: 'mqtt', reconnectPeriod: 0, connectTimeout: 3000, ...options, manualConnect: true })
  t.after(async () => { await endClient(client) })
  client.on('error', () => {})
  const inbox = new Inbox(client)
  const connack = new Promise<boolean>((resolve, reject) => {
    client.once('connect', packet => { resolve(packet.sessionPresent) })
    client.once('close', () => { reject(new Error('closed before CONNACK')) })
  })
  client.connect()
  return { client, inbox, sessionPresent: await connack }
}

/** The keys under `prefix` (opening the store when the broker that had it closed it). */
async function keys (store: MemoryStore, prefix: string): Promise<string[]> {
  await store.open()
  const found: string[] = []
  for await (const [key] of store.entries(prefix)) found.push(key)
  return found
}

describe('persistence across a restart (in-process, memory store)', () => {
  it('[MQTT-3.1.2-5] a persistent session comes back present with its subscription and the QoS 1 messages queued for it, in order', async t => {
    const { store, options } = await storeFor(t)
    const first = await startTestBroker(t, options())
    const sub = await connectClient(t, first.port, { ...SUB_V5, clientId: 'keeper' })
    await sub.subscribeAsync('p/#', { qos: 1 })
    await endClient(sub)
    const pub = await connectClient(t, first.port, { protocolVersion: 5, clientId: 'pub' })
    for (let i = 0; i < 10; i++) await pub.publishAsync('p/x', `m${i}`, { qos: 1 })
    await endClient(pub)
    await first.stop()
    assert.equal((await keys(store, DELIVERY_PREFIX)).length, 10, 'ten deliveries kept')

    const second = await startTestBroker(t, options())
    const { client: back, inbox, sessionPresent } = await reconnect(t, second.port, { ...SUB_V5, clientId: 'keeper' })
    assert.equal(sessionPresent, true, 'sessionPresent=1')
    const got = await inbox.waitForCount(10)
    assert.deepEqual(got.map(m => m.payload.toString()), Array.from({ length: 10 }, (_, i) => `m${i}`))
    await inbox.expectNoMoreThan(10, 300)
    // The subscription came back too: a new publish reaches the session.
    const pub2 = await connectClient(t, second.port, { protocolVersion: 5, clientId: 'pub' })
    await pub2.publishAsync('p/y', 'after', { qos: 1 })
    assert.equal((await inbox.waitForTopic('p/y')).payload.toString(), 'after')
    await endClient(pub2)
    await endClient(back)
  })

  it('[MQTT-4.8.2] a persistent shared-subscription member away from the node keeps what it was given across the restart', async t => {
    const { options } = await storeFor(t)
    const first = await startTestBroker(t, options())
    const member = await connectClient(t, first.port, { ...SUB_V5, clientId: 'member' })
    await member.subscribeAsync('$share/g/sh/#', { qos: 1 })
    await endClient(member)
    await waitForDisconnects(first)
    const pub = await connectClient(t, first.port, { protocolVersion: 5, clientId: 'pub' })
    for (let i = 0; i < 3; i++) await pub.publishAsync('sh/x', `s${i}`, { qos: 1 })
    await endClient(pub)
    await first.stop()

    const second = await startTestBroker(t, options())
    const { client: back, inbox, sessionPresent } = await reconnect(t, second.port, { ...SUB_V5, clientId: 'member' })
    assert.equal(sessionPresent, true)
    const got = await inbox.waitForCount(3)
    assert.deepEqual(got.map(m => m.payload.toString()), ['s0', 's1', 's2'])
    await endClient(back)
  })

  it('[MQTT-3.3.1-5] retained messages survive the restart; a cleared one stays cleared', async t => {
    const { options } = await storeFor(t)
    const first = await startTestBroker(t, options())
    const pub = await connectClient(t, first.port, { clientId: 'pub' })
    await pub.publishAsync('r/kept', 'value', { qos: 1, retain: true })
    await pub.publishAsync('r/gone', 'old', { qos: 1, retain: true })
    await pub.publishAsync('r/gone', '', { qos: 1, retain: true })
    await endClient(pub)
    await first.stop()

    const second = await startTestBroker(t, options())
    const sub = await connectClient(t, second.port, { clientId: 'reader' })
    const inbox = new Inbox(sub)
    await sub.subscribeAsync('r/#', { qos: 1 })
    const got = await inbox.waitForTopic('r/kept')
    assert.equal(got.payload.toString(), 'value')
    assert.equal(got.packet.retain, true)
    await inbox.expectNoMoreThan(1, 300)
    await endClient(sub)
  })

  it('a clean session leaves nothing in the store; a persistent one leaves only its record once its messages are acknowledged', async t => {
    const { store, options } = await storeFor(t)
    const broker = await startTestBroker(t, options())
    const clean = await connectClient(t, broker.port, { clientId: 'clean', clean: true })
    await clean.subscribeAsync('c/#', { qos: 1 })
    const kept = await connectClient(t, broker.port, { ...SUB_V5, clientId: 'kept' })
    const inbox = new Inbox(kept)
    await kept.subscribeAsync('c/#', { qos: 1 })
    await clean.publishAsync('c/1', 'x', { qos: 1 })
    await inbox.waitForCount(1)
    await endClient(clean)
    await waitForKeys(store, DELIVERY_PREFIX, 0)
    // The PUBACK waited only for the delivery's record (cancelled by the subscriber's PUBACK), not
    // for the session record written at CONNECT: that one comes with the next commit.
    await waitForKeys(store, SESSION_PREFIX, 1, [SESSION_PREFIX + 'kept'])
    await endClient(kept)
  })

  it('[MQTT-3.10.4-1] each subscription is a record of its own: SUBSCRIBE adds it, UNSUBSCRIBE removes it, the restart keeps what is left', async t => {
    const { store, options } = await storeFor(t)
    const first = await startTestBroker(t, options())
    const client = await connectClient(t, first.port, { ...SUB_V5, clientId: 'subs' })
    await client.subscribeAsync('one/#', { qos: 1 })
    await client.subscribeAsync('two/#', { qos: 1 })
    await client.unsubscribeAsync('one/#')
    await waitForKeys(store, SUBSCRIPTION_PREFIX, 1, [subscriptionKey('subs', 'two/#')])
    await endClient(client)
    await waitForDisconnects(first)
    await first.stop()

    const second = await startTestBroker(t, options())
    const pub = await connectClient(t, second.port, { clientId: 'pub' })
    await pub.publishAsync('one/x', 'unsubscribed', { qos: 1 })
    await pub.publishAsync('two/x', 'subscribed', { qos: 1 })
    const { client: back, inbox } = await reconnect(t, second.port, { ...SUB_V5, clientId: 'subs' })
    assert.equal((await inbox.waitForCount(1))[0]!.payload.toString(), 'subscribed')
    await inbox.expectNoMoreThan(1, 300)
    await endClient(back)
    await endClient(pub)
  })

  it('[MQTT-3.1.2-4] an MQTT 5 Clean Start discards the kept session and its messages in the store', async t => {
    const { store, options } = await storeFor(t)
    const broker = await startTestBroker(t, options())
    const sub = await connectClient(t, broker.port, { ...SUB_V5, clientId: 'fresh' })
    await sub.subscribeAsync('f/#', { qos: 1 })
    await endClient(sub)
    const pub = await connectClient(t, broker.port, { clientId: 'pub' })
    await pub.publishAsync('f/1', 'x', { qos: 1 })
    await endClient(pub)
    await waitForKeys(store, DELIVERY_PREFIX, 1)
    const again = await connectClient(t, broker.port, { protocolVersion: 5, clean: true, clientId: 'fresh' })
    await endClient(again)
    await waitForKeys(store, DELIVERY_PREFIX, 0)
    await waitForKeys(store, SESSION_PREFIX, 0)
  })

  it('[MQTT-3.1.2-23] session expiry counts across the restart: a session past its expiry does not come back', async t => {
    const { store, options } = await storeFor(t)
    const clock = new ManualClock()
    const first = await startTestBroker(t, options({ clock }))
    const sub = await connectClient(t, first.port, { protocolVersion: 5, clean: false, clientId: 'short', properties: { sessionExpiryInterval: 5 } })
    await sub.subscribeAsync('e/#', { qos: 1 })
    await endClient(sub)
    await waitForDisconnects(first)
    await first.stop()
    assert.equal((await keys(store, SESSION_PREFIX)).length, 1)

    clock.advance(6000)
    const second = await startTestBroker(t, options({ clock }))
    await waitForKeys(store, SESSION_PREFIX, 0)
    const { client: back, sessionPresent } = await reconnect(t, second.port, { protocolVersion: 5, clean: false, clientId: 'short', properties: { sessionExpiryInterval: 5 } })
    assert.equal(sessionPresent, false, 'the session expired while the node was down')
    await endClient(back)
  })

  it('[MQTT-3.1.3-9] a will waiting for its delay is published after the restart, when due', async t => {
    const { options } = await storeFor(t)
    const clock = new ManualClock()
    const first = await startTestBroker(t, options({ clock }))
    const dying = await connectClient(t, first.port, {
      protocolVersion: 5,
      clean: false,
      clientId: 'dying',
      properties: { sessionExpiryInterval: 300 },
      will: { topic: 'wills/dying', payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 10 } }
    })
    dying.stream.destroy()
    await waitForDisconnects(first)
    await first.stop()

    const second = await startTestBroker(t, options({ clock }))
    const watcher = await connectClient(t, second.port, { clientId: 'watcher' })
    const inbox = new Inbox(watcher)
    await watcher.subscribeAsync('wills/#', { qos: 1 })
    await inbox.expectNoMoreThan(0, 200)
    clock.advance(11_000)
    const will = await inbox.waitForTopic('wills/dying')
    assert.equal(will.payload.toString(), 'gone')
    await inbox.expectNoMoreThan(1, 300)
    await endClient(watcher)
  })

  it('[MQTT-3.3.2-5] a queued message past its expiry is not delivered after the restart', async t => {
    const { options } = await storeFor(t)
    const clock = new ManualClock()
    const first = await startTestBroker(t, options({ clock }))
    const sub = await connectClient(t, first.port, { ...SUB_V5, clientId: 'late' })
    await sub.subscribeAsync('x/#', { qos: 1 })
    await endClient(sub)
    const pub = await connectClient(t, first.port, { protocolVersion: 5, clientId: 'pub' })
    await pub.publishAsync('x/short', 'short', { qos: 1, properties: { messageExpiryInterval: 2 } })
    await pub.publishAsync('x/long', 'long', { qos: 1, properties: { messageExpiryInterval: 60 } })
    await endClient(pub)
    await first.stop()

    clock.advance(3000)
    const second = await startTestBroker(t, options({ clock }))
    const { client: back, inbox } = await reconnect(t, second.port, { ...SUB_V5, clientId: 'late' })
    const got = await inbox.waitForTopic('x/long')
    assert.equal(got.payload.toString(), 'long')
    await inbox.expectNoMoreThan(1, 300)
    await endClient(back)
  })
})

/** Waits until the broker has seen every client go (their sessions then count as disconnected). */
async function waitForDisconnects (broker: Broker, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while ((await broker.node.status()).connections > 0) {
    if (Date.now() > deadline) assert.fail('clients still connected')
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** Waits until `count` keys are under `prefix` (and, given, exactly `expected`): the writes reach the store at its next commit. */
async function waitForKeys (store: MemoryStore, prefix: string, count: number, expected?: string[], timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = await keys(store, prefix)
    if (found.length === count && (expected === undefined || found.join('\n') === expected.join('\n'))) return
    if (Date.now() > deadline) assert.fail(`expected ${count} keys under ${prefix}, found ${found.length}: ${found.join(', ')}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}
