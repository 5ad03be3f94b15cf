/**
 * The ACL file at start and on reload: a rewritten (or replaced) file applies to clients already
 * connected within a second, a broken rewrite keeps the last good rules, and a file that does not
 * parse (or does not exist) stops the node at start with the line to fix.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IConnectPacket } from 'mqtt-packet'
import { startTestBroker } from './helpers/broker.js'
import { RawClient } from './helpers/raw-client.js'
import { pollUntil, sleep, uniqueName } from './helpers/wait.js'

const dir = mkdtempSync(join(tmpdir(), 'meshmq-acl-reload-'))
after(() => { rmSync(dir, { recursive: true, force: true }) })

type Cleanup = { after: (fn: () => void) => void }

/** A reload must apply within this long (WatchedFile settles changes for 100 ms). */
const RELOAD_WITHIN_MS = 1000

async function connected (t: Cleanup, port: number, fields: Partial<IConnectPacket> = {}): Promise<RawClient> {
  const { client } = await RawClient.connected(port, { clientId: uniqueName('reload'), ...fields }, { protocolVersion: 5 })
  t.after(() => { client.destroy() })
  return client
}

let nextId = 1
/** The PUBACK reason code of a QoS 1 PUBLISH (0x87 when the ACL refuses it). */
async function publishCode (client: RawClient, topic: string): Promise<number> {
  const messageId = nextId++
  client.send({ cmd: 'publish', topic, payload: Buffer.from(topic), qos: 1, retain: false, dup: false, messageId })
  const puback = await client.waitFor('puback', p => p.messageId === messageId)
  return puback.reasonCode ?? 0
}

const ALLOWED = [0, 0x10]

test('a rewritten ACL file applies to connected clients within a second; a broken rewrite keeps the last good rules', async t => {
  const file = join(dir, 'rewrite.acl')
  writeFileSync(file, 'topic readwrite r/#\nuser admin\ntopic readwrite #\n')
  const broker = await startTestBroker(t, { auth: { aclFile: file } })
  const client = await connected(t, broker.port)
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'r/#', qos: 1 }] })
  assert.deepEqual((await client.expect('suback')).granted, [1])
  const admin = await connected(t, broker.port, { username: 'admin' })
  assert.ok(ALLOWED.includes(await publishCode(admin, 'r/closed/1')))
  await client.waitFor('publish', p => p.topic === 'r/closed/1')

  writeFileSync(file, 'topic readwrite r/open/#\nuser admin\ntopic readwrite #\n')
  const rewrittenAt = Date.now()
  await pollUntil(async () => await publishCode(client, 'r/closed/x'), code => code === 0x87, RELOAD_WITHIN_MS, 'the new rules to refuse r/closed/x')
  assert.ok(Date.now() - rewrittenAt <= RELOAD_WITHIN_MS)
  // The subscription to r/# stays, but what it may read changed with the file.
  await publishCode(admin, 'r/closed/2')
  await publishCode(admin, 'r/open/2')
  await client.waitFor('publish', p => p.topic === 'r/open/2')
  assert.equal(client.history.some(h => h.packet.cmd === 'publish' && h.packet.topic === 'r/closed/2'), false)

  writeFileSync(file, 'topic readwrite r/#\ntopic bogus r/x y\n')
  await sleep(500)
  assert.equal(await publishCode(client, 'r/closed/3'), 0x87)
  assert.ok(ALLOWED.includes(await publishCode(client, 'r/open/3')))
  const late = await connected(t, broker.port)
  assert.equal(await publishCode(late, 'r/closed/4'), 0x87)

  // A file renamed over the old one (as editors do) is read too.
  const replacement = join(dir, 'replacement.acl')
  writeFileSync(replacement, 'topic readwrite r/#\n')
  renameSync(replacement, file)
  await pollUntil(async () => await publishCode(client, 'r/closed/5'), code => ALLOWED.includes(code), RELOAD_WITHIN_MS, 'the replaced file to allow r/closed/5')
})

test('an ACL file that does not parse stops the node at start, naming the file and line', async t => {
  const file = join(dir, 'broken.acl')
  writeFileSync(file, '# ok\ntopic read a/#\ntopic maybe a/b\n')
  await assert.rejects(startTestBroker(t, { auth: { aclFile: file } }), (err: Error) => {
    assert.match(err.message, /broken\.acl' line 3: unknown access 'maybe'/)
    return true
  })
})

test('a missing ACL file stops the node at start', async t => {
  await assert.rejects(startTestBroker(t, { auth: { aclFile: join(dir, 'missing.acl') } }), /auth\.aclFile: cannot read/)
})
