/**
 * The control endpoint of real node processes (issue 10): by default a Unix socket in the data
 * directory that only the node's user can open, found by `meshmq ctl` from `--node` / `--data-dir`;
 * a stale socket of a killed node is replaced, a running node's is not taken; a data directory too
 * long for a socket path is a config error naming the key; the TCP transport needs the token the
 * node writes at each start.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sendControlRequest } from '../src/ctl.js'
import { ctlJson } from './helpers/cluster.js'
import { launchNode, logEvent, mainScript, NodeExitedError, startNode } from './helpers/node-process.js'
import { childEnvironment } from './helpers/meshmq-process.js'
import { freePorts } from './helpers/ports.js'

const CTL_TIMEOUT_MS = 20_000

/** A temporary directory removed when the test ends. */
function tempDir (t: { after: (fn: () => void) => void }, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

/** `meshmq ctl <args>` run in `cwd`, with its exit code and output. */
async function ctlIn (cwd: string, ...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise(resolve => {
    execFile(process.execPath, [mainScript(), 'ctl', ...args], { cwd, env: childEnvironment({}), timeout: CTL_TIMEOUT_MS, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

test('a node listens on <dataDir>/ctl.sock (mode 0600) and `meshmq ctl --node NAME cluster status` finds it in ./data/NAME', async t => {
  const workDir = tempDir(t, 'meshmq-ctlwork-')
  const name = 'ctlsock1@127.0.0.1'
  const dataDir = join(workDir, 'data', name)
  const [clusterPort] = await freePorts(1)
  const node = await startNode(t, { name, clusterPort, dataDir })
  const socket = join(dataDir, 'ctl.sock')
  assert.equal(statSync(socket).mode & 0o777, 0o600)
  assert.equal(statSync(socket).uid, process.getuid?.(), 'owned by the node\'s user')
  assert.deepEqual(JSON.parse(readFileSync(join(dataDir, 'ctl.json'), 'utf8')), { transport: 'unix', path: socket })
  const byName = await ctlIn(workDir, '--node', name, '--json', 'cluster', 'status')
  assert.equal(byName.code, 0, byName.stderr)
  assert.deepEqual(JSON.parse(byName.stdout), { running_nodes: [name], stopped_nodes: [], default_secret: true })
  const byDir = await ctlIn(workDir, '--data-dir', dataDir, 'cluster', 'status')
  assert.equal(byDir.code, 0, byDir.stderr)
  assert.match(byDir.stdout, /^Cluster status: \[\{running_nodes,\['ctlsock1@127\.0\.0\.1'\]\}/)
  const elsewhere = await ctlIn(workDir, '--node', 'other9@127.0.0.1', 'cluster', 'status')
  assert.equal(elsewhere.code, 1)
  assert.match(elsewhere.stderr, /no control endpoint recorded in .*other9@127\.0\.0\.1\/ctl\.json/)
  await node.stop()
  assert.equal(existsSync(socket), false, 'the socket is removed when the node stops')
  assert.equal(existsSync(join(dataDir, 'ctl.json')), false, 'and the endpoint record')
})

test('a socket left by a killed node is replaced at restart; a running node\'s socket is not taken by another node', async t => {
  const dataDir = tempDir(t, 'meshmq-ctlstale-')
  const [clusterA, clusterB, clusterC] = await freePorts(3)
  const first = await startNode(t, { name: 'stale1@127.0.0.1', clusterPort: clusterA, dataDir })
  first.kill('SIGKILL')
  await first.waitForExit()
  assert.equal(statSync(join(dataDir, 'ctl.sock')).isSocket(), true, 'the killed node left its socket behind')
  const restarted = await startNode(t, { name: 'stale1@127.0.0.1', clusterPort: clusterB, dataDir })
  assert.deepEqual(await ctlJson(restarted, 'cluster', 'status'), { running_nodes: ['stale1@127.0.0.1'], stopped_nodes: [], default_secret: true })

  const intruder = launchNode(t, { name: 'stale2@127.0.0.1', clusterPort: clusterC, env: { MESHMQ_CLUSTER_CONTROL_SOCKET_PATH: join(dataDir, 'ctl.sock') } })
  await assert.rejects(intruder.waitForLog(logEvent('broker_started'), { timeoutMs: 10_000 }), (err: unknown) => {
    assert.ok(err instanceof NodeExitedError, String(err))
    assert.match(err.stderr, /a running node listens on the control socket .*ctl\.sock/)
    return true
  })
  assert.deepEqual(await ctlJson(restarted, 'cluster', 'status'), { running_nodes: ['stale1@127.0.0.1'], stopped_nodes: [], default_secret: true }, 'the running node keeps its socket')
})

test('a node refuses to put its socket in a directory every user may write to', async t => {
  const dataDir = tempDir(t, 'meshmq-ctlopen-')
  chmodSync(dataDir, 0o777)
  const [clusterPort] = await freePorts(1)
  const node = launchNode(t, { name: 'open1@127.0.0.1', clusterPort, dataDir })
  await assert.rejects(node.waitForLog(logEvent('broker_started'), { timeoutMs: 10_000 }), (err: unknown) => {
    assert.ok(err instanceof NodeExitedError, String(err))
    assert.match(err.stderr, /the control socket's directory .* is writable by every user/)
    return true
  })
  assert.equal(existsSync(join(dataDir, 'ctl.sock')), false)
})

test('a data directory too long for a Unix socket path stops the node with exit code 78 naming cluster.control.socketPath', async t => {
  const dataDir = join(tempDir(t, 'meshmq-ctllong-'), 'd'.repeat(100))
  const [clusterPort] = await freePorts(1)
  const node = launchNode(t, { name: 'long1@127.0.0.1', clusterPort, dataDir })
  await assert.rejects(node.waitForLog(logEvent('broker_started'), { timeoutMs: 10_000 }), (err: unknown) => {
    assert.ok(err instanceof NodeExitedError, String(err))
    assert.equal(err.status.code, 78, err.stderr)
    assert.match(err.stderr, /invalid configuration: cluster\.control\.socketPath: the control socket path .* longer than the 107 .*set cluster\.control\.socketPath/)
    return true
  })
})

test('with cluster.control.transport tcp the node writes a new 0600 token at each start; `meshmq ctl` uses it, a request without it is refused and logged', async t => {
  const dataDir = tempDir(t, 'meshmq-ctltcp-')
  const [clusterPort, controlPort, clusterPort2] = await freePorts(3) as [number, number, number]
  const node = await startNode(t, { name: 'tcpctl1@127.0.0.1', clusterPort, controlPort, controlTransport: 'tcp', dataDir })
  const tokenFile = join(dataDir, 'ctl.token')
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600)
  const token = readFileSync(tokenFile, 'utf8').trim()
  assert.match(token, /^[0-9a-f]{64}$/)
  assert.deepEqual(node.controlTarget(), { transport: 'tcp', host: '127.0.0.1', port: controlPort, token })
  assert.deepEqual(await ctlJson(node, 'cluster', 'status'), { running_nodes: ['tcpctl1@127.0.0.1'], stopped_nodes: [], default_secret: true })

  const refused = await sendControlRequest({ transport: 'tcp', host: '127.0.0.1', port: controlPort }, { args: ['cluster', 'leave'] })
  assert.equal(refused.ok, false)
  assert.match(refused.error ?? '', /requires the token/)
  const logged = await node.waitForLog(logEvent('ctl_refused', { reason: 'missing_token' }), { timeoutMs: 5000 })
  assert.match(String(logged.client), /^127\.0\.0\.1:\d+$/)
  const wrong = await sendControlRequest({ transport: 'tcp', host: '127.0.0.1', port: controlPort, token: 'f'.repeat(64) }, { args: ['cluster', 'leave'] })
  assert.equal(wrong.ok, false)
  await node.waitForLog(logEvent('ctl_refused', { reason: 'wrong_token' }), { timeoutMs: 5000 })

  await node.stop()
  const again = await startNode(t, { name: 'tcpctl1@127.0.0.1', clusterPort: clusterPort2, controlPort, controlTransport: 'tcp', dataDir })
  assert.notEqual(readFileSync(tokenFile, 'utf8').trim(), token, 'a new token at each start')
  assert.equal((await sendControlRequest({ transport: 'tcp', host: '127.0.0.1', port: controlPort, token }, { args: ['cluster', 'status'] })).ok, false, 'the old token no longer works')
  assert.equal((await ctlJson(again, 'cluster', 'status') as { running_nodes: string[] }).running_nodes.length, 1)
})
