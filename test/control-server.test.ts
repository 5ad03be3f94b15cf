/**
 * The control endpoint behind `meshmq ctl`, driven by the real client (`sendControlRequest`) and
 * the real command (`meshmq ctl`), against a fake cluster.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { execFile } from 'node:child_process'
import { chmodSync, copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { sendControlRequest } from '../src/ctl.js'
import { createLogger } from '../src/core/log.js'
import {
  ControlServer, ControlHostNotLoopbackError, DEFAULT_SECRET_WARNING, TOKEN_REFUSAL, formatClusterStatus, isLoopbackHost,
  type ClusterAdmin, type ClusterStatus, type ControlBinding
} from '../src/control-server.js'
import { recordControlAddress, writeControlToken, type ControlTarget } from '../src/control-endpoint-file.js'
import type { ControlTransport } from '../src/core/config/config.js'
import { waitFor } from './helpers/wait.js'

interface Cleanup { after: (fn: () => unknown) => void }

/** Bound on every wait for the server or the fake cluster. */
const WAIT_MS = 5000

/** A cluster that records the calls it gets; `status` reflects joins and leaves. */
class FakeCluster implements ClusterAdmin {
  readonly calls: string[] = []
  readonly #callListeners = new Set<() => void>()
  running = ['n1@127.0.0.1']
  stopped: string[] = []
  /** When set, every call waits on it first. */
  gate: Promise<void> | undefined
  /** When set, mutating calls reject with it. */
  failure: Error | undefined
  defaultSecret = false
  /** Who asked for each force-leave, as the server passed it. */
  readonly forceLeaveRequesters: string[] = []

  async status (): Promise<ClusterStatus> {
    this.#record('status')
    await this.gate
    return { runningNodes: [...this.running], stoppedNodes: [...this.stopped] }
  }

  async join (node: string): Promise<void> {
    this.#record(`join ${node}`)
    await this.gate
    if (this.failure !== undefined) throw this.failure
    this.running.push(node.replace(/:\d+$/, ''))
  }

  async leave (): Promise<void> {
    this.#record('leave')
    await this.gate
    if (this.failure !== undefined) throw this.failure
    this.running = this.running.slice(0, 1)
  }

  usesDefaultSecret (): boolean {
    return this.defaultSecret
  }

  async forceLeave (node: string, requestedBy: string): Promise<void> {
    this.#record(`force-leave ${node}`)
    this.forceLeaveRequesters.push(requestedBy)
    await this.gate
    if (this.failure !== undefined) throw this.failure
    this.running = this.running.filter(n => n !== node)
    this.stopped = this.stopped.filter(n => n !== node)
  }

  async routes (): Promise<Array<{ filter: string, nodes: string[] }>> {
    this.#record('routes')
    await this.gate
    return [{ filter: 'a/#', nodes: ['n1@127.0.0.1', 'n2@127.0.0.1'] }]
  }

