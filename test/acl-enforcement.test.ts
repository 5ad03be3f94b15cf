/**
 * Authorization with an ACL file (auth.aclFile), over real sockets in MQTT 3.1.1 and 5: SUBACK
 * codes per filter, refused PUBLISH (acked, not routed), deliveries and retained messages a client
 * may not read, `$SYS` read-only, wills, and the counters in `$SYS`.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IConnectPacket, IPublishPacket } from 'mqtt-packet'
import { startTestBroker } from './helpers/broker.js'
import { RawClient, type ProtocolVersion } from './helpers/raw-client.js'
import { uniqueName } from './helpers/wait.js'

const ACL = `
# anonymous clients
topic read public/#
topic write anon/in

user alice
topic readwrite alice/#
topic deny alice/secret/#
topic read shared/#

user carol
topic read c/b

user bob
topic write shared/bob

user watcher
topic read #
topic deny private/#

user admin
topic readwrite #
topic readwrite $SYS/#

pattern readwrite devices/%c/#
pattern read inbox/%u
`

const dir = mkdtempSync(join(tmpdir(), 'meshmq-acl-'))
after(() => { rmSync(dir, { recursive: true, force: true }) })
const aclFile = join(dir, 'acl')
writeFileSync(aclFile, ACL)
const broker = await startTestBroker({ after }, { auth: { aclFile }, sys: { intervalMs: 200 } })

type Cleanup = { after: (fn: () => void) => void }
const VERSIONS: ProtocolVersion[] = [4, 5]

async function connected (t: Cleanup, version: ProtocolVersion, fields: Partial<IConnectPacket> = {}, port = broker.port): Promise<RawClient> {
  const { client, connack } = await RawClient.connected(port, { clientId: uniqueName('acl'), ...fields }, { protocolVersion: version })
  assert.equal(connack.returnCode ?? connack.reasonCode ?? 0, 0)
  t.after(() => { client.destroy() })
  return client
}

async function subscribe (client: RawClient, filters: string[], messageId = 1): Promise<number[]> {
  client.send({ cmd: 'subscribe', messageId, subscriptions: filters.map(topic => ({ topic, qos: 1 })) })
  const suback = await client.expect('suback')
  return suback.granted as number[]
}

async function subscribed (t: Cleanup, version: ProtocolVersion, filter: string, fields: Partial<IConnectPacket> = {}): Promise<RawClient> {
  const client = await connected(t, version, fields)
  assert.deepEqual(await subscribe(client, [filter]), [1])
  return client
}

/** PUBLISH QoS 1 and the PUBACK's reason code (0 when it has none). */
async function publishQos1 (client: RawClient, topic: string, messageId: number, retain = false): Promise<number> {
  client.send({ cmd: 'publish', topic, payload: Buffer.from('m'), qos: 1, retain, dup: false, messageId })
  const puback = await client.waitFor('puback', p => p.messageId === messageId)
  return puback.reasonCode ?? 0
}

const isPublishOn = (topic: string) => (packet: { cmd: string }) => packet.cmd === 'publish' && (packet as IPublishPacket).topic === topic

