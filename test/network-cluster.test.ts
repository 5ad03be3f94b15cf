import '../src/core/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createClusterNetwork } from '../network/cluster.js'
import { HELLO_PROTOCOL } from '../network/constants.js'
import { HelloWithoutConnectionError } from '../network/errors.js'
import { freePort } from './helpers/ports.js'
import { clusterAddress, collect, nextEvent, RecordingLogger, RouteTableModel, sorted, startNode, tempDir, NET_WAIT_MS } from './network-helpers.js'
import { waitUntil } from './helpers/wait.js'

test('three nodes with static seeds find each other and converge their route tables', async (t) => {
  const ports = [await freePort(), await freePort(), await freePort()]
  const names = ports.map((_, i) => `n${i + 1}@127.0.0.1`)
  const seeds = names.map((name, i) => `${name}:${ports[i]}`)
  const logger = new RecordingLogger()

  // n1 starts alone with routes, so the others must pull them by snapshot when they meet it.
  const n1 = await startNode(t, { name: names[0]!, port: ports[0]!, discovery: 'static', seeds, logger })
  n1.addLocalRoute('sensors/+/temp')
  n1.addLocalRoute('alarms/#')
  const n2 = await startNode(t, { name: names[1]!, port: ports[1]!, discovery: 'static', seeds })
  const n3 = await startNode(t, { name: names[2]!, port: ports[2]!, discovery: 'static', seeds })
  const nets = [n1, n2, n3]
  const models = nets.map(net => new RouteTableModel(net))

  await waitUntil(() => nets.every(net => net.status().runningNodes.length === 3), NET_WAIT_MS, 'a full mesh')
  for (const net of nets) assert.deepStrictEqual(net.status(), { runningNodes: names, stoppedNodes: [] })

  // Subscribe/unsubscribe churn on every node at once; deltas race with snapshots and with
  // gossip subscriptions still spreading.
  let seed = 42
  const random = (n: number): number => { seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31; return seed % n }
  for (let i = 0; i < 600; i++) {
    const net = nets[random(3)]!
    const filter = `churn/${random(40)}/#`
    if (random(3) === 0) net.removeLocalRoute(filter)
    else net.addLocalRoute(filter)
    if (i % 50 === 0) await new Promise(resolve => setImmediate(resolve))
  }

  const converged = (): boolean => nets.every((_net, i) => nets.every((other, j) =>
    i === j || JSON.stringify(models[i]!.of(other.name)) === JSON.stringify(sorted(other.localRoutes()))))
  await waitUntil(converged, NET_WAIT_MS, 'every route table to equal the union of the other nodes\' local routes')
  assert.deepStrictEqual(models[1]!.of(names[0]!), sorted(n1.localRoutes()))
  assert.ok(n1.localRoutes().includes('alarms/#'))
  assert.deepStrictEqual(n2.routesOf(names[2]!)?.sort(), sorted(n3.localRoutes()))

  assert.ok(logger.has('node_up', { node: names[1] }))
  assert.ok(logger.has('route_sync', { node: names[1] }))
})

test('client ids replicate like routes, as a set of their own: deltas, and a snapshot for a late node', async (t) => {
  const ports = [await freePort(), await freePort(), await freePort()]
  const names = ports.map((_, i) => `n${i + 1}@127.0.0.1`)
  const seeds = names.map((name, i) => `${name}:${ports[i]}`)
  const n1 = await startNode(t, { name: names[0]!, port: ports[0]!, discovery: 'static', seeds })
  n1.addLocalClient('early-client')
  const n2 = await startNode(t, { name: names[1]!, port: ports[1]!, discovery: 'static', seeds })
  const changes = collect(n2, 'clients-changed')
  await waitUntil(() => n2.clientsOf(names[0]!)?.includes('early-client') === true, NET_WAIT_MS, 'n2 to pull n1\'s client ids by snapshot')
  n1.addLocalClient('client-a')
  n1.addLocalClient('client-b')
  n1.removeLocalClient('early-client')
  n1.addLocalRoute('only/a/route')
  await waitUntil(() => sorted(n2.clientsOf(names[0]!) ?? []).join() === 'client-a,client-b', NET_WAIT_MS, 'n2 to apply n1\'s client delta')
  assert.ok(changes.some(c => c.node === names[0] && c.added.includes('client-a')))
  await waitUntil(() => n2.routesOf(names[0]!)?.includes('only/a/route') === true, NET_WAIT_MS, 'the route to arrive too')
  // The sets stay apart: a route is no client id and a client id no route.
  assert.deepStrictEqual(n2.routesOf(names[0]!), ['only/a/route'])
  const n3 = await startNode(t, { name: names[2]!, port: ports[2]!, discovery: 'static', seeds })
  await waitUntil(() => sorted(n3.clientsOf(names[0]!) ?? []).join() === 'client-a,client-b', NET_WAIT_MS, 'a late node to get the client ids by snapshot')
  assert.deepStrictEqual(n3.clientsOf(names[1]!), [])
  n2.addLocalClient('client-a')
  await waitUntil(() => n3.clientHolders('client-a').length === 2, NET_WAIT_MS, 'n3 to see client-a on two nodes')
  assert.deepStrictEqual(n3.clientHolders('client-a'), [names[0], names[1]])
  assert.deepStrictEqual(n1.clientHolders('client-a'), [names[1]], 'a node names only the others')
  assert.ok(n1.stats().clients.snapshotsServed >= 2)
})

