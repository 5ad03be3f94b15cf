import '../src/core/polyfill.js'
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { FORWARD_PROTOCOL } from '../network/constants.js'
import { collect, nextEvent, RecordingLogger, RouteTableModel, startNode, NET_WAIT_MS } from './network-helpers.js'
import { sleep, waitUntil } from './helpers/wait.js'
import type { ClusterNetwork, ClusterNetworkInit } from '../network/cluster.js'

const N1 = 'n1@127.0.0.1'
const N2 = 'n2@127.0.0.1'
const N3 = 'n3@127.0.0.1'

/** Three nodes joined manually (n2 and n3 join n1; n3 finds n2 through n1), each with one route. */
async function trio (t: TestContext, init: ClusterNetworkInit = {}): Promise<ClusterNetwork[]> {
  const nets = [await startNode(t, { name: N1, ...init }), await startNode(t, { name: N2, ...init }), await startNode(t, { name: N3, ...init })]
  nets.forEach((net, i) => { net.addLocalRoute(`route/${i + 1}`) })
  await nets[1]!.join(nets[0]!.addresses()[0]!)
  await nets[2]!.join(nets[0]!.addresses()[0]!)
  await waitUntil(() => nets.every(net => net.status().runningNodes.length === 3), NET_WAIT_MS, 'a full mesh')
  return nets
}

test('join makes a full mesh; leave tells the peers, who drop its routes and stop dialing it', async (t) => {
  const [n1, n2, n3] = await trio(t)
  const model1 = new RouteTableModel(n1!)
  await waitUntil(() => n1!.routesOf(N3)?.includes('route/3') === true, NET_WAIT_MS, 'n1 to hold n3\'s routes')
  const lefts = [collect(n1!, 'node-left'), collect(n2!, 'node-left')]
  const selfLeft = nextEvent(n3!, 'left')

  await n3!.leave()
  assert.deepStrictEqual(await selfLeft, { reason: 'leave' })
  for (const seen of lefts) assert.deepStrictEqual(seen, [{ node: N3, forced: false }])
  for (const net of [n1!, n2!]) assert.deepStrictEqual(net.status(), { runningNodes: [N1, N2], stoppedNodes: [] })
  assert.deepStrictEqual(n3!.status(), { runningNodes: [N3], stoppedNodes: [] })
  assert.deepStrictEqual(model1.of(N3), [], 'n1 dropped n3\'s routes')
  assert.equal(n1!.routesOf(N3), undefined)

  await sleep(500)
  const n3Peer = n3!.libp2p.peerId
  assert.equal(n1!.libp2p.getConnections(n3Peer).length + n2!.libp2p.getConnections(n3Peer).length, 0, 'nobody redials a node that left')

  // It can come back by joining again, as a new incarnation.
  const up = nextEvent(n1!, 'node-up', d => d.node === N3)
  assert.equal(await n3!.join(n2!.addresses()[0]!), N2)
  assert.equal((await up).incarnation, n3!.incarnation)
  await waitUntil(() => model1.of(N3).includes('route/3'), NET_WAIT_MS, 'n1 to hold n3\'s routes again')
  await waitUntil(() => [n1!, n2!, n3!].every(net => net.status().runningNodes.length === 3), NET_WAIT_MS, 'a full mesh again')
})

test('forceLeave removes another node everywhere, and the removed node leaves', async (t) => {
  const [n1, n2, n3] = await trio(t)
  await waitUntil(() => n3!.routesOf(N2)?.includes('route/2') === true, NET_WAIT_MS, 'n3 to hold n2\'s routes')
  const removed = nextEvent(n2!, 'left')
  const seenBy3 = nextEvent(n3!, 'node-left', d => d.node === N2)

  await n1!.forceLeave(N2)
  assert.deepStrictEqual(await removed, { reason: 'removed', by: N1 })
  assert.deepStrictEqual(await seenBy3, { node: N2, forced: true })
  for (const net of [n1!, n3!]) assert.deepStrictEqual(net.status(), { runningNodes: [N1, N3], stoppedNodes: [] })
  assert.equal(n3!.routesOf(N2), undefined)

  await assert.rejects(n1!.forceLeave('nobody@127.0.0.1'), { name: 'UnknownNodeError' })
  await assert.rejects(n1!.forceLeave(N1), { name: 'CannotRemoveSelfError' })
})

