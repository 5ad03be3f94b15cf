/**
 * What an operator sees: `meshmq start` as a real process configured by flags, environment and a
 * config file (flags winning), bad configuration failing fast with the key named, JSON log lines
 * with snake_case events, `$SYS/brokers/<node>/…` statistics, and a clean stop on SIGTERM.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawnBroker, tempDir, type BrokerProcess, type LogLine } from './helpers/broker-process.js'
import { freePort } from './helpers/ports.js'
import { connectClient, Inbox, type Cleanup } from './helpers/mqtt-client.js'
import { RawClient } from './helpers/raw-client.js'
import { uniqueName, waitUntil } from './helpers/wait.js'

const START_TIMEOUT_MS = 20_000

/** Waits for `broker_started` and returns its log line. */
async function started (broker: BrokerProcess): Promise<LogLine> {
  return await broker.waitForEvent('broker_started', {}, START_TIMEOUT_MS)
}

/** Starts a node from flags on a free port and waits until it serves. */
async function startNode (t: Cleanup, extraArgs: string[] = [], env: Record<string, string> = {}): Promise<{ broker: BrokerProcess, port: number, node: string }> {
  const port = await freePort()
  const node = `${uniqueName('op').replace(/[^A-Za-z0-9_.-]/g, '')}@127.0.0.1`
  const broker = spawnBroker(t, {
    args: ['start', '--port', String(port), '--name', node, '--log-level', 'info', '--data-dir', tempDir(t), ...extraArgs],
    env
  })
  await started(broker)
  return { broker, port, node }
}

test('meshmq start with --port/--name/--data-dir/--log-level serves MQTT and logs JSON lines with snake_case events', async t => {
  const { broker, port, node } = await startNode(t)
  const line = await started(broker)
  assert.equal(line.port, port)
  assert.equal(line.node, node)
  const clientId = uniqueName('op-client')
  const client = await connectClient(t, port, { clientId })
  const inbox = new Inbox(client)
  await client.subscribeAsync('op/#', { qos: 1 })
  await client.publishAsync('op/x', 'hello', { qos: 1 })
  assert.equal((await inbox.waitForTopic('op/x')).payload.toString(), 'hello')
  const connected = await broker.waitForEvent('client_connected', { clientid: clientId })
  assert.equal(typeof connected.time, 'string')
  assert.equal(connected.level, 'info')
  assert.equal(broker.rawStdout.length, broker.logs.length, 'every stdout line is JSON')
  for (const logLine of broker.logs) assert.match(logLine.msg, /^[a-z]+(_[a-z]+)*$/, `event name '${logLine.msg}' is snake_case`)
})

test('configuration from MESHMQ_* environment variables', async t => {
  const port = await freePort()
  const node = 'envnode@127.0.0.1'
  const broker = spawnBroker(t, { args: ['start'], env: { MESHMQ_LISTENER_PORT: String(port), MESHMQ_NODE_NAME: node, MESHMQ_NODE_DATA_DIR: tempDir(t), MESHMQ_LOG_LEVEL: 'info' } })
  const line = await started(broker)
  assert.equal(line.port, port)
  assert.equal(line.node, node)
  await connectClient(t, port)
})

