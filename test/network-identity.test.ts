import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { loadNodeIdentity } from '../network/node-identity.js'
import { parseDialAddress } from '../network/node-name.js'
import { prologueFromSecret } from '../network/secret-prologue.js'
import { tempDir } from './network-helpers.js'

test('node addresses: name@host[:port] or a multiaddr', () => {
  const withPort = parseDialAddress('n2@127.0.0.1:9000')
  assert.equal(withPort.node, 'n2@127.0.0.1')
  assert.equal(withPort.multiaddr.toString(), '/ip4/127.0.0.1/tcp/9000')
  assert.equal(parseDialAddress('meshmq3@10.0.0.3').multiaddr.toString(), '/ip4/10.0.0.3/tcp/4373')
  assert.equal(parseDialAddress('n1@[::1]:4371').multiaddr.toString(), '/ip6/::1/tcp/4371')
  assert.equal(parseDialAddress('n1@db.local:1').multiaddr.toString(), '/dns/db.local/tcp/1')
  assert.equal(parseDialAddress('/ip4/1.2.3.4/tcp/5').node, undefined)
  for (const bad of ['n1@h:0', 'n1@h:70000', 'n1@h:x', 'h:1', '/not-a-protocol/1']) {
    assert.throws(() => parseDialAddress(bad), { name: 'InvalidNodeAddressError' }, bad)
  }
})

test('the handshake prologue depends only on the secret', () => {
  assert.equal(prologueFromSecret('s3cret').byteLength, 32)
  assert.deepStrictEqual(prologueFromSecret('s3cret'), prologueFromSecret('s3cret'))
  assert.notDeepStrictEqual(prologueFromSecret('s3cret'), prologueFromSecret('s3cret2'))
  assert.throws(() => prologueFromSecret(''), { name: 'InvalidClusterSecretError' })
})

test('the data directory keeps the private key and refuses another node name', async (t) => {
  const dir = await tempDir(t)
  const first = await loadNodeIdentity('n1@h', dir)
  const again = await loadNodeIdentity('n1@h', dir)
  assert.ok(again.publicKey.equals(first.publicKey), 'same key, so the same peer id')
  assert.equal((JSON.parse(await readFile(join(dir, 'node.json'), 'utf8')) as { name: string }).name, 'n1@h')
  await assert.rejects(loadNodeIdentity('n2@h', dir), (err: Error & { recordedName?: string }) => {
    assert.equal(err.name, 'NodeNameMismatchError')
    assert.equal(err.recordedName, 'n1@h')
    assert.match(err.message, /belongs to node "n1@h"; refusing to start as "n2@h"/)
    return true
  })
})

test('a corrupt identity file is reported, not replaced', async (t) => {
  const dir = await tempDir(t)
  await loadNodeIdentity('n1@h', dir)
  await writeFile(join(dir, 'libp2p.key'), 'garbage')
  await assert.rejects(loadNodeIdentity('n1@h', dir), { name: 'CorruptDataDirError' })
  await writeFile(join(dir, 'node.json'), '{not json')
  await assert.rejects(loadNodeIdentity('n1@h', dir), { name: 'CorruptDataDirError' })
})
