import '../src/core/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RequestFailedError, ServiceError } from '../network/errors.js'
import { freePort } from './helpers/ports.js'
import { startNode, NET_WAIT_MS } from './network-helpers.js'
import { waitUntil } from './helpers/wait.js'

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString()

test('a service request reaches the member, which sees who asked; errors come back typed', async (t) => {
  const ports = [await freePort(), await freePort()]
  const names = ports.map((_, i) => `s${i + 1}@127.0.0.1`)
  const seeds = names.map((name, i) => `${name}:${ports[i]}`)
  const a = await startNode(t, { name: names[0]!, port: ports[0]!, discovery: 'static', seeds })
  const b = await startNode(t, { name: names[1]!, port: ports[1]!, discovery: 'static', seeds })
  await waitUntil(() => a.runningMembers().length === 1 && b.runningMembers().length === 1, NET_WAIT_MS, 'a and b up')
  assert.deepStrictEqual(a.runningMembers(), [names[1]])

  b.serve('echo', (from, payload) => Buffer.from(`${from}:${text(payload)}`))
  b.serve('fail', () => { throw new Error('no such session') })

  assert.equal(text(await a.request(names[1]!, 'echo', Buffer.from('hi'))), `${names[0]}:hi`)
  const big = Buffer.alloc(3 * 1024 * 1024, 7)
  b.serve('size', (_from, payload) => Buffer.from(String(payload.byteLength)))
  assert.equal(text(await a.request(names[1]!, 'size', big)), String(big.byteLength))

  await assert.rejects(a.request(names[1]!, 'fail', new Uint8Array()), (err: unknown) =>
    err instanceof ServiceError && err.message.includes('no such session'))
  await assert.rejects(a.request(names[1]!, 'nothing-here', new Uint8Array()), (err: unknown) =>
    err instanceof ServiceError && err.message.includes('unknown cluster service'))
  await assert.rejects(a.request('ghost@127.0.0.1', 'echo', new Uint8Array()), RequestFailedError)
})
