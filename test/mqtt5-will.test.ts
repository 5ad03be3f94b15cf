/**
 * MQTT 5 will messages: Will Delay Interval, session end before the delay, DISCONNECT 0x04
 * (Disconnect with Will Message), and will properties passed through.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import type { IConnectPacket } from 'mqtt-packet'
import { startTestBroker } from './helpers/broker.js'
import { RawClient } from './helpers/raw-client.js'
import { uniqueName, waitUntil } from './helpers/wait.js'
import { ManualClock } from '../src/core/clock.js'

const broker = await startTestBroker({ after })

type Cleanup = { after: (fn: () => void) => void }
type WillProperties = NonNullable<NonNullable<IConnectPacket['will']>['properties']>

/** A raw v5 client subscribed to `topic`, to observe the will. */
async function watcher (t: Cleanup, topic: string, port = broker.port): Promise<RawClient> {
  const { client } = await RawClient.connected(port, { clientId: uniqueName('watch') }, { protocolVersion: 5 })
  t.after(() => client.destroy())
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] })
  await client.expect('suback')
  return client
}

/** A raw v5 client with a will on `topic`. */
async function withWill (t: Cleanup, topic: string, will: WillProperties = {}, fields: Partial<IConnectPacket> = {}, port = broker.port): Promise<RawClient> {
  const { client } = await RawClient.connected(port, {
    clientId: uniqueName('will5'),
    will: { topic, payload: Buffer.from('last words'), qos: 1, retain: false, properties: will },
    ...fields
  }, { protocolVersion: 5 })
  t.after(() => client.destroy())
  return client
}

test('[MQTT-3.1.2-8] the will is published when the connection closes without DISCONNECT', async t => {
  const topic = uniqueName('abnormal5')
  const watch = await watcher(t, topic)
  const client = await withWill(t, topic)
  client.destroy()
  assert.equal((await watch.expect('publish')).payload.toString(), 'last words')
})

test('[MQTT-3.1.2-10] DISCONNECT with reason 0x00 discards the will', async t => {
  const topic = uniqueName('normal5')
  const watch = await watcher(t, topic)
  const client = await withWill(t, topic)
  client.send({ cmd: 'disconnect', reasonCode: 0x00 })
  await client.closed()
  await watch.expectSilence(600)
})

test('DISCONNECT with reason 0x04 (Disconnect with Will Message) publishes the will (§3.14.2.1)', async t => {
  const topic = uniqueName('with-will')
  const watch = await watcher(t, topic)
  const client = await withWill(t, topic)
  client.send({ cmd: 'disconnect', reasonCode: 0x04 })
  await client.closed()
  assert.equal((await watch.expect('publish')).payload.toString(), 'last words')
})

/** A broker of its own on a manual clock, for a test that moves time. */
async function clockedBroker (t: Cleanup): Promise<{ port: number, clock: ManualClock }> {
  const clock = new ManualClock()
  const own = await startTestBroker(t, { clock })
  return { port: own.port, clock }
}

/** Waits until the session of a closed client has started its will delay and expiry timers. */
async function willTimersStarted (clock: ManualClock): Promise<void> {
  await waitUntil(() => clock.pending === 2, 2000, 'the session to start its will delay and expiry timers')
}

test('[MQTT-3.1.3-9] the Will Delay Interval postpones the will', async t => {
  const { port, clock } = await clockedBroker(t)
  const topic = uniqueName('delayed')
  const watch = await watcher(t, topic, port)
  const client = await withWill(t, topic, { willDelayInterval: 1 }, { properties: { sessionExpiryInterval: 30 } }, port)
  client.destroy()
  await willTimersStarted(clock)
  clock.advance(999)
  await watch.expectSilence(200)
  clock.advance(1)
  assert.equal((await watch.expect('publish')).payload.toString(), 'last words')
})

test('[MQTT-3.1.3-9] a reconnect to the session before the Will Delay Interval passes cancels the will', async t => {
  const { port, clock } = await clockedBroker(t)
  const topic = uniqueName('cancelled')
  const clientId = uniqueName('resume')
  const watch = await watcher(t, topic, port)
  const client = await withWill(t, topic, { willDelayInterval: 1 }, { clientId, properties: { sessionExpiryInterval: 30 } }, port)
  client.destroy()
  await willTimersStarted(clock)
  clock.advance(500)
  const { client: back, connack } = await RawClient.connected(port, { clientId, clean: false, properties: { sessionExpiryInterval: 30 } }, { protocolVersion: 5 })
  t.after(() => back.destroy())
  assert.equal(connack.sessionPresent, true)
  clock.advance(60_000)
  await watch.expectSilence(300)
})