test('a stopped node is marked down with its routes kept, then cleaned after autoclean', async (t) => {
  const logger = new RecordingLogger()
  const n1 = await startNode(t, { name: N1, autocleanMs: 1_500, logger })
  const n2 = await startNode(t, { name: N2, autocleanMs: 1_500 })
  const model = new RouteTableModel(n1)
  n2.addLocalRoute('kept/while/down')
  await n2.join(n1.addresses()[0]!)
  await waitUntil(() => model.of(N2).includes('kept/while/down'), NET_WAIT_MS, 'n1 to hold n2\'s route')

  const down = nextEvent(n1, 'node-down', d => d.node === N2)
  const cleaned = nextEvent(n1, 'node-cleaned', d => d.node === N2, 10_000)
  await n2.stop()
  assert.equal((await down).node, N2)
  assert.deepStrictEqual(n1.status(), { runningNodes: [N1], stoppedNodes: [N2] })
  assert.equal(n1.isRunning(N2), false)
  assert.deepStrictEqual(model.of(N2), ['kept/while/down'], 'routes of a down node stay until autoclean')

  assert.ok((await cleaned).downForMs >= 1_500)
  assert.deepStrictEqual(n1.status(), { runningNodes: [N1], stoppedNodes: [] })
  assert.deepStrictEqual(model.of(N2), [])
  assert.ok(logger.has('node_down', { node: N2 }))
  assert.ok(logger.has('node_cleaned', { node: N2 }))
})

/** n1 (logging to `logger`) and n2 joined, with a 1 s peer timeout, once n1's forward link to n2 is open. */
async function linkedPair (t: TestContext): Promise<{ logger: RecordingLogger, n1: ClusterNetwork, n2: ClusterNetwork }> {
  const logger = new RecordingLogger()
  const n1 = await startNode(t, { name: N1, logger, peerTimeoutMs: 1_000 })
  const n2 = await startNode(t, { name: N2, peerTimeoutMs: 1_000 })
  await n2.join(n1.addresses()[0]!)
  await waitUntil(() => n1.stats().links[N2]?.connected === true, NET_WAIT_MS, 'n1 forward link to n2')
  return { logger, n1, n2 }
}

test('a peer that stops answering is detected by heartbeat, disconnected, and healed on reconnect', async (t) => {
  const { logger, n1, n2 } = await linkedPair(t)
  const down = nextEvent(n1, 'node-down', d => d.node === N2)
  const healed = nextEvent(n1, 'partition-healed', d => d.node === N2)

  // n2 stops reading n1's forward stream: no acks come back, as in a silent partition.
  const inbound = n2.libp2p.getConnections().flatMap(c => c.streams).filter(s => s.protocol === FORWARD_PROTOCOL && s.direction === 'inbound')
  assert.equal(inbound.length, 1)
  inbound[0]!.pause()

  assert.deepStrictEqual(await down, { node: N2, reason: 'unresponsive' })
  assert.ok(logger.has('partition_detected', { node: N2 }))
  assert.equal((await healed).node, N2)
  await waitUntil(() => n1.isRunning(N2), NET_WAIT_MS, 'n2 running again on n1')
  assert.ok(logger.has('partition_healed', { node: N2 }))
})

test('a peer that is up but on which no forward stream opens is reported unresponsive after the peer timeout, not kept up', async (t) => {
  const { logger, n1, n2 } = await linkedPair(t)
  const down = nextEvent(n1, 'node-down', d => d.node === N2)

  // n2 stops taking forward streams and drops the one it has: its connection and hellos stay up.
  await n2.libp2p.unhandle(FORWARD_PROTOCOL)
  for (const stream of n2.libp2p.getConnections().flatMap(c => c.streams).filter(s => s.protocol === FORWARD_PROTOCOL)) stream.abort(new Error('test: forward refused'))

  assert.deepStrictEqual(await down, { node: N2, reason: 'unresponsive' })
  assert.ok(logger.has('node_unresponsive', { node: N2 }))
})