test('a node with another cluster secret cannot connect', async (t) => {
  const n1 = await startNode(t, { name: 'n1@127.0.0.1' })
  const outsider = await startNode(t, { name: 'x1@127.0.0.1', secret: 'another-secret', dialTimeoutMs: 1_000, requestTimeoutMs: 1_000 })
  const ups = collect(n1, 'node-up')
  // The prologues differ, so the Noise handshake fails and the dial with it.
  await assert.rejects(outsider.join(n1.addresses()[0]!), (err: Error) => {
    assert.equal(err.name, 'JoinFailedError')
    return true
  })
  assert.deepStrictEqual(n1.status(), { runningNodes: ['n1@127.0.0.1'], stoppedNodes: [] })
  assert.deepStrictEqual(ups, [])
  assert.equal(n1.libp2p.getConnections().length, 0)

  const insider = await startNode(t, { name: 'n2@127.0.0.1' })
  assert.equal(await insider.join(n1.addresses()[0]!), 'n1@127.0.0.1', 'the same secret connects')
})

test('a restarted node keeps its peer id, is seen as restarted and resyncs its routes; another name is refused', async (t) => {
  const dataDir = await tempDir(t)
  const n2 = await startNode(t, { name: 'n2@127.0.0.1' })
  const model = new RouteTableModel(n2)
  const init = { name: 'n1@127.0.0.1', dataDir, discovery: 'static' as const, seeds: [clusterAddress(n2)] }

  const first = await startNode(t, init)
  const peerId = first.peerId
  first.addLocalRoute('before/restart')
  await waitUntil(() => model.of('n1@127.0.0.1').includes('before/restart'), NET_WAIT_MS, 'n2 to learn the route of the first run')
  // Listening before the stop: n2 may see the node go down before stop() resolves.
  const down = nextEvent(n2, 'node-down', d => d.node === 'n1@127.0.0.1')
  await first.stop()
  await down

  const renamed = createClusterNetwork({ name: 'other@127.0.0.1', dataDir, listenHost: '127.0.0.1', port: 0, discovery: 'manual' })
  await assert.rejects(renamed.start(), (err: Error) => {
    assert.equal(err.name, 'NodeNameMismatchError')
    assert.match(err.message, /belongs to node "n1@127.0.0.1"/)
    return true
  })

  const up = nextEvent(n2, 'node-up', d => d.node === 'n1@127.0.0.1')
  const second = await startNode(t, init)
  assert.equal(second.peerId, peerId)
  second.addLocalRoute('after/restart')
  const detail = await up
  assert.equal(detail.restarted, true)
  await waitUntil(() => JSON.stringify(model.of('n1@127.0.0.1')) === '["after/restart"]', NET_WAIT_MS, 'n2 to hold only the routes of the second run')
})

test('a hello whose answer is read before its peer stops but taken in after does not bring the stopped peer back up', async (t) => {
  const A = 'a@127.0.0.1'
  const B = 'b@127.0.0.1'
  const logger = new RecordingLogger()
  const a = await startNode(t, { name: A, logger })
  const b = await startNode(t, { name: B })
  // a's own hello to b (sent when b's connection opens) completes its exchange, then is held
  // until b has stopped: the ordering a loaded machine produces now and then.
  let release = (): void => {}
  const held = new Promise<void>(resolve => { release = resolve })
  let answered = 0
  const dialProtocol = a.libp2p.dialProtocol.bind(a.libp2p)
  a.libp2p.dialProtocol = async (peer, protocols, options) => {
    const stream = await dialProtocol(peer, protocols, options)
    if (protocols === HELLO_PROTOCOL) {
      const close = stream.close.bind(stream)
      stream.close = async (closeOptions) => {
        await close(closeOptions)
        answered++
        await held
      }
    }
    return stream
  }
  t.after(release)

  await b.join(a.addresses()[0]!)
  await waitUntil(() => a.isRunning(B) && answered === 1, NET_WAIT_MS, 'a to see b up and to have read its hello answer')
  await b.stop()
  await waitUntil(() => !a.isRunning(B), NET_WAIT_MS, 'a to see b down')
  release()
  const failed = (): boolean => logger.lines.some(line => line.msg === 'hello_failed' && line.fields.err instanceof HelloWithoutConnectionError)
  await waitUntil(() => failed() || a.isRunning(B), NET_WAIT_MS, 'a to take the held hello in')
  assert.equal(a.isRunning(B), false, 'b has no connection left: it stays down')
  assert.deepStrictEqual(a.status(), { runningNodes: [A], stoppedNodes: [B] })
})

test('a peer announcing more routes than cluster.maxReplicatedEntriesPerPeer: the rest are not held, counted and logged replica_full', async (t) => {
  const logger = new RecordingLogger()
  const n1 = await startNode(t, { name: 'n1@127.0.0.1', logger, maxReplicatedEntriesPerPeer: 5 })
  const n2 = await startNode(t, { name: 'n2@127.0.0.1' })
  const model = new RouteTableModel(n1)
  await n2.join(clusterAddress(n1))
  await waitUntil(() => n1.isRunning('n2@127.0.0.1'), NET_WAIT_MS, 'n2 up on n1')
  for (let i = 0; i < 8; i++) n2.addLocalRoute(`big/${i}`)
  await waitUntil(() => n1.stats().routes.entriesRefused === 3, NET_WAIT_MS, 'three routes refused on n1')
  assert.equal(model.of('n2@127.0.0.1').length, 5)
  await waitUntil(() => logger.has('replica_full', { node: 'n2@127.0.0.1', table: 'routes', limit_entries: 5 }), NET_WAIT_MS, 'replica_full logged')
})