test('the will is published when the session ends before the Will Delay Interval passes (§3.1.3.2.2)', async t => {
  const { port, clock } = await clockedBroker(t)
  const topic = uniqueName('session-end')
  const watch = await watcher(t, topic, port)
  const client = await withWill(t, topic, { willDelayInterval: 60 }, { properties: { sessionExpiryInterval: 1 } }, port)
  client.destroy()
  await willTimersStarted(clock)
  clock.advance(999)
  await watch.expectSilence(200)
  clock.advance(1)
  assert.equal((await watch.expect('publish')).payload.toString(), 'last words')
})

test('will properties are passed through: content type, response topic, correlation data, user properties, payload format [MQTT-3.3.2-4]', async t => {
  const topic = uniqueName('will-props')
  const watch = await watcher(t, topic)
  const properties: WillProperties = {
    contentType: 'text/plain',
    responseTopic: `${topic}/reply`,
    correlationData: Buffer.from([1, 2, 3]),
    userProperties: { origin: 'will-test' },
    payloadFormatIndicator: true,
    messageExpiryInterval: 120
  }
  const client = await withWill(t, topic, properties)
  client.destroy()
  const will = await watch.expect('publish')
  assert.equal(will.properties?.contentType, 'text/plain')
  assert.equal(will.properties.responseTopic, `${topic}/reply`)
  assert.deepEqual(will.properties.correlationData, Buffer.from([1, 2, 3]))
  assert.deepEqual({ ...will.properties.userProperties }, { origin: 'will-test' })
  assert.equal(will.properties.payloadFormatIndicator, true)
  const expiry = will.properties.messageExpiryInterval
  assert.ok(expiry !== undefined && expiry <= 120 && expiry >= 118, `message expiry ${expiry}`)
})

test('a v5 client taken over by a Clean Start connection publishes its will (the old session ends)', async t => {
  const topic = uniqueName('takeover-will')
  const clientId = uniqueName('tk')
  const watch = await watcher(t, topic)
  const first = await withWill(t, topic, {}, { clientId })
  const { client: second } = await RawClient.connected(broker.port, { clientId, clean: true }, { protocolVersion: 5 })
  t.after(() => second.destroy())
  assert.equal((await first.expect('disconnect')).reasonCode, 0x8e)
  assert.equal((await watch.expect('publish')).payload.toString(), 'last words')
})

test('§3.1.3.2.2 a Clean Start connection ends the disconnected session: its will waiting for the Will Delay is published at once', async t => {
  const { port, clock } = await clockedBroker(t)
  const topic = uniqueName('clean-ends')
  const clientId = uniqueName('ce')
  const watch = await watcher(t, topic, port)
  const client = await withWill(t, topic, { willDelayInterval: 60 }, { clientId, properties: { sessionExpiryInterval: 300 } }, port)
  client.destroy()
  await willTimersStarted(clock)
  await watch.expectSilence(200)
  const { client: back, connack } = await RawClient.connected(port, { clientId, clean: true }, { protocolVersion: 5 })
  t.after(() => back.destroy())
  assert.equal(connack.sessionPresent, false)
  assert.equal((await watch.expect('publish')).payload.toString(), 'last words')
  clock.advance(120_000)
  await watch.expectSilence(300)
})

test('§3.1.3.2.2 a Clean Start takeover of a connected client publishes its delayed will (the old session ends); a resuming takeover does not [MQTT-3.1.3-9]', async t => {
  const topic = uniqueName('clean-takeover')
  const watch = await watcher(t, topic)
  const cleanId = uniqueName('ct')
  const first = await withWill(t, topic, { willDelayInterval: 60 }, { clientId: cleanId, properties: { sessionExpiryInterval: 300 } })
  const { client: second } = await RawClient.connected(broker.port, { clientId: cleanId, clean: true }, { protocolVersion: 5 })
  t.after(() => second.destroy())
  assert.equal((await first.expect('disconnect')).reasonCode, 0x8e)
  assert.equal((await watch.expect('publish')).payload.toString(), 'last words')

  const resumeId = uniqueName('rt')
  const third = await withWill(t, topic, { willDelayInterval: 60 }, { clientId: resumeId, properties: { sessionExpiryInterval: 300 } })
  const { client: fourth } = await RawClient.connected(broker.port, { clientId: resumeId, clean: false, properties: { sessionExpiryInterval: 300 } }, { protocolVersion: 5 })
  t.after(() => fourth.destroy())
  assert.equal((await third.expect('disconnect')).reasonCode, 0x8e)
  await watch.expectSilence(500)
})
