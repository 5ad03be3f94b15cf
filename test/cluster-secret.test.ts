/**
 * Acceptance: the cluster secret keeps a node out. A node started with another secret, even
 * with every member as a seed and every member listing it as a seed, never appears in any
 * member's status, sees only itself, cannot `cluster join`, and no message crosses either way.
 * A node left on the public default secret says so in its log.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ctlJson, CtlCommandError, membership, planCluster, routeTable, startPlanned, waitForFullMesh, waitForRoutes } from './helpers/cluster.js'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import { logEvent, startNode, type NodeProcess } from './helpers/node-process.js'
import { freePorts } from './helpers/ports.js'
import { sendControlRequest } from '../src/ctl.js'
import { sleep, uniqueName } from './helpers/wait.js'

const OBSERVE_MS = 4_000
const OBSERVE_INTERVAL_MS = 250

test('a node with the wrong secret cannot join: never listed by the members, sees only itself, no message crosses', async t => {
  const plan = await planCluster({
    prefix: 'sc',
    size: 3,
    secret: 'the-cluster-secret',
    perNode: i => i === 2 ? { secret: 'another-secret' } : {}
  })
  const nodes = await startPlanned(t, plan)
  const [n1, n2, outsider] = nodes as [NodeProcess, NodeProcess, NodeProcess]
  await waitForFullMesh([n1, n2], 15_000)

  const run = uniqueName('s')
  const inside = await connectClient(t, n1.mqttPort, { clientId: `${run}-in` })
  const insideInbox = new Inbox(inside)
  await inside.subscribeAsync(`secret/${run}/#`, { qos: 1 })
  const outside = await connectClient(t, outsider.mqttPort, { clientId: `${run}-out` })
  const outsideInbox = new Inbox(outside)
  await outside.subscribeAsync(`secret/${run}/#`, { qos: 1 })
  await waitForRoutes(n2, { [`secret/${run}/#`]: [n1.name] }, 10_000)

  // Watch for a while: the seeds keep redialing each other the whole time.
  const deadline = Date.now() + OBSERVE_MS
  while (Date.now() < deadline) {
    for (const member of [n1, n2]) {
      const view = await membership(member)
      assert.deepEqual(view, { running: [n1.name, n2.name], stopped: [] }, `${member.name} never lists the outsider`)
    }
    assert.deepEqual(await membership(outsider), { running: [outsider.name], stopped: [] }, 'the outsider sees only itself')
    await sleep(OBSERVE_INTERVAL_MS)
  }
  await assert.rejects(ctlJson(outsider, 'cluster', 'join', plan.seeds[0]!), CtlCommandError, '`cluster join` with the wrong secret fails')
  assert.deepEqual(await membership(n1), { running: [n1.name, n2.name], stopped: [] })
  assert.deepEqual(await routeTable(outsider), { [`secret/${run}/#`]: [outsider.name] }, 'the outsider has none of the cluster\'s routes')
  assert.deepEqual(await routeTable(n1), { [`secret/${run}/#`]: [n1.name] }, 'the cluster has none of the outsider\'s routes')

  const fromOutside = await connectClient(t, outsider.mqttPort, { clientId: `${run}-pub-out` })
  await fromOutside.publishAsync(`secret/${run}/from-outside`, 'x', { qos: 1 })
  const fromInside = await connectClient(t, n2.mqttPort, { clientId: `${run}-pub-in` })
  await fromInside.publishAsync(`secret/${run}/from-inside`, 'y', { qos: 1 })
  await insideInbox.waitForTopic(`secret/${run}/from-inside`, 5_000)
  await outsideInbox.waitForTopic(`secret/${run}/from-outside`, 5_000)
  await insideInbox.expectNoMoreThan(1, 1_000)
  await outsideInbox.expectNoMoreThan(1, 0)
})

test('a node started without --secret runs on the public default, logs cluster_default_secret and `cluster status` says so; one with a secret does not', async t => {
  const [defaultCluster, defaultControl, ownCluster, ownControl] = await freePorts(4)
  const withDefault = await startNode(t, { name: 'defaultsecret1@127.0.0.1', clusterPort: defaultCluster, controlPort: defaultControl })
  const warning = await withDefault.waitForLog(logEvent('cluster_default_secret'), { timeoutMs: 1000, what: 'the default-secret warning' })
  assert.equal(warning.level, 'warn')
  assert.match(String(warning.advice), /for production set the cluster secret \(MESHMQ_CLUSTER_SECRET, or --secret-file FILE/, 'the warning says what to set')
  const status = await sendControlRequest(withDefault.controlTarget(), { args: ['cluster', 'status'] })
  assert.equal((status.result as { default_secret: boolean }).default_secret, true)
  assert.match(status.text ?? '', /^Cluster status: .*\nWarning: this node uses the public default cluster secret.*MESHMQ_CLUSTER_SECRET, or --secret-file FILE/)

  const withSecret = await startNode(t, { name: 'ownsecret1@127.0.0.1', clusterPort: ownCluster, controlPort: ownControl, secret: 'not-the-default' })
  await withSecret.waitForLog(logEvent('broker_started'), { timeoutMs: 1000 })
  assert.equal(withSecret.logs.find(line => line.msg === 'cluster_default_secret'), undefined, 'the warning is logged before broker_started, or not at all')
  const ownStatus = await sendControlRequest(withSecret.controlTarget(), { args: ['cluster', 'status'] })
  assert.equal((ownStatus.result as { default_secret: boolean }).default_secret, false)
  assert.doesNotMatch(ownStatus.text ?? '', /Warning/)
})