test('configuration from a JSON config file (--config), with flags overriding the file and the environment', async t => {
  const dir = tempDir(t)
  const filePort = await freePort()
  const envPort = await freePort()
  const flagPort = await freePort()
  const file = join(dir, 'meshmq.json')
  writeFileSync(file, JSON.stringify({ node: { name: 'filenode@127.0.0.1', dataDir: dir }, listener: { port: filePort }, log: { level: 'info' }, mqtt: { maxPacketSize: 4096 } }))

  const fromFile = spawnBroker(t, { args: ['start', '--config', file] })
  const fileLine = await started(fromFile)
  assert.equal(fileLine.port, filePort)
  assert.equal(fileLine.node, 'filenode@127.0.0.1')
  const { client, connack } = await RawClient.connected(filePort, { clientId: uniqueName('cfg') }, { protocolVersion: 5 })
  t.after(() => client.destroy())
  assert.equal(connack.properties?.maximumPacketSize, 4096, 'mqtt.maxPacketSize from the file is in effect')
  await fromFile.stop()

  // Another node name needs another data directory: a node's name is bound to its data [issue 3].
  const overridden = spawnBroker(t, { args: ['start', '--config', file, '--port', String(flagPort), '--name', 'flagnode@127.0.0.1', '--data-dir', join(dir, 'flagnode')], env: { MESHMQ_LISTENER_PORT: String(envPort) } })
  const line = await started(overridden)
  assert.equal(line.port, flagPort, 'the --port flag wins over the environment and the file')
  assert.equal(line.node, 'flagnode@127.0.0.1')
  await connectClient(t, flagPort)

  const envOverFile = spawnBroker(t, { args: ['start', '--config', file], env: { MESHMQ_LISTENER_PORT: String(envPort), MESHMQ_NODE_NAME: 'envwins@127.0.0.1', MESHMQ_NODE_DATA_DIR: join(dir, 'envwins') } })
  assert.equal((await started(envOverFile)).port, envPort, 'the environment wins over the file')
})

test('bad configuration fails fast with a non-zero exit and a message naming the key', async t => {
  const dir = tempDir(t)
  const badFile = join(dir, 'bad.json')
  writeFileSync(badFile, JSON.stringify({ mqtt: { maxPacketSize: -5 } }))
  const unknownFile = join(dir, 'unknown.json')
  writeFileSync(unknownFile, JSON.stringify({ listener: { prot: 1883 } }))
  const notJson = join(dir, 'broken.json')
  writeFileSync(notJson, '{ "listener": ')
  const cases: Array<{ args: string[], env?: Record<string, string>, key: string }> = [
    { args: ['start', '--config', badFile], key: 'mqtt.maxPacketSize' },
    { args: ['start', '--config', unknownFile], key: 'listener.prot' },
    { args: ['start', '--config', notJson], key: 'config' },
    { args: ['start', '--config', join(dir, 'missing.json')], key: 'config' },
    { args: ['start'], env: { MESHMQ_LISTENER_PORT: 'eighty' }, key: 'listener.port' },
    { args: ['start'], env: { MESHMQ_MQTT_MAX_QUEUED_MESSAGES: '0' }, key: 'mqtt.maxQueuedMessages' },
    { args: ['start', '--name', 'no-host-part'], key: 'node.name' },
    { args: ['start', '--log-level', 'loud'], key: '--log-level' },
    { args: ['start', '--port', '70000'], key: 'listener.port' }
  ]
  await Promise.all(cases.map(async c => {
    const broker = spawnBroker(t, { args: [...c.args, '--data-dir', dir], ...(c.env !== undefined ? { env: c.env } : {}) })
    const { code } = await broker.waitForExit(START_TIMEOUT_MS)
    assert.notEqual(code, 0, `${c.args.join(' ')} exited with 0`)
    assert.ok(broker.stderr.includes(c.key), `stderr of '${c.args.join(' ')}' names '${c.key}': ${broker.stderr}`)
    assert.equal(broker.logs.find(l => l.msg === 'broker_started'), undefined, 'the broker did not start')
  }))
})

