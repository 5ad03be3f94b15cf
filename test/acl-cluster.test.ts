/**
 * The ACL across nodes (every node reads the same ACL file): messages forwarded from another node
 * are checked with `read` for the subscriber, and a session taken over on another node answers to
 * the new connection's identity, also for the messages it queued.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IConnectPacket, IPublishPacket } from 'mqtt-packet'
import type { Broker } from '../src/broker.js'
import { startInProcessCluster, waitForRouteOf } from './helpers/in-process-cluster.js'
import { RawClient } from './helpers/raw-client.js'
import { uniqueName } from './helpers/wait.js'

const dir = mkdtempSync(join(tmpdir(), 'meshmq-acl-cluster-'))
after(() => { rmSync(dir, { recursive: true, force: true }) })
const aclFile = join(dir, 'acl')
writeFileSync(aclFile, [
  'user watcher', 'topic read #', 'topic deny private/#',
  'user alice', 'topic read mail/#',
  'user bob', 'topic read other/#',
  'user admin', 'topic readwrite #'
].join('\n'))
const [a, b] = await startInProcessCluster({ after }, 2, { prefix: 'acl', auth: { aclFile } }) as [Broker, Broker]

type Cleanup = { after: (fn: () => void) => void }

async function connected (t: Cleanup, port: number, fields: Partial<IConnectPacket>): Promise<{ client: RawClient, sessionPresent: boolean }> {
  const { client, connack } = await RawClient.connected(port, { clientId: uniqueName('aclc'), ...fields }, { protocolVersion: 5 })
  t.after(() => { client.destroy() })
  return { client, sessionPresent: connack.sessionPresent }
}

async function publishQos1 (client: RawClient, topic: string, messageId: number): Promise<void> {
  client.send({ cmd: 'publish', topic, payload: Buffer.from('m'), qos: 1, retain: false, dup: false, messageId })
  await client.waitFor('puback', p => p.messageId === messageId)
}

const isPublishOn = (topic: string) => (packet: { cmd: string }) => packet.cmd === 'publish' && (packet as IPublishPacket).topic === topic

test('a message forwarded from another node reaches only subscribers that may read it', async t => {
  const { client: watcher } = await connected(t, b.port, { username: 'watcher' })
  const name = uniqueName('f')
  watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `+/${name}`, qos: 1 }] })
  await watcher.expect('suback')
  await waitForRouteOf(a, `+/${name}`, b.nodeName)
  const { client: admin } = await connected(t, a.port, { username: 'admin' })
  await publishQos1(admin, `private/${name}`, 1)
  await publishQos1(admin, `open/${name}`, 2)
  await watcher.waitFor('publish', p => p.topic === `open/${name}`)
  await watcher.expectSilence(200, isPublishOn(`private/${name}`))
})

test('a session taken over on another node under another username drops the queued messages it may not read', async t => {
  const clientId = uniqueName('mover')
  const persistent = { clientId, clean: false, properties: { sessionExpiryInterval: 300 } }
  const { client: first } = await connected(t, a.port, { ...persistent, username: 'alice' })
  first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'mail/#', qos: 1 }] })
  await first.expect('suback')
  first.send({ cmd: 'disconnect' })
  await first.closed()
  const { client: admin } = await connected(t, a.port, { username: 'admin' })
  const queued = `mail/${uniqueName('q')}`
  await publishQos1(admin, queued, 1)
  const { client: moved, sessionPresent } = await connected(t, b.port, { ...persistent, username: 'bob' })
  assert.equal(sessionPresent, true)
  await moved.expectSilence(500, isPublishOn(queued))
  // Still subscribed to mail/#, but bob may not read it.
  const later = `mail/${uniqueName('l')}`
  await publishQos1(admin, later, 2)
  await moved.expectSilence(300, isPublishOn(later))
})
