/**
 * Without an ACL file `$SYS/#` is read-only for clients (auth.allowSysPublish false): a PUBLISH
 * there is refused (v5 PUBACK 0x87, v3.1.1 acked and dropped) and nothing is retained under `$SYS`
 * from a client, while every other topic stays open. `auth.allowSysPublish` lifts it.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import type { IPublishPacket } from 'mqtt-packet'
import { startTestBroker } from './helpers/broker.js'
import { RawClient, type ProtocolVersion } from './helpers/raw-client.js'
import { uniqueName } from './helpers/wait.js'

const readOnly = await startTestBroker({ after })
const writable = await startTestBroker({ after }, { auth: { allowSysPublish: true } })

type Cleanup = { after: (fn: () => void) => void }

async function connected (t: Cleanup, port: number, version: ProtocolVersion): Promise<RawClient> {
  const { client } = await RawClient.connected(port, { clientId: uniqueName('sys') }, { protocolVersion: version })
  t.after(() => { client.destroy() })
  return client
}

/** A retained QoS 1 PUBLISH and its PUBACK reason code (0 when it has none). */
async function publishRetained (client: RawClient, topic: string, messageId: number): Promise<number> {
  client.send({ cmd: 'publish', topic, payload: Buffer.from('forged'), qos: 1, retain: true, dup: false, messageId })
  return (await client.waitFor('puback', p => p.messageId === messageId)).reasonCode ?? 0
}

const isPublishOn = (topic: string) => (packet: { cmd: string }) => packet.cmd === 'publish' && (packet as IPublishPacket).topic === topic

test('no ACL file: a v5 client publishing a retained $SYS/brokers/x/version gets PUBACK 0x87 Not authorized; nothing is retained', async t => {
  const topic = `$SYS/brokers/${uniqueName('x')}/version`
  const client = await connected(t, readOnly.port, 5)
  assert.equal(await publishRetained(client, topic, 1), 0x87)
  const other = `open/${uniqueName('o')}`
  assert.ok([0, 0x10].includes(await publishRetained(client, other, 2)))
  client.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic, qos: 1 }, { topic: other, qos: 1 }] })
  assert.deepEqual((await client.expect('suback')).granted, [1, 1])
  await client.waitFor('publish', p => p.topic === other)
  await client.expectSilence(200, isPublishOn(topic))
})

test('no ACL file: a v3.1.1 $SYS publish is acked but dropped; the broker\'s own $SYS topics stay readable', async t => {
  const topic = `$SYS/brokers/${readOnly.nodeName}/version`
  const client = await connected(t, readOnly.port, 4)
  assert.equal(await publishRetained(client, topic, 1), 0)
  client.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic, qos: 0 }] })
  await client.expect('suback')
  const version = await client.waitFor('publish', isPublishOn(topic))
  assert.notEqual(version.payload.toString(), 'forged')
})

test('auth.allowSysPublish: clients may publish (and retain) under $SYS', async t => {
  const topic = `$SYS/brokers/${uniqueName('x')}/custom`
  const client = await connected(t, writable.port, 5)
  assert.ok([0, 0x10].includes(await publishRetained(client, topic, 1)))
  client.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic, qos: 1 }] })
  await client.expect('suback')
  const retained = await client.waitFor('publish', isPublishOn(topic))
  assert.equal(retained.payload.toString(), 'forged')
})