test('$SYS/brokers/<node>/ publishes version, uptime, clients, subscriptions, messages and bytes', async t => {
  const { port, node } = await startNode(t, [], { MESHMQ_SYS_INTERVAL_MS: '200' })
  const client = await connectClient(t, port, { clientId: uniqueName('sys') })
  const inbox = new Inbox(client)
  await client.subscribeAsync(`$SYS/brokers/${node}/#`, { qos: 0 })
  await client.subscribeAsync('sys-load/x', { qos: 0 })
  for (let i = 0; i < 5; i++) await client.publishAsync('sys-load/x', 'load', { qos: 1 })
  const prefix = `$SYS/brokers/${node}/`
  const latest = (name: string): string | undefined => inbox.messages.filter(m => m.topic === prefix + name).at(-1)?.payload.toString()
  const names = ['version', 'uptime', 'clients/connected', 'subscriptions/count', 'messages/received', 'messages/sent', 'bytes/received', 'bytes/sent', 'clients/accepted', 'packets/received', 'packets/sent', 'messages/from_peers', 'messages/duplicates_suppressed']
  await waitUntil(() => names.every(n => latest(n) !== undefined), 5000, `all of ${names.join(', ')} under ${prefix}`)
  assert.match(latest('version')!, /^\d+\.\d+\.\d+/)
  await waitUntil(() => Number(latest('messages/received')) >= 5 && Number(latest('subscriptions/count')) >= 2, 5000, 'the counters to reflect the traffic')
  assert.ok(Number(latest('clients/connected')) >= 1)
  for (const n of ['uptime', 'messages/sent', 'bytes/received', 'bytes/sent']) {
    assert.ok(Number.isInteger(Number(latest(n))) && Number(latest(n)) >= 0, `${n} = ${latest(n)}`)
  }
  assert.ok(Number(latest('bytes/received')) > 0)
  assert.ok(Number(latest('messages/sent')) >= 5)
  // This client's CONNECT, SUBSCRIBEs and PUBLISHes; its CONNACK, SUBACKs and PUBACKs.
  await waitUntil(() => Number(latest('packets/received')) >= 8 && Number(latest('packets/sent')) >= 8, 5000, 'the packet counters to reflect the traffic').catch((err: unknown) => {
    t.diagnostic(`packets/received ${latest('packets/received')}, packets/sent ${latest('packets/sent')}`)
    throw err
  })
  assert.ok(Number(latest('clients/accepted')) >= 1)
  assert.equal(latest('messages/from_peers'), '0', 'a node alone gets nothing from peers')
  assert.equal(latest('messages/duplicates_suppressed'), '0')
})

test('notable events are logged: session_taken_over, client_disconnected, message_dropped with a reason, subscription_added at debug', async t => {
  const { broker, port } = await startNode(t, ['--log-level', 'debug'], { MESHMQ_MQTT_MAX_QUEUED_MESSAGES: '2' })
  const clientId = uniqueName('events')
  const first = await RawClient.connected(port, { clientId, clean: false })
  t.after(() => first.client.destroy())
  first.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'events/q', qos: 1 }] })
  await first.client.expect('suback')
  await broker.waitForEvent('subscription_added', { clientid: clientId })
  const second = await RawClient.connected(port, { clientId, clean: false })
  t.after(() => second.client.destroy())
  await first.client.closed()
  await broker.waitForEvent('session_taken_over', { clientid: clientId })
  second.client.destroy()
  await broker.waitForEvent('client_disconnected', { clientid: clientId })
  const publisher = await connectClient(t, port)
  for (let i = 0; i < 6; i++) await publisher.publishAsync('events/q', String(i), { qos: 1 })
  const dropped = await broker.waitForEvent('message_dropped', { clientid: clientId })
  assert.equal(typeof dropped.reason, 'string')
  assert.match(String(dropped.reason), /^[a-z]+(_[a-z]+)*$/)
})

test('SIGTERM stops the node cleanly: broker_stopped is logged and the exit code is 0', async t => {
  const { broker, port } = await startNode(t)
  await connectClient(t, port)
  const { code } = await broker.stop(10_000)
  assert.equal(code, 0)
  assert.ok(broker.logs.some(l => l.msg === 'broker_stopped'))
})

test('meshmq --version and --help exit 0; an unknown command exits non-zero with usage', async t => {
  const version = spawnBroker(t, { args: ['--version'] })
  assert.equal((await version.waitForExit(START_TIMEOUT_MS)).code, 0)
  assert.match(version.rawStdout.join('\n'), /meshmq \d+\.\d+\.\d+/)
  const help = spawnBroker(t, { args: ['--help'] })
  assert.equal((await help.waitForExit(START_TIMEOUT_MS)).code, 0)
  assert.match(help.rawStdout.join('\n'), /meshmq start/)
  const unknown = spawnBroker(t, { args: ['launch'] })
  assert.notEqual((await unknown.waitForExit(START_TIMEOUT_MS)).code, 0)
  assert.match(unknown.stderr, /unknown command/)
})
