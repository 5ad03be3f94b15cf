/**
 * `meshmq ctl` read-outs (issue 13) against a 2-node cluster of in-process nodes, over each node's
 * real control endpoint: clients (list with the HTTP API's filters and paging, show, kick),
 * subscriptions, retained (list, delete), metrics; the same JSON as the HTTP API, since both use
 * the same cluster-wide reads; bad options refused with a message; and the real `meshmq ctl`
 * command printing a table, its `--node` after the command a filter.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import type { MqttClient } from 'mqtt'
import type { NodeConfig, NodeHandle } from 'meshmq'
import { apiCluster, startApiNode, SuiteCleanup } from './helpers/api-nodes.js'
import { connectClient } from './helpers/mqtt-client.js'
import { childEnvironment } from './helpers/meshmq-process.js'
import { mainScript } from './helpers/node-process.js'
import { pollUntil, withTimeout } from './helpers/wait.js'
import { sendControlRequest, type ControlReply } from '../src/ctl.js'
import { readControlTarget } from '../src/control-endpoint-file.js'

const NAMES = ['ctl1@127.0.0.1', 'ctl2@127.0.0.1'] as const
const WAIT_MS = 15_000

interface Page<T> { data: T[], meta: { page: number, limit: number, count: number } }
interface ClientView { clientId: string, node: string, username: string | null, connected: boolean }

describe('meshmq ctl read-outs of a 2-node cluster', () => {
  const cleanup = new SuiteCleanup()
  const dataDirs = new Map<NodeHandle, string>()
  const clients = new Map<string, MqttClient>()
  let n1: NodeHandle, n2: NodeHandle

  /** One request to `node`'s control endpoint. */
  const ctl = async (node: NodeHandle, ...args: string[]): Promise<ControlReply> =>
    await sendControlRequest(readControlTarget(dataDirs.get(node)!), { args }, AbortSignal.timeout(WAIT_MS))
  const ok = async <T>(node: NodeHandle, ...args: string[]): Promise<T> => {
    const reply = await ctl(node, ...args)
    assert.ok(reply.ok, `ctl ${args.join(' ')}: ${reply.error ?? ''}`)
    return reply.result as T
  }
  const http = async <T>(node: NodeHandle, path: string): Promise<T> => {
    const address = node.address.http!
    const response = await fetch(`http://${address.host}:${address.port}${path}`, { signal: AbortSignal.timeout(WAIT_MS) })
    assert.equal(response.status, 200)
    return await response.json() as T
  }

  before(async () => {
    const start = async (name: string, extra: NodeConfig): Promise<NodeHandle> => {
      const { node, dataDir } = await startApiNode(cleanup, name, extra)
      dataDirs.set(node, dataDir)
      return node
    }
    n1 = await start(NAMES[0], {})
    n2 = await start(NAMES[1], { cluster: apiCluster([`${NAMES[0]}:${n1.address.cluster.port}`]) })
    await pollUntil(async () => await ok<{ running_nodes: string[] }>(n1, 'cluster', 'status'), status => status.running_nodes.length === 2, WAIT_MS, 'ctl1 to see 2 nodes up')
    const connect = async (node: NodeHandle, clientId: string, username?: string): Promise<void> => {
      clients.set(clientId, await connectClient(cleanup, node.address.port, { clientId, protocolVersion: 5, reconnectPeriod: 0, ...(username === undefined ? {} : { username }) }))
    }
    await connect(n1, 'k-a1')
    await connect(n1, 'k-a2', 'alice')
    await connect(n2, 'k-b1', 'bob')
    await clients.get('k-b1')!.subscribeAsync('ctl/#', { qos: 1 })
  })
  after(async () => { await cleanup.run() })

  it('clients list: cluster-wide, with the HTTP API\'s filters and paging, the same JSON as the API', async () => {
    const all = await ok<Page<ClientView>>(n1, 'clients', 'list')
    assert.deepEqual(all.data.map(row => [row.clientId, row.node]), [['k-a1', NAMES[0]], ['k-a2', NAMES[0]], ['k-b1', NAMES[1]]])
    assert.deepEqual(all.meta, { page: 1, limit: 100, count: 3 })
    const page2 = await ok<Page<ClientView>>(n2, 'clients', 'list', '--page', '2', '--limit', '2')
    assert.deepEqual(page2.data.map(row => row.clientId), ['k-b1'])
    assert.deepEqual(page2.meta, { page: 2, limit: 2, count: 3 })
    assert.deepEqual((await ok<Page<ClientView>>(n1, 'clients', 'list', '--node', NAMES[1])).data.map(row => row.clientId), ['k-b1'])
    assert.deepEqual((await ok<Page<ClientView>>(n1, 'clients', 'list', '--clientid', 'k-a')).data.map(row => row.clientId), ['k-a1', 'k-a2'])
    assert.deepEqual((await ok<Page<ClientView>>(n2, 'clients', 'list', '--username', 'alice')).data.map(row => [row.clientId, row.username]), [['k-a2', 'alice']])
    const viaApi = await http<Page<ClientView>>(n1, '/api/v1/clients?clientid=k-a')
    const viaCtl = await ok<Page<ClientView>>(n1, 'clients', 'list', '--clientid', 'k-a')
    assert.deepEqual(viaCtl.data.map(row => ({ ...row, keepalive: undefined })), viaApi.data.map(row => ({ ...row, keepalive: undefined })))
  })

  it('clients show finds a client on the other node; the text is a field table', async () => {
    const reply = await ctl(n1, 'clients', 'show', 'k-b1')
    assert.ok(reply.ok, reply.error)
    const [row] = (reply.result as { data: Array<ClientView & { protocolVersion: number, subscriptions: number }> }).data
    assert.equal(row?.node, NAMES[1])
    assert.equal(row.protocolVersion, 5)
    assert.equal(row.subscriptions, 1)
    assert.match(reply.text ?? '', /^field\s+value\n/)
    assert.match(reply.text ?? '', /^node\s+ctl2@127\.0\.0\.1$/m)
    const missing = await ctl(n1, 'clients', 'show', 'nobody')
    assert.equal(missing.ok, false)
    assert.match(missing.error ?? '', /no client nobody/)
  })

  it('subscriptions list, filtered by topic', async () => {
    const subs = await ok<Page<{ clientId: string, node: string, topic: string, qos: number }>>(n1, 'subscriptions', 'list', '--topic', 'ctl/#')
    assert.deepEqual(subs.data.map(row => [row.clientId, row.node, row.topic, row.qos]), [['k-b1', NAMES[1], 'ctl/#', 1]])
    assert.equal((await ok<Page<unknown>>(n1, 'subscriptions', 'list', '--clientid', 'k-a1')).meta.count, 0)
  })

  it('retained list and delete, cluster-wide', async () => {
    await clients.get('k-a1')!.publishAsync('ctl/keep', 'kept payload', { qos: 1, retain: true })
    const listed = await pollUntil(async () => await ok<Page<{ topic: string, payload: string }>>(n2, 'retained', 'list', '--topic', 'ctl/#'),
      page => page.meta.count === 1, WAIT_MS, 'the retained message on ctl2')
    assert.deepEqual(listed.data.map(row => [row.topic, row.payload]), [['ctl/keep', 'kept payload']])
    const table = await ctl(n2, 'retained', 'list', '--topic', 'ctl/#')
    assert.match(table.text ?? '', /^topic\s+qos\s+bytes\s+origin\s+payload\nctl\/keep\s+1\s+12\s+ctl1@127\.0\.0\.1\s+"kept payload"\n\(1-1 of 1, page 1\)$/)
    assert.ok((await ctl(n2, 'retained', 'delete', 'ctl/keep')).ok)
    await pollUntil(async () => await ok<Page<unknown>>(n1, 'retained', 'list', '--topic', 'ctl/#'), page => page.meta.count === 0, WAIT_MS, 'the delete to reach ctl1')
    const again = await ctl(n1, 'retained', 'delete', 'ctl/keep')
    assert.equal(again.ok, false)
    assert.match(again.error ?? '', /no retained message on ctl\/keep/)
  })

  it('metrics: the counters of /api/v1/metrics and the actors by type', async () => {
    const result = await ok<{ node: string, messagesReceived: number, actors: Array<{ type: string, count: number, handled: number, mailboxDepth: number }> }>(n1, 'metrics')
    assert.equal(result.node, NAMES[0])
    assert.ok(result.messagesReceived >= 1)
    const shards = result.actors.find(actor => actor.type === 'trie_shard')
    assert.equal(shards?.count, n1.config.shards)
    assert.ok(shards.handled > 0)
    assert.equal(result.actors.find(actor => actor.type === 'session')?.count, 2)
    const text = (await ctl(n1, 'metrics')).text ?? ''
    assert.match(text, /^messagesReceived\s+\d+$/m)
    assert.match(text, /^actor\s+count\s+handled\s+mailbox\s+crashes$/m)
  })

  it('refuses bad options with a message', async () => {
    for (const [args, message] of [
      [['clients', 'list', '--limit', '0'], /--limit must be an integer from 1 to 1000/],
      [['retained', 'list', '--limit', '101'], /--limit must be an integer from 1 to 100\b/],
      [['clients', 'list', '--page', '1000', '--limit', '1000'], /page \* limit must be at most 100000/],
      [['clients', 'list', '--bogus', 'x'], /Unknown option '--bogus'/],
      [['clients', 'show'], /clients show expects 1 argument/],
      [['clients', 'list', '--node', 'nobody@127.0.0.1'], /no node nobody@127\.0\.0\.1 in the cluster/],
      [['retained', 'delete', 'a/+'], /invalid topic name/]
    ] as const) {
      const reply = await ctl(n1, ...args)
      assert.equal(reply.ok, false, args.join(' '))
      assert.match(reply.error ?? '', message, args.join(' '))
    }
  })

  it('clients kick closes the connection on the node holding it', async () => {
    const victim = clients.get('k-b1')!
    const closed = new Promise<void>(resolve => { victim.once('close', () => { resolve() }) })
    assert.ok((await ctl(n1, 'clients', 'kick', 'k-b1')).ok)
    await withTimeout(closed, WAIT_MS, 'the kicked client to be disconnected')
    await pollUntil(async () => await ok<Page<ClientView>>(n1, 'clients', 'list'), page => page.meta.count === 2, WAIT_MS, 'the kicked client to be gone')
  })

  it('the meshmq ctl command prints a table; --node after the command is a filter, --json the API\'s JSON', async () => {
    const run = async (...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> => await new Promise(resolve => {
      execFile(process.execPath, [mainScript(), 'ctl', '--data-dir', dataDirs.get(n2)!, ...args], { env: childEnvironment({}), timeout: WAIT_MS }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
      })
    })
    const [table, json, usage] = await Promise.all([
      run('clients', 'list', '--node', NAMES[0]),
      run('clients', 'list', '--clientid', 'k-a2', '--json'),
      run('clients', 'list', '--limit', 'x')
    ])
    assert.equal(table.code, 0, table.stderr)
    assert.match(table.stdout, /^clientid\s+node\s+username\s+connected/)
    assert.match(table.stdout, /^k-a1\s+ctl1@127\.0\.0\.1\s+-\s+true/m)
    assert.match(table.stdout, /^k-a2\s+ctl1@127\.0\.0\.1\s+alice\s+true/m)
    assert.match(table.stdout, /\(1-2 of 2, page 1\)\n$/)
    assert.equal(json.code, 0, json.stderr)
    assert.deepEqual((JSON.parse(json.stdout) as Page<ClientView>).data.map(row => row.clientId), ['k-a2'])
    assert.equal(usage.code, 2, 'a usage error')
    assert.match(usage.stderr, /--limit must be an integer/)
  })
})
