/**
 * Acceptance (issue 9), with three real meshmq processes on 127.0.0.1: the cluster behaves as one
 * broker. A persistent session moves between processes with QoS 1 traffic flowing, and nothing
 * acknowledged is lost; a shared group with members in every process gets each message once.
 * The same behaviours are tested in depth with in-process nodes (cluster-sessions, cluster-shared);
 * retained messages and wills across processes are in cluster-retained and cluster-wills.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt, { type IConnackPacket } from 'mqtt'
import { startCluster, waitForRoutesEverywhere } from './helpers/cluster.js'
import { connectClient, endClient, Inbox } from './helpers/mqtt-client.js'
import { DeliveryChecker } from './helpers/delivery-checker.js'
import { PacedPublisher } from './helpers/paced-publisher.js'
import { uniqueName, waitUntil } from './helpers/wait.js'

const DELIVERY_TIMEOUT_MS = 15_000

test('3 processes: a persistent session taken over across nodes under QoS 1 load loses no acknowledged message [MQTT-3.1.4-3] [MQTT-3.2.2-3]', async t => {
  const { nodes } = await startCluster(t, { prefix: 'ob', size: 3 })
  const [n1, n2, n3] = nodes
  assert.ok(n1 !== undefined && n2 !== undefined && n3 !== undefined)
  const run = uniqueName('tk').replace(/[^a-z0-9]/gi, '')
  const topic = `takeover/${run}`
  const clientId = `${run}-sub`
  const checker = new DeliveryChecker(['sub'])
  const record = (client: mqtt.MqttClient): void => {
    client.on('message', (_topic, payload, packet) => { checker.received('sub', payload.toString(), packet.dup) })
  }

  const first = await connectClient(t, n1.mqttPort, { clientId, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } })
  record(first)
  await first.subscribeAsync(topic, { qos: 1 })
  await waitForRoutesEverywhere(nodes, { [topic]: [n1.name] }, 10_000)

  const publisherClient = await connectClient(t, n3.mqttPort, { clientId: `${run}-pub` })
  const publisher = new PacedPublisher(publisherClient, topic, id => { checker.acked(id) })
  publisher.start(300, 'm')
  await waitUntil(() => publisher.acked >= 150, DELIVERY_TIMEOUT_MS, 'traffic before the takeover')

  // The client comes back on node 2 while messages keep flowing: node 1 hands the session over.
  const closed = new Promise<void>(resolve => { first.once('close', () => { resolve() }) })
  // Listening from before CONNACK: the in-flight messages the session brings are resent right after it.
  const second = mqtt.connect({ host: '127.0.0.1', port: n2.mqttPort, clientId, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 }, resubscribe: false, reconnectPeriod: 0 })
  t.after(async () => { await endClient(second) })
  record(second)
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    second.once('connect', resolve)
    second.once('error', reject)
  })
  assert.equal(connack.sessionPresent, true, 'the session moved with its state [MQTT-3.2.2-3]')
  await closed
  await endClient(first)
  await waitUntil(() => publisher.acked >= 450, DELIVERY_TIMEOUT_MS, 'traffic after the takeover')
  await publisher.stop()

  try {
    await waitUntil(() => checker.complete, DELIVERY_TIMEOUT_MS, 'every acknowledged message at the subscriber')
  } finally {
    if (!checker.complete) {
      t.diagnostic(`missing: ${checker.missing('sub', 30).join(' ')}`)
      const interesting = /dropped|handover|taken_over|takeover|conflict|session_|client_/
      for (const node of nodes) {
        for (const line of node.logs) if (interesting.test(line.msg)) t.diagnostic(`${node.name} ${JSON.stringify(line)}`)
      }
    }
  }
  const report = checker.reports()[0]
  assert.ok(report !== undefined)
  t.diagnostic(`acked ${checker.ackedCount}, ${JSON.stringify(report)}`)
  assert.equal(report.lost, 0, 'no acknowledged message lost across the takeover')
  assert.equal(report.duplicates, 0, 'no message delivered twice without DUP')
  assert.equal(publisher.failed, 0)
})

test('3 processes: a $share group with a member on every node gets each message exactly once (MQTT 5 §4.8.2)', async t => {
  const { nodes } = await startCluster(t, { prefix: 'os', size: 3 })
  const run = uniqueName('sh').replace(/[^a-z0-9]/gi, '')
  const filter = `jobs/${run}/+`
  const inboxes: Inbox[] = []
  for (const [i, node] of nodes.entries()) {
    const member = await connectClient(t, node.mqttPort, { clientId: `${run}-m${i + 1}`, protocolVersion: 5 })
    await member.subscribeAsync(`$share/workers/${filter}`, { qos: 1 })
    inboxes.push(new Inbox(member))
  }
  const shared = `$share/workers/${filter}`
  await waitForRoutesEverywhere(nodes, { [shared]: nodes.map(node => node.name).sort() }, 10_000)

  const count = 90
  const publishers = await Promise.all(nodes.map(async (node, i) => await connectClient(t, node.mqttPort, { clientId: `${run}-p${i + 1}` })))
  for (let n = 0; n < count; n++) await publishers[n % publishers.length]!.publishAsync(`jobs/${run}/${n % 7}`, `j${n}`, { qos: 1 })

  const total = (): number => inboxes.reduce((sum, inbox) => sum + inbox.messages.length, 0)
  await waitUntil(() => total() >= count, DELIVERY_TIMEOUT_MS, 'every job at some member')
  await new Promise(resolve => setTimeout(resolve, 500))
  const got = inboxes.flatMap(inbox => inbox.messages.map(m => m.payload.toString())).sort()
  const want = Array.from({ length: count }, (_unused, n) => `j${n}`).sort()
  t.diagnostic(`per member: ${inboxes.map(inbox => inbox.messages.length).join(', ')}`)
  assert.deepEqual(got, want, 'each message once in the group, none lost')
  for (const [i, inbox] of inboxes.entries()) assert.ok(inbox.messages.length > 0, `member on node ${i + 1} got a share`)
})