for (const version of VERSIONS) {
  const refused = version === 5 ? 0x87 : 0x80

  test(`v${version}: [MQTT-3.9.3-1] SUBACK has a code per filter: the ACL's refusals are 0x${refused.toString(16)} [MQTT-3.9.3-2], the others in the same SUBSCRIBE granted`, async t => {
    const alice = await connected(t, version, { username: 'alice' })
    assert.deepEqual(await subscribe(alice, ['alice/#', 'bob/#', 'shared/#', 'alice/+/x', 'public/#', 'inbox/alice', 'inbox/bob']),
      [1, refused, 1, 1, refused, 1, refused])
    const carol = await connected(t, version, { username: 'carol' })
    // A rule covers a subscription only when every topic it can match is allowed (c/b does not cover c/#).
    assert.deepEqual(await subscribe(carol, ['c/#', 'c/b', 'c/+']), [refused, 1, refused])
    const anon = await connected(t, version)
    assert.deepEqual(await subscribe(anon, ['public/#', '#', 'anon/in', `$share/g/public/${uniqueName('s')}`]), [1, refused, refused, 1])
  })

  test(`v${version}: a subscriber to # receives only what it may read`, async t => {
    const watcher = await subscribed(t, version, '#', { username: 'watcher' })
    const admin = await connected(t, version, { username: 'admin' })
    const hidden = `private/${uniqueName('p')}`
    const visible = `open/${uniqueName('o')}`
    assert.equal(await publishQos1(admin, hidden, 1), 0)
    assert.equal(await publishQos1(admin, visible, 2), 0)
    await watcher.waitFor('publish', p => p.topic === visible)
    await watcher.expectSilence(200, isPublishOn(hidden))
    assert.equal(watcher.history.some(h => isPublishOn(hidden)(h.packet)), false)
  })

  test(`v${version}: [MQTT-3.3.1-9] retained messages the client may not read are not sent on subscribe`, async t => {
    const admin = await connected(t, version, { username: 'admin' })
    const name = uniqueName('r')
    await publishQos1(admin, `private/${name}`, 1, true)
    await publishQos1(admin, `open/${name}`, 2, true)
    const watcher = await connected(t, version, { username: 'watcher' })
    assert.deepEqual(await subscribe(watcher, ['+/' + name]), [1])
    await watcher.waitFor('publish', p => p.topic === `open/${name}` && p.retain)
    await watcher.expectSilence(200, isPublishOn(`private/${name}`))
    // The admin may read both.
    assert.deepEqual(await subscribe(admin, ['+/' + name], 9), [1])
    await admin.waitFor('publish', p => p.topic === `private/${name}`)
  })

  test(`v${version}: pattern %c gives each client its own devices/<client id>/# and nothing of another's`, async t => {
    const clientId = uniqueName('dev')
    const dev = await connected(t, version, { clientId })
    assert.deepEqual(await subscribe(dev, [`devices/${clientId}/#`, 'devices/other/#', 'devices/+/x']), [1, refused, refused])
    const watcher = await subscribed(t, version, 'devices/#', { username: 'watcher' })
    await publishQos1(dev, `devices/other/t`, 3)
    await publishQos1(dev, `devices/${clientId}/t`, 4)
    await watcher.waitFor('publish', p => p.topic === `devices/${clientId}/t`)
    await watcher.expectSilence(100, isPublishOn('devices/other/t'))
  })
}

test('v5: [MQTT-3.4.2-1] a refused QoS 1 PUBLISH gets PUBACK 0x87 Not authorized and reaches no subscriber; QoS 2 gets PUBREC 0x87', async t => {
  const admin = await subscribed(t, 5, 'alice/#', { username: 'admin' })
  const alice = await connected(t, 5, { username: 'alice' })
  const secret = `alice/secret/${uniqueName('s')}`
  assert.equal(await publishQos1(alice, secret, 1), 0x87)
  alice.send({ cmd: 'publish', topic: secret, payload: Buffer.from('m'), qos: 2, retain: false, dup: false, messageId: 2 })
  const pubrec = await alice.waitFor('pubrec', p => p.messageId === 2)
  assert.equal(pubrec.reasonCode, 0x87)
  const open = `alice/${uniqueName('o')}`
  assert.equal(await publishQos1(alice, open, 3), 0)
  await admin.waitFor('publish', p => p.topic === open)
  assert.equal(admin.history.some(h => isPublishOn(secret)(h.packet)), false)
})

test('v3.1.1: a refused PUBLISH is acked as usual (PUBACK; PUBREC, PUBREL, PUBCOMP) and not delivered', async t => {
  const admin = await subscribed(t, 4, 'alice/#', { username: 'admin' })
  const alice = await connected(t, 4, { username: 'alice' })
  const secret = `alice/secret/${uniqueName('s')}`
  assert.equal(await publishQos1(alice, secret, 1), 0)
  alice.send({ cmd: 'publish', topic: secret, payload: Buffer.from('m'), qos: 2, retain: false, dup: false, messageId: 2 })
  await alice.waitFor('pubrec', p => p.messageId === 2)
  alice.send({ cmd: 'pubrel', messageId: 2 })
  await alice.waitFor('pubcomp', p => p.messageId === 2)
  alice.send({ cmd: 'publish', topic: secret, payload: Buffer.from('m'), qos: 0, retain: false, dup: false })
  const open = `alice/${uniqueName('o')}`
  assert.equal(await publishQos1(alice, open, 3), 0)
  await admin.waitFor('publish', p => p.topic === open)
  assert.equal(admin.history.some(h => isPublishOn(secret)(h.packet)), false)
})

