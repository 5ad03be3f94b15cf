/**
 * The HTTP management API and Prometheus metrics (issue 13) over real HTTP against a 3-node cluster
 * of in-process nodes: every node's API sees the whole cluster (nodes, clients wherever they are
 * held, the route table, the retained set), a kick reaches the node holding the client, a publish
 * reaches a subscriber on another node, bad input is a 400 with a message, an unknown client 404,
 * a token is required where one is configured, and `/metrics` and the OpenAPI document are complete.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { startNode, type NodeConfig, type NodeHandle } from 'meshmq'
import { apiCluster, startApiNode, SuiteCleanup } from './helpers/api-nodes.js'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import { pollUntil, waitFor } from './helpers/wait.js'
import { createHttpApp } from '../src/http/server.js'
import type { ApiParts } from '../src/http/api-parts.js'

const NAMES = ['api1@127.0.0.1', 'api2@127.0.0.1', 'api3@127.0.0.1'] as const
const TOKEN = 'api3-secret-token'
const WAIT_MS = 15_000

/** A cleanup list the suite runs at its end (clients first, then the nodes). */
interface Reply { status: number, body: unknown, text: string, headers: Headers }

async function call (node: NodeHandle, method: string, path: string, options: { body?: unknown, token?: string } = {}): Promise<Reply> {
  const http = node.address.http
  assert.ok(http !== undefined, `${node.address.node} serves no HTTP API`)
  const headers: Record<string, string> = {}
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  const response = await fetch(`http://${http.host}:${http.port}${path}`, {
    method, headers, ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }), signal: AbortSignal.timeout(WAIT_MS)
  })
  const text = await response.text()
  let body: unknown
  try { body = JSON.parse(text) } catch { body = undefined }
  return { status: response.status, body, text, headers: response.headers }
}

async function getJson<T> (node: NodeHandle, path: string, token?: string): Promise<T> {
  const reply = await call(node, 'GET', path, token === undefined ? {} : { token })
  assert.equal(reply.status, 200, `GET ${path}: ${reply.text}`)
  return reply.body as T
}

interface ClientRowView { clientId: string, node: string, username: string | null, connected: boolean }
interface Page<T> { data: T[], meta: { page: number, limit: number, count: number } }

