/**
 * The library face: `import { startNode } from 'meshmq'` (resolved through the package's own
 * `exports`) starts a node from a config object and returns a handle.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { startNode, ConfigError, type NodeConfig, type NodeHandle, type StartNodeOptions } from 'meshmq'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import { uniqueName } from './helpers/wait.js'

interface Cleanup { after: (fn: () => unknown) => void }

function tempDir (t: Cleanup): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshmq-library-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A node on loopback with OS-chosen ports, closed when the test ends. */
async function embeddedNode (t: Cleanup, config: NodeConfig = {}, options: StartNodeOptions = {}): Promise<NodeHandle> {
  const node = await startNode({
    node: { name: 'embedded@127.0.0.1', dataDir: tempDir(t) },
    listener: { host: '127.0.0.1', port: 0 },
    cluster: { port: 0 },
    log: { level: 'silent' },
    ...config
  }, options)
  t.after(async () => { await node.close() })
  return node
}

/** Whether a TCP connection to the port on loopback is accepted. */
async function accepts (port: number): Promise<boolean> {
  return await new Promise(resolve => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

/** Asserts that `promise` rejects with a ConfigError for `key` whose message includes every part. */
async function rejectsWithConfigError (promise: Promise<unknown>, key: string, ...parts: string[]): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`)
    assert.equal(err.key, key)
    for (const part of parts) assert.ok(err.message.includes(part), `'${err.message}' lacks '${part}'`)
    return true
  })
}

test('startNode serves MQTT on the address it reports: a publish reaches a subscriber', async t => {
  const node = await embeddedNode(t)
  assert.equal(node.address.node, 'embedded@127.0.0.1')
  assert.equal(node.address.host, '127.0.0.1')
  assert.ok(node.address.port > 0, `port ${node.address.port}`)
  assert.ok(node.address.cluster.port > 0, `cluster port ${node.address.cluster.port}`)
  assert.deepEqual(node.address.control, { transport: 'unix', path: join(node.config.node.dataDir, 'ctl.sock') }, 'the control endpoint is a socket in the data directory')

  const topic = uniqueName('library')
  const subscriber = await connectClient(t, node.address.port, { protocolVersion: 5 })
  const inbox = new Inbox(subscriber)
  await subscriber.subscribeAsync(topic, { qos: 1 })
  const publisher = await connectClient(t, node.address.port)
  await publisher.publishAsync(topic, 'embedded', { qos: 1 })
  const received = await inbox.waitForTopic(topic)
  assert.equal(received.payload.toString(), 'embedded')
})

test('status() reports the running node, its connections and sessions, and the cluster it sees', async t => {
  const node = await embeddedNode(t)
  const idle = await node.status()
  assert.deepEqual(idle, { node: 'embedded@127.0.0.1', state: 'running', connections: 0, sessions: 0, cluster: { runningNodes: ['embedded@127.0.0.1'], stoppedNodes: [] } })

  await connectClient(t, node.address.port, { clientId: uniqueName('one') })
  await connectClient(t, node.address.port, { clientId: uniqueName('two') })
  const busy = await node.status()
  assert.equal(busy.connections, 2)
  assert.equal(busy.sessions, 2)
})

test('close() stops the node, releases its port and may be called again', async t => {
  const node = await embeddedNode(t)
  const client = await connectClient(t, node.address.port)
  const closed = new Promise<void>(resolve => client.once('close', () => resolve()))
  const first = node.close()
  const second = node.close()
  await Promise.all([first, second])
  await closed
  await node.close()
  assert.equal(await accepts(node.address.port), false, 'the MQTT port still accepts connections')
  const status = await node.status()
  assert.equal(status.state, 'closed')
  assert.equal(status.connections, 0)
})

test('a node started without a discovery setting uses manual discovery, never mDNS', async t => {
  const node = await embeddedNode(t)
  assert.equal(node.config.cluster.discovery, 'manual')
  const explicit = await embeddedNode(t, { node: { name: 'static@127.0.0.1', dataDir: tempDir(t) }, cluster: { port: 0, discovery: 'static' } })
  assert.equal(explicit.config.cluster.discovery, 'static')
})

test('the config object is filled with the defaults of meshmq start', async t => {
  const node = await embeddedNode(t)
  assert.equal(node.config.mqtt.maxInflight, 32)
  assert.equal(node.config.mqtt.maxPacketSize, 1024 * 1024)
  assert.equal(node.config.shards, 4)
})

test('startNode reads neither the environment nor a config file named by it', async t => {
  const variables = { MESHMQ_CONFIG: join(tempDir(t), 'missing.json'), MESHMQ_MQTT_MAX_PACKET_SIZE: 'not-a-number' }
  const saved = Object.keys(variables).map(name => [name, process.env[name]] as const)
  Object.assign(process.env, variables)
  try {
    const node = await embeddedNode(t)
    assert.equal(node.config.mqtt.maxPacketSize, 1024 * 1024)
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) Reflect.deleteProperty(process.env, name)
      else process.env[name] = value
    }
  }
})

test('a bad config rejects with a ConfigError naming the key', async () => {
  await rejectsWithConfigError(startNode({ listener: { port: 70_000 } }), 'listener.port', 'between 0 and 65535', 'startNode config')
  await rejectsWithConfigError(startNode({ node: { name: 'no-host' } }), 'node.name')
  // A JavaScript caller can pass what the types forbid.
  await rejectsWithConfigError(startNode({ listner: { port: 1 } } as unknown as NodeConfig), 'listner', 'unknown key')
  await rejectsWithConfigError(startNode('port=1' as unknown as NodeConfig), 'config', 'must be an object')
})

test('a port already in use rejects the start', async t => {
  const first = await embeddedNode(t)
  await assert.rejects(
    startNode({ node: { name: 'second@127.0.0.1', dataDir: tempDir(t) }, listener: { host: '127.0.0.1', port: first.address.port }, cluster: { port: 0 }, log: { level: 'silent' } }),
    (err: unknown) => (err as NodeJS.ErrnoException).code === 'EADDRINUSE'
  )
})

test('the log option takes the caller\'s pino logger, and the handle exposes it', async t => {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write (chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
      done()
    }
  })
  const log = pino({ level: 'info' }, sink)
  const node = await embeddedNode(t, {}, { log })
  assert.equal(node.log, log)
  const started = lines.find(line => line.msg === 'broker_started')
  assert.ok(started !== undefined, `no broker_started in ${JSON.stringify(lines)}`)
  assert.equal(started.port, node.address.port)
})