test('$SYS is read-only for clients with an ACL file, even for one allowed $SYS/#: nothing retained there from a client', async t => {
  const admin = await connected(t, 5, { username: 'admin' })
  const topic = `$SYS/brokers/${uniqueName('x')}/version`
  assert.equal(await publishQos1(admin, topic, 1, true), 0x87)
  const v4 = await connected(t, 4, { username: 'admin' })
  assert.equal(await publishQos1(v4, topic, 1, true), 0)
  assert.deepEqual(await subscribe(admin, [topic], 2), [1])
  await admin.expectSilence(300, isPublishOn(topic))
})

test('a will to a topic its client may not publish to is not published; an allowed one is', async t => {
  const admin = await subscribed(t, 5, '#', { username: 'admin' })
  const denied = `private/${uniqueName('w')}`
  const bob = await connected(t, 4, { username: 'bob', will: { topic: denied, payload: Buffer.from('gone'), qos: 1, retain: false } })
  const carrier = await connected(t, 5, { username: 'bob', will: { topic: 'shared/bob', payload: Buffer.from(denied), qos: 1, retain: false } })
  bob.destroy()
  await new Promise(resolve => setTimeout(resolve, 100))
  carrier.destroy()
  await admin.waitFor('publish', p => p.topic === 'shared/bob' && p.payload.toString() === denied)
  assert.equal(admin.history.some(h => isPublishOn(denied)(h.packet)), false)
})

test('the refusals are counted in $SYS: messages/dropped/not_authorized, subscriptions/not_authorized, deliveries/not_authorized', async t => {
  const alice = await connected(t, 5, { username: 'alice' })
  await publishQos1(alice, 'alice/secret/counted', 1)
  await subscribe(alice, ['nope/#'], 2)
  const admin = await connected(t, 5, { username: 'admin' })
  const prefix = `$SYS/brokers/${broker.nodeName}/`
  const names = ['messages/dropped/not_authorized', 'subscriptions/not_authorized', 'deliveries/not_authorized']
  assert.deepEqual(await subscribe(admin, names.map(name => prefix + name), 3), [1, 1, 1])
  for (const name of names) {
    const value = await admin.waitFor('publish', p => p.topic === prefix + name && Number(p.payload.toString()) > 0, 3000)
    assert.ok(Number(value.payload.toString()) > 0, name)
  }
})

test('v5: a client resuming its session under another username gets none of the queued messages that username may not read', async t => {
  const clientId = uniqueName('resume')
  const persistent = { clientId, clean: false, properties: { sessionExpiryInterval: 300 } }
  const first = await connected(t, 5, { ...persistent, username: 'alice' })
  assert.deepEqual(await subscribe(first, ['shared/#']), [1])
  first.send({ cmd: 'disconnect' })
  await first.closed()
  const admin = await connected(t, 5, { username: 'admin' })
  const queued = `shared/${uniqueName('q')}`
  await publishQos1(admin, queued, 1)
  const { client: other, connack } = await RawClient.connected(broker.port, { ...persistent, username: 'bob' }, { protocolVersion: 5 })
  t.after(() => { other.destroy() })
  assert.equal(connack.sessionPresent, true)
  await other.expectSilence(300, isPublishOn(queued))
  // Back as alice: the message was taken out of the session, not kept for later.
  other.send({ cmd: 'disconnect' })
  await other.closed()
  const again = await connected(t, 5, { ...persistent, username: 'alice' })
  await again.expectSilence(200, isPublishOn(queued))
  const next = `shared/${uniqueName('n')}`
  await publishQos1(admin, next, 2)
  await again.waitFor('publish', p => p.topic === next)
})