  /** Resolves once the control server has called the cluster with `call` (e.g. `join n2@127.0.0.1`). */
  async waitForCall (call: string): Promise<void> {
    await waitFor<undefined>(`the cluster to get ${call} (has ${JSON.stringify(this.calls)})`, ({ resolve }) => {
      const check = (): void => { if (this.calls.includes(call)) resolve(undefined) }
      this.#callListeners.add(check)
      check()
      return () => { this.#callListeners.delete(check) }
    }, { timeoutMs: WAIT_MS })
  }

  #record (call: string): void {
    this.calls.push(call)
    for (const listener of [...this.#callListeners]) listener()
  }
}

/** The control server's JSON log lines, as they are written. */
class LogRecorder {
  readonly lines: Array<Record<string, unknown>> = []
  readonly #listeners = new Set<() => void>()

  readonly destination = new Writable({
    write: (chunk: Buffer, _encoding, callback) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') this.lines.push(JSON.parse(line) as Record<string, unknown>)
      for (const listener of [...this.#listeners]) listener()
      callback()
    }
  })

  /** Resolves with the first line (written or coming) whose event is `event` and for which `match` holds. */
  async waitForEvent (event: string, match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    return await waitFor<Record<string, unknown>>(`a ${event} log event`, ({ resolve }) => {
      const check = (): void => {
        const line = this.lines.find(l => l.msg === event && match(l))
        if (line !== undefined) resolve(line)
      }
      this.#listeners.add(check)
      check()
      return () => { this.#listeners.delete(check) }
    }, { timeoutMs: WAIT_MS })
  }
}

interface Fixture { server: ControlServer, cluster: FakeCluster, logs: LogRecorder, endpoint: ControlTarget, dataDir: string }

/**
 * A control server over a fake cluster, on a Unix socket (default) or a loopback TCP port with a
 * token, recorded in a temporary data directory as a node records it (`ctl.json`, `ctl.token`).
 */
async function startControl (t: Cleanup, options: { requestTimeoutMs?: number, maxRequestBytes?: number, transport?: ControlTransport } = {}): Promise<Fixture> {
  const { transport = 'unix', ...limits } = options
  const dataDir = mkdtempSync(join(tmpdir(), 'meshmq-ctl-'))
  t.after(() => { rmSync(dataDir, { recursive: true, force: true }) })
  const logs = new LogRecorder()
  const log = createLogger({ level: 'debug', format: 'json', node: 'n1@127.0.0.1', destination: logs.destination })
  const cluster = new FakeCluster()
  const bind: ControlBinding = transport === 'unix'
    ? { transport, path: join(dataDir, 'ctl.sock') }
    : { transport, host: '127.0.0.1', port: 0, token: writeControlToken(dataDir) }
  const server = new ControlServer({ bind, admin: cluster, log, ...limits })
  await server.listen()
  t.after(async () => { await server.close() })
  recordControlAddress(dataDir, server.address)
  const endpoint: ControlTarget = bind.transport === 'tcp' ? { ...server.address, token: bind.token } : server.address
  return { server, cluster, logs, endpoint, dataDir }
}

/** Sends raw bytes, optionally half-closing, and resolves with everything the server sent back before closing. */
async function rawExchange (endpoint: ControlTarget, bytes: string, halfClose: boolean): Promise<string> {
  const socket = endpoint.transport === 'unix' ? net.connect({ path: endpoint.path }) : net.connect({ host: endpoint.host, port: endpoint.port })
  let received = ''
  socket.setEncoding('utf8')
  socket.on('connect', () => {
    if (halfClose) socket.end(bytes)
    else socket.write(bytes)
  })
  socket.on('data', (chunk: string) => { received += chunk })
  socket.on('error', () => { /* the server may reset a connection it has answered */ })
  return await waitFor<string>('the control server to reply and close', ({ resolve }) => {
    socket.on('close', () => { resolve(received) })
    return () => { socket.destroy() }
  }, { timeoutMs: 3000 })
}

/** `meshmq` itself: the TypeScript entry under tsx, the compiled one when the tests run from dist/. */
const runningFromSource = import.meta.url.endsWith('.ts')
const meshmqArgs = runningFromSource
  ? ['--import', 'tsx', fileURLToPath(new URL('../src/main.ts', import.meta.url))]
  : [fileURLToPath(new URL('../src/main.js', import.meta.url))]

test('cluster status replies with running and stopped nodes as JSON and in the EMQX text form', async t => {
  const { cluster, endpoint } = await startControl(t)
  cluster.running = ['n1@127.0.0.1', 'n2@127.0.0.1']
  cluster.stopped = ['n3@127.0.0.1']
  const reply = await sendControlRequest(endpoint, { args: ['cluster', 'status'] })
  assert.deepEqual(reply, {
    ok: true,
    result: { running_nodes: ['n1@127.0.0.1', 'n2@127.0.0.1'], stopped_nodes: ['n3@127.0.0.1'], default_secret: false },
    text: "Cluster status: [{running_nodes,['n1@127.0.0.1','n2@127.0.0.1']},{stopped_nodes,['n3@127.0.0.1']}]"
  })
})

test('cluster status of a node on the public default secret says so, in the JSON and in a text line', async t => {
  const { cluster, endpoint } = await startControl(t)
  cluster.defaultSecret = true
  const reply = await sendControlRequest(endpoint, { args: ['cluster', 'status'] })
  assert.deepEqual(reply.result, { running_nodes: ['n1@127.0.0.1'], stopped_nodes: [], default_secret: true })
  assert.equal(reply.text, `Cluster status: [{running_nodes,['n1@127.0.0.1']},{stopped_nodes,[]}]\n${DEFAULT_SECRET_WARNING}`)
  assert.match(DEFAULT_SECRET_WARNING, /default cluster secret.*MESHMQ_CLUSTER_SECRET, or --secret-file FILE/)
})

test('routes list replies with every filter and its nodes', async t => {
  const { endpoint } = await startControl(t)
  const reply = await sendControlRequest(endpoint, { args: ['routes', 'list'] })
  assert.deepEqual(reply, {
    ok: true,
    result: [{ filter: 'a/#', nodes: ['n1@127.0.0.1', 'n2@127.0.0.1'] }],
    text: 'a/# -> n1@127.0.0.1,n2@127.0.0.1'
  })
})

test('formatClusterStatus prints empty lists as []', () => {
  assert.equal(formatClusterStatus({ runningNodes: ['a@h'], stoppedNodes: [] }), "Cluster status: [{running_nodes,['a@h']},{stopped_nodes,[]}]")
})

test('cluster join passes the node (with or without a port) to the cluster and answers with the new status', async t => {
  const { cluster, endpoint } = await startControl(t)
  const reply = await sendControlRequest(endpoint, { args: ['cluster', 'join', 'n2@127.0.0.1:4372'] })
  assert.equal(reply.ok, true)
  assert.deepEqual(reply.result, { running_nodes: ['n1@127.0.0.1', 'n2@127.0.0.1'], stopped_nodes: [] })
  assert.equal(reply.text, "Join the cluster successfully.\nCluster status: [{running_nodes,['n1@127.0.0.1','n2@127.0.0.1']},{stopped_nodes,[]}]")
  await sendControlRequest(endpoint, { args: ['cluster', 'join', 'n3@127.0.0.1'] })
  assert.deepEqual(cluster.calls.filter(c => c.startsWith('join')), ['join n2@127.0.0.1:4372', 'join n3@127.0.0.1'])
})

test('cluster leave and force-leave reach the cluster', async t => {
  const { cluster, endpoint } = await startControl(t, { transport: 'tcp' })
  cluster.running = ['n1@127.0.0.1', 'n2@127.0.0.1', 'n3@127.0.0.1']
  const forced = await sendControlRequest(endpoint, { args: ['cluster', 'force-leave', 'n3@127.0.0.1'] })
  assert.equal(forced.ok, true)
  assert.match(forced.text ?? '', /^Remove the node n3@127\.0\.0\.1 from the cluster successfully\.\n/)
  assert.deepEqual(forced.result, { running_nodes: ['n1@127.0.0.1', 'n2@127.0.0.1'], stopped_nodes: [] })
  const left = await sendControlRequest(endpoint, { args: ['cluster', 'leave'] })
  assert.equal(left.ok, true)
  assert.match(left.text ?? '', /^Leave the cluster successfully\./)
  assert.deepEqual(cluster.calls.filter(c => c !== 'status'), ['force-leave n3@127.0.0.1', 'leave'])
  assert.equal(cluster.forceLeaveRequesters.length, 1)
  assert.match(cluster.forceLeaveRequesters[0]!, /^ctl 127\.0\.0\.1:\d+$/, 'the cluster is told which control client asked')
})

test('a failing cluster operation is answered with ok:false and its message', async t => {
  const { cluster, endpoint } = await startControl(t)
  cluster.failure = new Error('node n9@127.0.0.1 is unreachable')
  const reply = await sendControlRequest(endpoint, { args: ['cluster', 'join', 'n9@127.0.0.1'] })
  assert.deepEqual(reply, { ok: false, error: 'node n9@127.0.0.1 is unreachable' })
})

test('malformed and unknown commands are rejected without calling the cluster', async t => {
  const { cluster, endpoint } = await startControl(t)
  const cases: Array<{ args: string[], error: RegExp }> = [
    { args: [], error: /unknown command/ },
    { args: ['cluster', 'explode'], error: /unknown command 'cluster explode'/ },
    { args: ['status'], error: /unknown command 'status'/ },
    { args: ['cluster', 'join'], error: /expects one node/ },
    { args: ['cluster', 'join', 'not-a-node-name'], error: /name@host/ },
    { args: ['cluster', 'join', 'n2@h', 'extra'], error: /expects one node/ },
    { args: ['cluster', 'leave', 'n2@h'], error: /takes no argument/ },
    { args: ['cluster', 'status', 'now'], error: /takes no argument/ }
  ]
  for (const { args, error } of cases) {
    const reply = await sendControlRequest(endpoint, { args })
    assert.equal(reply.ok, false, `args ${JSON.stringify(args)}`)
    assert.match(reply.error ?? '', error, `args ${JSON.stringify(args)}`)
  }
  assert.deepEqual(cluster.calls, [])
})

test('a request line that is not {"args":[string...]} JSON is rejected', async t => {
  const { endpoint } = await startControl(t)
  const notJson = JSON.parse(await rawExchange(endpoint, 'cluster status\n', false)) as { ok: boolean, error: string }
  assert.deepEqual(notJson, { ok: false, error: 'request is not valid JSON' })
  const wrongShape = JSON.parse(await rawExchange(endpoint, '{"args":["cluster",7]}\n', false)) as { ok: boolean, error: string }
  assert.deepEqual(wrongShape, { ok: false, error: 'request must be {"args":[string, ...]}' })
})

test('a client that half-closes after its request without a newline still gets its reply', async t => {
  const { endpoint } = await startControl(t)
  const reply = JSON.parse(await rawExchange(endpoint, '{"args":["cluster","status"]}', true)) as { ok: boolean }
  assert.equal(reply.ok, true)
})

test('a request longer than the size limit is refused and the connection closed', async t => {
  const { endpoint, cluster } = await startControl(t, { maxRequestBytes: 1024 })
  const huge = JSON.stringify({ args: ['cluster', 'join', `${'x'.repeat(4096)}@h`] })
  const reply = await rawExchange(endpoint, huge, false)
  assert.deepEqual(JSON.parse(reply), { ok: false, error: 'request larger than 1024 bytes' })
  assert.deepEqual(cluster.calls, [])
})

test('a cluster operation that does not finish in time is answered with a timeout error', async t => {
  const { cluster, endpoint } = await startControl(t, { requestTimeoutMs: 200 })
  cluster.gate = new Promise<void>(() => {})
  const started = Date.now()
  const reply = await sendControlRequest(endpoint, { args: ['cluster', 'join', 'n2@127.0.0.1'] })
  assert.deepEqual(reply, { ok: false, error: 'cluster join did not finish within 200 ms' })
  assert.ok(Date.now() - started < 2000)
})

test('a connection that sends no complete request is answered and closed after the timeout', async t => {
  const { endpoint } = await startControl(t, { requestTimeoutMs: 200 })
  const reply = await rawExchange(endpoint, '{"args":', false)
  assert.deepEqual(JSON.parse(reply), { ok: false, error: 'no complete request within 200 ms' })
})

test('membership changes run one at a time in arrival order', async t => {
  const { cluster, endpoint, logs } = await startControl(t)
  let open!: () => void
  cluster.gate = new Promise<void>(resolve => { open = resolve })
  const first = sendControlRequest(endpoint, { args: ['cluster', 'join', 'n2@127.0.0.1'] })
  await cluster.waitForCall('join n2@127.0.0.1')
  const second = sendControlRequest(endpoint, { args: ['cluster', 'force-leave', 'n2@127.0.0.1'] })
  await logs.waitForEvent('ctl_request', line => JSON.stringify(line.args) === '["cluster","force-leave","n2@127.0.0.1"]')
  assert.deepEqual(cluster.calls, ['join n2@127.0.0.1'], 'the second change, received, waits for the first')
  open()
  const [joined, forced] = await Promise.all([first, second])
  assert.equal(joined.ok, true)
  assert.equal(forced.ok, true)
  assert.deepEqual(cluster.calls, ['join n2@127.0.0.1', 'status', 'force-leave n2@127.0.0.1', 'status'], 'each change and its status reply run in turn')
  assert.deepEqual(cluster.running, ['n1@127.0.0.1'])
})

test('a membership change that never finishes frees the queue after the timeout', async t => {
  const { cluster, endpoint } = await startControl(t, { requestTimeoutMs: 200 })
  cluster.gate = new Promise<void>(() => {})
  const stuck = sendControlRequest(endpoint, { args: ['cluster', 'join', 'n2@127.0.0.1'] })
  await cluster.waitForCall('join n2@127.0.0.1')
  cluster.gate = undefined
  assert.deepEqual(await stuck, { ok: false, error: 'cluster join did not finish within 200 ms' })
  // The join never ends; the next change still runs, and answers within its own timeout.
  const next = await sendControlRequest(endpoint, { args: ['cluster', 'force-leave', 'n3@127.0.0.1'] })
  assert.equal(next.ok, true)
  assert.deepEqual(cluster.calls.filter(c => c !== 'status'), ['join n2@127.0.0.1', 'force-leave n3@127.0.0.1'])
})

test('every command is logged as a ctl_command event with its outcome', async t => {
  const { cluster, endpoint, logs } = await startControl(t)
  await sendControlRequest(endpoint, { args: ['cluster', 'status'] })
  cluster.failure = new Error('refused')
  await sendControlRequest(endpoint, { args: ['cluster', 'leave'] })
  const events = logs.lines.filter(line => line.msg === 'ctl_command')
  assert.equal(events.length, 2)
  assert.deepEqual(events.map(e => [e.args, e.ok, e.error]), [
    [['cluster', 'status'], true, undefined],
    [['cluster', 'leave'], false, 'refused']
  ])
  assert.equal(events[1]?.level, 'warn')
})

test('the endpoint refuses to bind a non-loopback address unless told to', () => {
  const admin = new FakeCluster()
  const log = createLogger({ level: 'silent', format: 'json', node: 'n1@127.0.0.1' })
  for (const host of ['0.0.0.0', '10.77.0.1', '::', 'example.com']) {
    assert.throws(() => new ControlServer({ bind: { transport: 'tcp', host, port: 0, token: 't' }, admin, log }), ControlHostNotLoopbackError, host)
  }
  assert.doesNotThrow(() => new ControlServer({ bind: { transport: 'tcp', host: '10.77.0.1', port: 0, token: 't' }, admin, log, allowNonLoopback: true }))
  for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(host), true, host)
})

test('listen rejects when the port is taken', async t => {
  const { endpoint } = await startControl(t, { transport: 'tcp' })
  assert.equal(endpoint.transport, 'tcp')
  const log = createLogger({ level: 'silent', format: 'json', node: 'n2@127.0.0.1' })
  const second = new ControlServer({ bind: { transport: 'tcp', host: '127.0.0.1', port: endpoint.port, token: 't' }, admin: new FakeCluster(), log })
  await assert.rejects(second.listen(), { code: 'EADDRINUSE' })
})

/** Runs `meshmq ctl <args>` and resolves with its exit code and output. */
async function meshmqCtl (...args: string[]): Promise<{ stdout: string, stderr: string, code: number }> {
  return await new Promise(resolve => {
    execFile(process.execPath, [...meshmqArgs, 'ctl', ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ stdout, stderr, code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1 })
    })
  })
}

for (const transport of ['unix', 'tcp'] as const) {
  test(`\`meshmq ctl --data-dir DIR cluster status\` finds the ${transport} endpoint the directory records, prints the EMQX text and \`--json\` the result`, async t => {
    const { cluster, dataDir } = await startControl(t, { transport })
    cluster.running = ['n1@127.0.0.1', 'n2@127.0.0.1']
    const text = await meshmqCtl('--data-dir', dataDir, 'cluster', 'status')
    assert.deepEqual(text, { stdout: "Cluster status: [{running_nodes,['n1@127.0.0.1','n2@127.0.0.1']},{stopped_nodes,[]}]\n", stderr: '', code: 0 })
    const json = await meshmqCtl('--json', '--data-dir', dataDir, 'cluster', 'status')
    assert.equal(json.code, 0)
    assert.deepEqual(JSON.parse(json.stdout), { running_nodes: ['n1@127.0.0.1', 'n2@127.0.0.1'], stopped_nodes: [], default_secret: false })
    cluster.failure = new Error('not in a cluster')
    assert.equal((await meshmqCtl('--data-dir', dataDir, 'cluster', 'leave')).code, 1)
  })
}

test('`meshmq ctl --control HOST:PORT` reaches a TCP endpoint with the token of --data-dir, and is refused without it', async t => {
  const { endpoint, dataDir, cluster } = await startControl(t, { transport: 'tcp' })
  assert.equal(endpoint.transport, 'tcp')
  const control = `127.0.0.1:${endpoint.port}`
  const withToken = await meshmqCtl('--control', control, '--data-dir', dataDir, 'cluster', 'status')
  assert.equal(withToken.code, 0, withToken.stderr)
  const without = await meshmqCtl('--control', control, 'cluster', 'leave')
  assert.equal(without.code, 1)
  assert.match(without.stderr, /refused: this control endpoint requires the token .*ctl\.token/)
  assert.deepEqual(cluster.calls, ['status'], 'the refused leave never reached the cluster')
})

test('the TCP endpoint refuses a request without the token or with a wrong one, logs ctl_refused with the client, and runs one with the right token', async t => {
  const { endpoint, cluster, logs } = await startControl(t, { transport: 'tcp' })
  assert.equal(endpoint.transport, 'tcp')
  const { token, ...address } = endpoint
  assert.match(token ?? '', /^[0-9a-f]{64}$/, '32 random bytes, hex')
  const missing = await sendControlRequest(address, { args: ['cluster', 'leave'] })
  assert.deepEqual(missing, { ok: false, error: TOKEN_REFUSAL })
  const wrong = await sendControlRequest({ ...address, token: '0'.repeat(64) }, { args: ['cluster', 'force-leave', 'n2@127.0.0.1'] })
  assert.deepEqual(wrong, { ok: false, error: TOKEN_REFUSAL })
  const short = await sendControlRequest({ ...address, token: 'x' }, { args: ['cluster', 'status'] })
  assert.deepEqual(short, { ok: false, error: TOKEN_REFUSAL })
  assert.deepEqual(cluster.calls, [], 'no refused request reached the cluster')
  const refused = logs.lines.filter(line => line.msg === 'ctl_refused')
  assert.deepEqual(refused.map(line => line.reason), ['missing_token', 'wrong_token', 'wrong_token'])
  for (const line of refused) {
    assert.equal(line.level, 'warn')
    assert.match(String(line.client), /^127\.0\.0\.1:\d+$/, 'the refusal names the client address')
  }
  const right = await sendControlRequest(endpoint, { args: ['cluster', 'leave'] })
  assert.equal(right.ok, true)
  assert.deepEqual(cluster.calls.filter(c => c !== 'status'), ['leave'])
})

test('the Unix socket is mode 0600, and another OS user (nobody) cannot connect to it: EACCES', { skip: process.getuid?.() === 0 ? false : 'switching to user nobody needs root' }, async t => {
  const { endpoint, dataDir, cluster } = await startControl(t)
  assert.equal(endpoint.transport, 'unix')
  assert.equal(statSync(endpoint.path).mode & 0o777, 0o600)
  // Let everyone through the directory: only the socket's own mode stands in the way.
  chmodSync(dataDir, 0o755)
  const probe = `const s = require('node:net').connect(${JSON.stringify(endpoint.path)});
s.on('connect', () => { s.write('{"args":["cluster","leave"]}\\n'); console.log('connected') });
s.on('error', err => { console.log(err.code); process.exit(0) });
s.on('data', () => process.exit(0))`
  // The Node binary may sit where nobody cannot reach it (`npx node@22` keeps it under root's
  // home): the probe runs a copy nobody may execute.
  const binDir = mkdtempSync(join(tmpdir(), 'meshmq-probe-'))
  t.after(() => { rmSync(binDir, { recursive: true, force: true }) })
  chmodSync(binDir, 0o755)
  const node = join(binDir, 'node')
  copyFileSync(process.execPath, node)
  chmodSync(node, 0o755)
  const outcome = await new Promise<string>((resolve, reject) => {
    execFile(node, ['-e', probe], { uid: 65534, gid: 65534, cwd: '/', timeout: 10_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`probe failed: ${stderr}`, { cause: err }))
      else resolve(stdout.trim())
    })
  })
  assert.equal(outcome, 'EACCES')
  assert.deepEqual(cluster.calls, [])
  // The node's own user still gets in.
  assert.equal((await sendControlRequest(endpoint, { args: ['cluster', 'status'] })).ok, true)
})
