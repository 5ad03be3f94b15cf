/**
 * `cluster join` on two in-process nodes: a join that does not leave the cluster (the target is
 * already a member, or the address names this node) keeps everything this node holds of the
 * cluster: the routes and the replicated retained messages are dropped only when the node really
 * leaves its cluster for another (README "Cluster").
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startInProcessCluster, routeNodes, waitForRouteOf } from './helpers/in-process-cluster.js'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import { pollUntil } from './helpers/wait.js'

const WAIT_MS = 10_000

test('cluster join to a node already in the cluster, or to itself, keeps the routes and the retained messages', async (t) => {
  const [a, b] = await startInProcessCluster(t, 2, { prefix: 'rejoin' })
  const subscriber = await connectClient(t, a!.port, { clientId: 'rejoin-sub', protocolVersion: 5 })
  const inbox = new Inbox(subscriber)
  await subscriber.subscribeAsync('rejoin/#', { qos: 1 })
  await subscriber.publishAsync('rejoin/kept', 'retained on a', { qos: 1, retain: true })
  await waitForRouteOf(b!, 'rejoin/#', a!.nodeName)
  const retainedAtB = async (): Promise<string | undefined> => {
    const reader = await connectClient(t, b!.port, { clientId: `rejoin-reader-${Date.now()}`, protocolVersion: 5 })
    const readerInbox = new Inbox(reader)
    await reader.subscribeAsync('rejoin/kept', { qos: 1 })
    const message = await readerInbox.waitForTopic('rejoin/kept', 1_000).catch(() => undefined)
    reader.end(true)
    return message?.payload.toString()
  }
  await pollUntil(retainedAtB, value => value === 'retained on a', WAIT_MS, 'b to hold a\'s retained message')

  await b!.cluster.join(`${a!.nodeName}:${a!.clusterPort}`)
  await assert.rejects(b!.cluster.join(`${b!.nodeName}:${b!.clusterPort}`), { name: 'JoinFailedError' })

  assert.deepEqual(await routeNodes(b!, 'rejoin/#'), [a!.nodeName], 'b still routes rejoin/# to a')
  assert.equal(await retainedAtB(), 'retained on a', 'b still holds a\'s retained message')
  const publisher = await connectClient(t, b!.port, { clientId: 'rejoin-pub', protocolVersion: 5 })
  await publisher.publishAsync('rejoin/after', 'from b', { qos: 1 })
  assert.equal((await inbox.waitForTopic('rejoin/after', WAIT_MS)).payload.toString(), 'from b')
})
