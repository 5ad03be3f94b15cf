/**
 * The child-process node fixture the cluster tests are built on: a real `meshmq start` on
 * loopback (manual discovery, nothing multicast), its logs, a clean stop and a crash.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readlinkSync } from 'node:fs'
import { execFile } from 'node:child_process'
import { connectClient } from './helpers/mqtt-client.js'
import { launchNode, logEvent, NodeExitedError, startNode } from './helpers/node-process.js'
import { freePorts } from './helpers/ports.js'
import { WaitTimeoutError } from './helpers/wait.js'
import { startLab, unavailableReason } from './helpers/netns-lab.js'

const labUnavailable = await unavailableReason() ?? false

/** An MQTT.js round trip (subscribe, publish, receive) run inside a lab host; resolves with what it printed. */
async function mqttRoundTripFrom (prefix: string[], host: string, port: number): Promise<string> {
  const script = `
    const mqtt = require('mqtt')
    const c = mqtt.connect({ host: ${JSON.stringify(host)}, port: ${port}, reconnectPeriod: 0, connectTimeout: 5000 })
    c.on('error', e => { console.log('error ' + e.message); process.exit(1) })
    c.on('connect', () => c.subscribe('lab/t', () => c.publish('lab/t', 'across-namespaces')))
    c.on('message', (t, m) => { console.log(t + ' ' + m); c.end(true, () => process.exit(0)) })`
  const [command, ...args] = [...prefix, process.execPath, '-e', script]
  return await new Promise<string>((resolve, reject) => {
    execFile(command, args, { timeout: 10_000, killSignal: 'SIGKILL' }, (err, stdout) => {
      if (err === null) resolve(stdout)
      else reject(new Error(`MQTT client in the lab failed: ${err.message} ${stdout}`))
    })
  })
}

test('a node started as a process serves MQTT on its port and logs JSON lines with its name', async t => {
  const [port, clusterPort, controlPort] = await freePorts(3)
  const node = await startNode(t, { name: 'proc1@127.0.0.1', port, clusterPort, controlPort })
  assert.equal(node.mqttPort, port)
  const started = await node.waitForLog(logEvent('broker_started'), { timeoutMs: 1000 })
  assert.equal(started.node, 'proc1@127.0.0.1')
  assert.equal(started.level, 'info')
  const client = await connectClient(t, node.mqttPort, { clientId: 'node-process-test' })
  assert.equal(client.connected, true)
})

test('port 0 is resolved from broker_started, and waitForLog times out on a line that never comes', async t => {
  const [clusterPort, controlPort] = await freePorts(2)
  const node = await startNode(t, { name: 'proc2@127.0.0.1', clusterPort, controlPort })
  assert.ok(node.mqttPort > 0)
  await assert.rejects(node.waitForLog(logEvent('no_such_event'), { timeoutMs: 100 }), WaitTimeoutError)
  const from = node.logPosition
  await assert.rejects(node.waitForLog(logEvent('broker_started'), { timeoutMs: 100, from }), WaitTimeoutError,
    'a line received before `from` does not count')
})

test('stop() sends SIGTERM and the node shuts down cleanly; the temporary data directory goes at test end', async t => {
  const [clusterPort, controlPort] = await freePorts(2)
  let dataDir = ''
  await t.test('run', async t => {
    const node = await startNode(t, { name: 'proc3@127.0.0.1', clusterPort, controlPort })
    dataDir = node.dataDir
    assert.ok(existsSync(dataDir))
    // A client round trip first: main.ts installs its SIGTERM handler just after broker_started is logged.
    await connectClient(t, node.mqttPort, { clientId: 'before-stop' })
    const status = await node.stop()
    assert.deepEqual(status, { code: 0, signal: null })
    await node.waitForLog(logEvent('shutdown_requested', { signal: 'SIGTERM' }), { timeoutMs: 1000 })
  })
  assert.equal(existsSync(dataDir), false)
})

test('kill() with SIGKILL ends the node at once and waiters learn it exited', async t => {
  const [clusterPort, controlPort] = await freePorts(2)
  const node = await startNode(t, { name: 'proc4@127.0.0.1', clusterPort, controlPort })
  const waiting = node.waitForLog(logEvent('never_logged'), { timeoutMs: 10_000 })
  node.kill('SIGKILL')
  await assert.rejects(waiting, (err: unknown) => err instanceof NodeExitedError && err.status.signal === 'SIGKILL')
  assert.deepEqual(node.exitStatus, { code: null, signal: 'SIGKILL' })
})

test('a node that cannot start reports its exit and error output instead of hanging', async t => {
  const node = launchNode(t, { name: 'proc5@127.0.0.1', env: { MESHMQ_MQTT_MAX_PACKET_SIZE: 'lots' } })
  await assert.rejects(node.waitForLog(logEvent('broker_started'), { timeoutMs: 10_000 }), (err: unknown) =>
    err instanceof NodeExitedError && err.status.code === 78 && /MESHMQ_MQTT_MAX_PACKET_SIZE/.test(err.stderr))
})

test('a node runs inside a lab host under its own PID and serves MQTT on its lab address', { skip: labUnavailable }, async t => {
  const lab = await startLab(t, 2)
  const node = await startNode(t, { name: `lab1@${lab.addr(1)}`, port: 1883, prefix: lab.execArgs(1) })
  assert.equal(readlinkSync(`/proc/${node.pid}/exe`), process.execPath, 'the PID is the node process itself, not a wrapper')
  assert.equal(await mqttRoundTripFrom(lab.execArgs(2), lab.addr(1), 1883), 'lab/t across-namespaces\n')
  node.kill('SIGKILL')
  assert.deepEqual(await node.waitForExit(5000), { code: null, signal: 'SIGKILL' })
})