describe('HTTP API of a 3-node cluster', () => {
  const cleanup = new SuiteCleanup()
  const nodes: NodeHandle[] = []
  let n1: NodeHandle, n2: NodeHandle, n3: NodeHandle
  const clients = new Map<string, MqttClient>()

  before(async () => {
    const start = async (name: string, extra: NodeConfig): Promise<NodeHandle> => {
      const { node } = await startApiNode(cleanup, name, extra)
      nodes.push(node)
      return node
    }
    n1 = await start(NAMES[0], {})
    const seed = `${NAMES[0]}:${n1.address.cluster.port}`
    n2 = await start(NAMES[1], { cluster: apiCluster([seed]) })
    n3 = await start(NAMES[2], { cluster: apiCluster([seed]), http: { port: 0, token: TOKEN } })
    await pollUntil(async () => await getJson<{ data: Array<{ status: string }> }>(n2, '/api/v1/nodes'),
      nodes => nodes.data.filter(node => node.status === 'up').length === 3, WAIT_MS, 'api2 to see 3 nodes up')
    const connect = async (node: NodeHandle, clientId: string, username?: string): Promise<void> => {
      clients.set(clientId, await connectClient(cleanup, node.address.port, { clientId, protocolVersion: 5, reconnectPeriod: 0, ...(username === undefined ? {} : { username }) }))
    }
    await connect(n1, 'c-a1')
    await connect(n1, 'c-a2')
    await connect(n2, 'c-b1', 'bob')
    await connect(n3, 'c-c1')
  })
  after(async () => { await cleanup.run() })

  it('lists every node up, with its summary, from any node', async () => {
    const { data } = await getJson<{ data: Array<{ name: string, status: string, version: string, connections: number, links: unknown[] }> }>(n1, '/api/v1/nodes')
    assert.deepEqual(data.map(node => [node.name, node.status]), NAMES.map(name => [name, 'up']))
    for (const node of data) {
      assert.equal(typeof node.version, 'string')
      assert.equal(node.links.length, 2, `${node.name} has a link to each peer`)
    }
    const one = await getJson<{ name: string, connections: number }>(n1, `/api/v1/nodes/${encodeURIComponent(NAMES[1])}`)
    assert.equal(one.name, NAMES[1])
    assert.equal(one.connections, 1)
    const unknown = await call(n1, 'GET', '/api/v1/nodes/nobody%40127.0.0.1')
    assert.equal(unknown.status, 404)
  })

  it('lists the clients of every node, paged and filtered by node, client id prefix and username', async () => {
    const all = await getJson<Page<ClientRowView>>(n1, '/api/v1/clients')
    assert.deepEqual(all.data.map(row => [row.clientId, row.node]), [['c-a1', NAMES[0]], ['c-a2', NAMES[0]], ['c-b1', NAMES[1]], ['c-c1', NAMES[2]]])
    assert.equal(all.meta.count, 4)
    assert.ok(all.data.every(row => row.connected))
    const page2 = await getJson<Page<ClientRowView>>(n2, '/api/v1/clients?limit=2&page=2')
    assert.deepEqual(page2.data.map(row => row.clientId), ['c-b1', 'c-c1'])
    assert.deepEqual(page2.meta, { page: 2, limit: 2, count: 4 })
    const onNode2 = await getJson<Page<ClientRowView>>(n1, `/api/v1/clients?node=${encodeURIComponent(NAMES[1])}`)
    assert.deepEqual(onNode2.data.map(row => row.clientId), ['c-b1'])
    const prefixed = await getJson<Page<ClientRowView>>(n1, '/api/v1/clients?clientid=c-a')
    assert.deepEqual(prefixed.data.map(row => row.clientId), ['c-a1', 'c-a2'])
    const bobs = await getJson<Page<ClientRowView>>(n3, '/api/v1/clients?username=bob', TOKEN)
    assert.deepEqual(bobs.data.map(row => [row.clientId, row.username]), [['c-b1', 'bob']])
  })

  it('shows one client held by another node, and 404 for an unknown one', async () => {
    const shown = await getJson<{ data: Array<ClientRowView & { protocolVersion: number, remoteAddress: string }> }>(n1, '/api/v1/clients/c-b1')
    assert.equal(shown.data.length, 1)
    const [row] = shown.data
    assert.ok(row !== undefined)
    assert.equal(row.node, NAMES[1])
    assert.equal(row.protocolVersion, 5)
    assert.match(row.remoteAddress, /127\.0\.0\.1/)
    const missing = await call(n1, 'GET', '/api/v1/clients/nobody')
    assert.equal(missing.status, 404)
    assert.match((missing.body as { message: string }).message, /nobody/)
    assert.equal((await call(n1, 'DELETE', '/api/v1/clients/nobody')).status, 404)
  })

  it('kicks a client connected to another node: it gets DISCONNECT 0x98 and its session is gone', async () => {
    const client = clients.get('c-c1')!
    const disconnected = waitFor<number | undefined>('c-c1 to be disconnected', settle => {
      const onDisconnect = (packet: { reasonCode?: number }): void => { settle.resolve(packet.reasonCode) }
      client.on('disconnect', onDisconnect)
      return () => { client.off('disconnect', onDisconnect) }
    }, { timeoutMs: WAIT_MS })
    const kicked = await call(n1, 'DELETE', '/api/v1/clients/c-c1')
    assert.equal(kicked.status, 204, kicked.text)
    assert.equal(await disconnected, 0x98)
    await pollUntil(async () => (await call(n1, 'GET', '/api/v1/clients/c-c1')).status, status => status === 404, WAIT_MS, 'c-c1 to be gone')
  })

  it('publishes through the API to a subscriber on another node', async () => {
    const subscriber = clients.get('c-b1')!
    const inbox = new Inbox(subscriber)
    await subscriber.subscribeAsync('api/t', { qos: 1 })
    await pollUntil(async () => await getJson<Page<{ filter: string, nodes: string[] }>>(n1, '/api/v1/routes'),
      routes => routes.data.some(route => route.filter === 'api/t' && route.nodes.includes(NAMES[1])), WAIT_MS, 'api1 to have the route of api/t')
    const published = await call(n1, 'POST', '/api/v1/publish', { body: { topic: 'api/t', payload: 'aGVsbG8=', encoding: 'base64', qos: 1 } })
    assert.equal(published.status, 200, published.text)
    const message = await inbox.waitForTopic('api/t', WAIT_MS)
    assert.equal(message.payload.toString(), 'hello')
    assert.equal(message.packet.qos, 1)
  })

  it('lists the subscriptions of every node, paged and filtered', async () => {
    await clients.get('c-a1')!.subscribeAsync(['api/s/+', '$share/g/api/q'], { qos: 2 })
    const all = await getJson<Page<{ clientId: string, node: string, topic: string, qos: number }>>(n3, '/api/v1/subscriptions', TOKEN)
    assert.deepEqual(all.data.map(row => [row.clientId, row.topic, row.node, row.qos]), [
      ['c-a1', '$share/g/api/q', NAMES[0], 2], ['c-a1', 'api/s/+', NAMES[0], 2], ['c-b1', 'api/t', NAMES[1], 1]
    ])
    const second = await getJson<Page<{ topic: string }>>(n2, '/api/v1/subscriptions?limit=1&page=2')
    assert.deepEqual(second.data.map(row => row.topic), ['api/s/+'])
    assert.equal(second.meta.count, 3)
    const ofB1 = await getJson<Page<{ clientId: string }>>(n1, '/api/v1/subscriptions?clientid=c-b1')
    assert.deepEqual(ofB1.data.map(row => row.clientId), ['c-b1'])
    const onTopic = await getJson<Page<{ clientId: string }>>(n1, `/api/v1/subscriptions?topic=${encodeURIComponent('api/s/+')}&node=${encodeURIComponent(NAMES[0])}`)
    assert.deepEqual(onTopic.data.map(row => row.clientId), ['c-a1'])
  })

  it('lists retained messages cluster-wide and clears one on every node', async () => {
    const published = await call(n1, 'POST', '/api/v1/publish', { body: { topic: 'api/r/1', payload: 'kept', retain: true } })
    assert.equal(published.status, 200, published.text)
    const listed = await pollUntil(async () => await getJson<Page<{ topic: string, payload: string, origin: string }>>(n2, '/api/v1/retained?topic=api/r/%23'),
      page => page.meta.count === 1, WAIT_MS, 'api2 to hold the retained message')
    assert.deepEqual(listed.data.map(row => [row.topic, row.payload, row.origin]), [['api/r/1', 'kept', NAMES[0]]])
    const cleared = await call(n3, 'DELETE', `/api/v1/retained/${encodeURIComponent('api/r/1')}`, { token: TOKEN })
    assert.equal(cleared.status, 204, cleared.text)
    for (const node of [n1, n2]) {
      await pollUntil(async () => await getJson<Page<unknown>>(node, '/api/v1/retained?topic=api/r/%23'), page => page.meta.count === 0, WAIT_MS, `${node.address.node} to clear it`)
    }
    assert.equal((await call(n1, 'DELETE', `/api/v1/retained/${encodeURIComponent('api/r/1')}`)).status, 404)
  })

  it('answers bad input with 400 and a message', async () => {
    const cases: Array<[string, string, unknown, RegExp]> = [
      ['POST', '/api/v1/publish', { topic: 'a/+', payload: 'x' }, /invalid topic/],
      ['POST', '/api/v1/publish', { topic: 'a', payload: 'x', qos: 3 }, /qos/],
      ['POST', '/api/v1/publish', { payload: 'x' }, /topic/],
      ['POST', '/api/v1/publish', { topic: 'a', payload: '***', encoding: 'base64' }, /base64/],
      ['GET', '/api/v1/clients?limit=5000', undefined, /limit/],
      ['GET', '/api/v1/clients?page=0', undefined, /page/],
      ['GET', '/api/v1/clients?page=1000&limit=1000', undefined, /at most/],
      ['GET', '/api/v1/clients?colour=red', undefined, /additional/],
      ['DELETE', `/api/v1/retained/${encodeURIComponent('a/#')}`, undefined, /invalid topic/]
    ]
    for (const [method, path, body, message] of cases) {
      const reply = await call(n1, method, path, body === undefined ? {} : { body })
      assert.equal(reply.status, 400, `${method} ${path}: ${reply.text}`)
      assert.match((reply.body as { message: string }).message, message, `${method} ${path}`)
    }
  })

  it('requires the token where one is configured (401 without it or with another)', async () => {
    const without = await call(n3, 'GET', '/api/v1/nodes')
    assert.equal(without.status, 401)
    assert.match((without.body as { message: string }).message, /Bearer/)
    assert.equal(without.headers.get('www-authenticate'), 'Bearer')
    assert.equal((await call(n3, 'GET', '/metrics', { token: 'wrong' })).status, 401)
    assert.equal((await call(n3, 'GET', '/api/v1/nodes', { token: TOKEN })).status, 200)
  })

  it('serves Prometheus metrics labelled with the node, and the JSON counters and actors', async () => {
    const reply = await call(n1, 'GET', '/metrics')
    assert.equal(reply.status, 200)
    assert.match(reply.headers.get('content-type') ?? '', /text\/plain/)
    const node = `node="${NAMES[0]}"`
    for (const name of ['meshmq_connections', 'meshmq_sessions', 'meshmq_subscriptions', 'meshmq_messages_received_total', 'meshmq_messages_sent_total',
      'meshmq_bytes_received_total', 'meshmq_bytes_sent_total', 'meshmq_retained_messages', 'meshmq_routes']) {
      assert.match(reply.text, new RegExp(`^${name}\\{${node}\\} \\d`, 'm'), name)
    }
    assert.match(reply.text, new RegExp(`^meshmq_forward_backlog_messages\\{peer="${NAMES[1]}",${node}\\} \\d`, 'm'))
    assert.match(reply.text, new RegExp(`^meshmq_cluster_nodes\\{status="up",${node}\\} 3`, 'm'))
    assert.match(reply.text, /^# TYPE meshmq_messages_dropped_total counter/m)
    assert.match(reply.text, /^# TYPE meshmq_actor_crashes_total counter/m)
    assert.match(reply.text, new RegExp(`^nodejs_eventloop_lag_seconds\\{${node}\\}`, 'm'))
    assert.match(reply.text, /^# TYPE nodejs_gc_duration_seconds histogram/m)
    const counters = await getJson<{ node: string, messagesReceived: number, droppedByReason: object }>(n1, '/api/v1/metrics')
    assert.equal(counters.node, NAMES[0])
    assert.equal(typeof counters.messagesReceived, 'number')
    const actors = await getJson<{ data: Array<{ type: string, count: number }> }>(n1, '/api/v1/actors')
    assert.deepEqual(actors.data.find(actor => actor.type === 'trie_shard')?.count, nodes[0]?.config.shards)
  })

  it('documents every route it serves in its OpenAPI document', async () => {
    const document = await getJson<{ openapi: string, paths: Record<string, Record<string, unknown>> }>(n1, '/api/v1/openapi.json')
    assert.match(document.openapi, /^3\./)
    const documented = Object.entries(document.paths).flatMap(([path, methods]) => Object.keys(methods).map(method => `${method.toUpperCase()} ${path}`)).sort()
    // Each documented route is served, and fastify serves no more routes than are documented.
    const app = createHttpApp({ context: { node: 'routes@127.0.0.1' } } as unknown as ApiParts, undefined, n1.log)
    await app.ready()
    for (const endpoint of documented) {
      const [method, path] = endpoint.split(' ') as [string, string]
      assert.ok(app.hasRoute({ method, url: path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1') }), `${endpoint} is served`)
    }
    const servedMethods = [...app.printRoutes({ commonPrefix: false }).matchAll(/\(([A-Z, ]+)\)/g)].flatMap(match => match[1]!.split(', ').filter(method => method !== 'HEAD'))
    await app.close()
    assert.equal(servedMethods.length, documented.length, app.printRoutes({ commonPrefix: false }))
    for (const endpoint of ['GET /api/v1/nodes', 'GET /api/v1/nodes/{node}', 'GET /api/v1/clients', 'GET /api/v1/clients/{clientid}', 'DELETE /api/v1/clients/{clientid}',
      'GET /api/v1/subscriptions', 'GET /api/v1/routes', 'GET /api/v1/retained', 'DELETE /api/v1/retained/{topic}', 'POST /api/v1/publish', 'GET /api/v1/metrics', 'GET /api/v1/actors', 'GET /metrics']) {
      assert.ok(documented.includes(endpoint), endpoint)
    }
  })

  it('lists a node that stopped as down, with its name only, and its clients no more', async () => {
    await n3.close()
    const { data } = await pollUntil(async () => await getJson<{ data: Array<{ name: string, status: string, version?: string }> }>(n1, '/api/v1/nodes'),
      view => view.data.some(node => node.name === NAMES[2] && node.status === 'down'), WAIT_MS, 'api1 to see api3 down')
    assert.deepEqual(data.find(node => node.name === NAMES[2]), { name: NAMES[2], status: 'down' })
    assert.deepEqual((await getJson<Page<ClientRowView>>(n1, `/api/v1/clients?node=${encodeURIComponent(NAMES[2])}`)).data, [])
  })

  it('a node bound beyond loopback without a token refuses to start', async () => {
    await assert.rejects(startNode({ node: { name: 'open@127.0.0.1', dataDir: join(tmpdir(), 'meshmq-http-never') }, log: { level: 'silent' }, listener: { port: 0 }, cluster: { port: 0 }, http: { host: '0.0.0.0', port: 0 } }),
      (err: Error) => err.name === 'HttpTokenRequiredError' && /http\.host/.test(err.message) && /token/.test(err.message))
  })
})

