/**
 * The test helpers' own guarantees: every wait is bounded and abortable and cleans up after
 * itself, and a "nothing was delivered" check fails when the broker dropped the client, since a
 * closed connection receives nothing either.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestBroker } from './helpers/broker.js'
import { ClientClosedError, connectClient, Inbox } from './helpers/mqtt-client.js'
import { RawClient, SocketClosedError, UnexpectedPacketError } from './helpers/raw-client.js'
import { pollUntil, sleep, waitFor, WaitTimeoutError, waitUntil, withTimeout } from './helpers/wait.js'

test('a wait that runs out of time rejects with WaitTimeoutError naming what it waited for, and cleans up', async () => {
  let cleaned = false
  await assert.rejects(waitFor('the never event', () => () => { cleaned = true }, { timeoutMs: 20 }),
    (err: unknown) => err instanceof WaitTimeoutError && err.what === 'the never event' && err.timeoutMs === 20)
  assert.equal(cleaned, true)
})

test('a wait ends with the signal\'s reason when it is aborted, and cleans up', async () => {
  const controller = new AbortController()
  let cleaned = false
  const waiting = waitFor('the never event', () => () => { cleaned = true }, { timeoutMs: 10_000, signal: controller.signal })
  controller.abort(new Error('test over'))
  await assert.rejects(waiting, /test over/)
  assert.equal(cleaned, true)
  await assert.rejects(withTimeout(new Promise(() => {}), 10_000, 'anything', controller.signal), /test over/, 'an aborted signal ends a new wait at once')
})

test('a wait resolves with what its waiter settles on, and cleans up', async () => {
  let cleaned = false
  const value = await waitFor<number>('a value', ({ resolve }) => {
    setImmediate(() => { resolve(7) })
    return () => { cleaned = true }
  }, { timeoutMs: 1000 })
  assert.equal(value, 7)
  assert.equal(cleaned, true)
})

test('polling reports the last value seen when time runs out, and stops reading', async () => {
  let reads = 0
  await assert.rejects(pollUntil(() => ++reads, n => n >= 100, 100, 'a count of 100', { intervalMs: 10 }),
    (err: unknown) => err instanceof WaitTimeoutError && /a count of 100 \(last seen: \d+\)/.test(err.message))
  const after = reads
  await sleep(50)
  assert.equal(reads, after, 'no read after the wait ended')
  let flag = false
  setTimeout(() => { flag = true }, 20)
  await waitUntil(() => flag, 1000, 'the flag')
})

test('a raw client\'s expectSilence passes on an open, quiet connection and fails on a packet', async t => {
  const broker = await startTestBroker(t)
  const { client } = await RawClient.connected(broker.port, { clientId: 'silence-open' })
  t.after(() => { client.destroy() })
  await client.expectSilence(100)
  client.send({ cmd: 'pingreq' })
  await assert.rejects(client.expectSilence(1000), UnexpectedPacketError)
})

test('a raw client\'s expectSilence fails when the broker closes the connection', async t => {
  const broker = await startTestBroker(t)
  const { client } = await RawClient.connected(broker.port, { clientId: 'silence-dropped' })
  t.after(() => { client.destroy() })
  const silence = client.expectSilence(2000, p => p.cmd === 'publish')
  // A second connection with the same client id takes the session over: the broker closes the first.
  const { client: usurper } = await RawClient.connected(broker.port, { clientId: 'silence-dropped' })
  t.after(() => { usurper.destroy() })
  await assert.rejects(silence, SocketClosedError)
  await assert.rejects(client.expectSilence(100), SocketClosedError, 'a connection already closed is no silence either')
})

test('an inbox\'s expectNoMoreThan fails when the broker drops the client', async t => {
  const broker = await startTestBroker(t)
  const client = await connectClient(t, broker.port, { clientId: 'inbox-dropped' })
  const inbox = new Inbox(client)
  await inbox.expectNoMoreThan(0, 100)
  const quiet = inbox.expectNoMoreThan(0, 2000)
  await connectClient(t, broker.port, { clientId: 'inbox-dropped' })
  await assert.rejects(quiet, ClientClosedError)
  await assert.rejects(inbox.waitForCount(1, 1000), ClientClosedError, 'a closed client waits for nothing')
})
