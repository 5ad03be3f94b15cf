/**
 * The dashboard's log tail (issue 13): the tap on the node's logger keeps a ring bounded in lines
 * and bytes; a stream's filter selects by actor, client id prefix and topic filter; and a reader
 * that does not read costs the node only its bounded queue: the lines beyond it are dropped,
 * counted exactly, and reported as one `gap` event once the reader catches up (over a real socket).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { LogTap } from '../src/core/log-tap.js'
import { createLogger } from '../src/core/log.js'
import { LogStreamHub, matchesLogFilter } from '../src/http/log-stream.js'
import { createHttpApp } from '../src/http/server.js'
import type { ApiParts } from '../src/http/api-parts.js'
import { fixedDefaults } from '../src/core/config/defaults.js'
import { Writable } from 'node:stream'
import { waitUntil, withTimeout } from './helpers/wait.js'
import type { Cleanup } from './helpers/mqtt-client.js'

function line (i: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ level: 'info', time: '2026-01-01T00:00:00.000Z', node: 'n1', actor: 'session', clientid: `c${i}`, msg: 'client_connected', pad: 'x'.repeat(200), ...extra }) + '\n'
}

/** An HTTP server streaming `hub` to each request; closed when the test ends. */
async function serve (t: Cleanup, hub: LogStreamHub): Promise<number> {
  const server = createServer((_request, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    hub.open(res, {})
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => {
    hub.closeAll()
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  })
  return (server.address() as AddressInfo).port
}

describe('log tap', () => {
  it('keeps the most recent lines within its line and byte bounds', () => {
    const tap = new LogTap({ maxLines: 3, maxBytes: 10_000 })
    for (let i = 0; i < 5; i++) tap.write(`{"i":${i}}\n`)
    assert.deepEqual(tap.recent(), ['{"i":2}', '{"i":3}', '{"i":4}'])
    const small = new LogTap({ maxLines: 100, maxBytes: 21 })
    for (let i = 0; i < 5; i++) small.write(`{"i":${i}}`)
    assert.deepEqual(small.recent(), ['{"i":2}', '{"i":3}', '{"i":4}'])
    small.write(`{"big":"${'y'.repeat(50)}"}`)
    assert.deepEqual(small.recent(), ['{"i":2}', '{"i":3}', '{"i":4}'], 'a line above the byte bound is not kept')
  })

  it('gets every line the root logger writes, as JSON, with the actor fields of a child', () => {
    const tap = new LogTap({ maxLines: 10, maxBytes: 100_000 })
    const sink = new Writable({ write (_chunk, _encoding, done) { done() } })
    const log = createLogger({ level: 'info', format: 'json', node: 'n1', destination: sink, tap })
    log.child({ actor: 'session', clientid: 'c1' }).info({ topic: 'a/b' }, 'message_dropped')
    log.debug({}, 'below_level')
    const [only, ...rest] = tap.recent()
    assert.deepEqual(rest, [])
    assert.deepEqual({ ...JSON.parse(only!) as object, time: undefined }, { level: 'info', time: undefined, node: 'n1', actor: 'session', clientid: 'c1', topic: 'a/b', msg: 'message_dropped' })
  })
})

describe('log stream filter', () => {
  const event = { actor: 'session', clientid: 'sensor-17', topic: 'sensors/hall/temp' }
  it('selects by actor (exact), client id (prefix) and topic filter', () => {
    assert.ok(matchesLogFilter({}, event))
    assert.ok(matchesLogFilter({ actor: 'session', clientid: 'sensor-', topic: 'sensors/+/temp' }, event))
    assert.ok(matchesLogFilter({ topic: 'sensors/#' }, event))
    assert.ok(!matchesLogFilter({ actor: 'sess' }, event))
    assert.ok(!matchesLogFilter({ clientid: 'other' }, event))
    assert.ok(!matchesLogFilter({ topic: 'sensors/+' }, event))
    assert.ok(matchesLogFilter({ topic: 'a/#' }, { filter: 'a/#' }), 'a subscription event names its filter')
    assert.ok(!matchesLogFilter({ clientid: 'x' }, { actor: 'cluster' }), 'an event without a client id does not match a client id filter')
  })
})

describe('log stream to a reader that does not read', () => {
  it('holds at most its bounded queue, drops the rest, and reports the exact count in one gap event', async (t) => {
    const tap = new LogTap({ maxLines: 10, maxBytes: 100_000 })
    const hub = new LogStreamHub(tap, { maxStreams: 2, queueLines: 100, queueBytes: 64 * 1024 })
    const port = await serve(t, hub)
    const socket = connect(port, '127.0.0.1')
    t.after(() => { socket.destroy() })
    let text = ''
    socket.setEncoding('utf8').on('data', (chunk: string) => { text += chunk })
    socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n')
    await waitUntil(() => hub.streams === 1, 5000, 'the stream to open')
    socket.pause()
    // Far more than the socket buffers hold: 40,000 lines of ~300 bytes (12 MB).
    const written = 40_000
    const started = Date.now()
    for (let i = 0; i < written; i++) tap.write(line(i))
    const writeMs = Date.now() - started
    assert.ok(hub.dropped > 0, 'lines were dropped at the bound')
    socket.resume()
    const received = (): number => text.split('event: log\n').length - 1
    const gaps = (): number[] => [...text.matchAll(/event: gap\ndata: (\{[^\n]*\})/g)].map(match => (JSON.parse(match[1]!) as { dropped: number }).dropped)
    await waitUntil(() => received() + gaps().reduce((a, b) => a + b, 0) === written, 10_000, `every line received or counted as dropped (${received()} received, gaps ${gaps().join(',')}, ${written} written)`)
    assert.equal(gaps().length, 1, 'one gap event for one stall')
    assert.equal(gaps()[0], hub.dropped)
    assert.ok(writeMs < 5000, `writing to the tap took ${writeMs} ms`)
    // After the gap the stream goes on.
    tap.write(line(written, { msg: 'after_gap' }))
    await waitUntil(() => text.includes('"msg":"after_gap"'), 5000, 'a line after the gap')
    assert.ok(text.indexOf('event: gap') < text.indexOf('after_gap'))
  })

  it('answers 503 to a stream beyond http.logStreams, over the HTTP API', async (t) => {
    const tap = new LogTap({ maxLines: 10, maxBytes: 100_000 })
    const log = createLogger({ level: 'info', format: 'json', node: 'n1', destination: new Writable({ write (_chunk, _encoding, done) { done() } }), tap })
    const app = createHttpApp({ context: { node: 'n1' }, logTap: tap } as unknown as ApiParts, undefined, log, { ...fixedDefaults().http, logStreams: 1 })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const abort = new AbortController()
    let closed = false
    t.after(async () => { abort.abort(); if (!closed) await app.close() })
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api/v1`
    const first = await fetch(`${base}/logs/stream?actor=session`, { signal: abort.signal })
    assert.equal(first.status, 200)
    assert.match(first.headers.get('content-type') ?? '', /^text\/event-stream/)
    const second = await fetch(`${base}/logs/stream`)
    assert.equal(second.status, 503)
    assert.match((await second.json() as { message: string }).message, /1 log streams are open/)
    assert.equal((await fetch(`${base}/logs/stream?level=x`)).status, 400, 'an unknown filter is a 400')
    // The open stream gets a matching line, not another actor's.
    log.child({ actor: 'cluster' }).info({}, 'other_actor')
    log.child({ actor: 'session', clientid: 'c1' }).info({}, 'client_connected')
    const reader = first.body!.pipeThrough(new TextDecoderStream()).getReader()
    let text = ''
    while (!text.includes('client_connected')) {
      const chunk = await reader.read()
      if (chunk.done) break
      text += chunk.value
    }
    assert.ok(text.includes('"msg":"client_connected"'))
    assert.ok(!text.includes('other_actor'))
    const info = await (await fetch(`${base}/dashboard`)).json() as { logStream: { available: boolean, maxStreams: number, streams: number } }
    assert.deepEqual([info.logStream.available, info.logStream.maxStreams, info.logStream.streams], [true, 1, 1])
    // Closing the server ends the open stream (it would hold the close), and lines logged after it go nowhere.
    await withTimeout(app.close(), 5000, 'the HTTP server to close with a log stream open')
    closed = true
    log.child({ actor: 'session', clientid: 'c1' }).info({}, 'after_close')
    for (;;) if ((await reader.read()).done) break
  })
})
