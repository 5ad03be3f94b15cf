/**
 * The retained digest repairs a lost push: two in-process cluster networks, each with a retainer
 * actor and its `ClusterRetained` wiring; node 1's replicator loses the push of one write (as a
 * push lost on a link that never went down, so no node-up pull follows), and node 2 must still
 * get it from the periodic digest check alone.
 */
import '../src/core/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { start, stop, query, dispatch, type Ref } from 'nact'
import { createClusterNetwork, type ClusterNetwork } from '../network/cluster.js'
import { spawnRetainer, type RetainedReplicator } from '../actors/retainer.js'
import type { RetainerMsg } from '../actors/messages.js'
import { ClusterRetained } from '../src/cluster-retained.js'
import { createLogger } from '../src/core/log.js'
import { systemClock } from '../src/core/clock.js'
import type { RetainedEntry } from '../src/core/routing/retained-replica.js'
import type { Message } from '../src/core/mqtt/message.js'
import { freePort } from './helpers/ports.js'
import { FAST_TIMERS, NET_WAIT_MS, tempDir } from './network-helpers.js'
import { pollUntil, waitUntil } from './helpers/wait.js'

const DIGEST_INTERVAL_MS = 300

interface RetainedNode { net: ClusterNetwork, retainer: Ref<RetainerMsg> }

/** A replicator that loses the pushes of writes to `lost` topics. */
class LossyReplicator implements RetainedReplicator {
  readonly lost = new Set<string>()
  target: RetainedReplicator | undefined
  retainedWritten (entries: RetainedEntry[]): void {
    this.target?.retainedWritten(entries.filter(entry => !this.lost.has(entry.topic)))
  }
}

function retained (topic: string, payload: string, origin: string): Message {
  return { topic, payload: Buffer.from(payload), qos: 1, retain: true, publisher: 'p', origin }
}

test('the periodic digest check repairs a lost retained push, without a node-up', async t => {
  const ports = [await freePort(), await freePort()]
  const names = ports.map((_, i) => `rd${i + 1}@127.0.0.1`)
  const seeds = names.map((name, i) => `${name}:${ports[i]!}`)
  const log = createLogger({ level: process.env.TEST_LOG ?? 'silent', format: 'json', node: 'test' })
  const lossy = new LossyReplicator()
  const nodes: RetainedNode[] = []
  for (const [i, name] of names.entries()) {
    const net = createClusterNetwork({ ...FAST_TIMERS, name, dataDir: await tempDir(t), listenHost: '127.0.0.1', port: ports[i]!, discovery: 'static', seeds, secret: 'test-secret' })
    const sync = new ClusterRetained(net, log, DIGEST_INTERVAL_MS)
    const system = start()
    t.after(() => { stop(system) })
    const retainer = spawnRetainer(system, {
      node: name,
      log,
      clock: systemClock,
      limits: { maxMessages: 1000, maxBytes: 2 ** 30 },
      tombstones: { maxTombstones: 1000, tombstoneMs: 60_000 },
      replicator: i === 0 ? lossy : sync
    })
    if (i === 0) lossy.target = sync
    sync.attach(retainer)
    t.after(async () => {
      sync.stop()
      await net.stop()
    })
    nodes.push({ net, retainer })
  }
  await Promise.all(nodes.map(async ({ net }) => { await net.start() }))
  await waitUntil(() => nodes.every(({ net }) => net.runningMembers().length === 1), NET_WAIT_MS, 'both nodes up')
  const [n1, n2] = nodes
  assert.ok(n1 !== undefined && n2 !== undefined)
  const topicsOf = async (node: RetainedNode): Promise<string[]> =>
    (await query(node.retainer, (replyTo: Ref<RetainedEntry[]>) => ({ type: 'replicated_snapshot', replyTo }), 5000))
      .filter(entry => entry.message !== undefined).map(entry => `${entry.topic}=${entry.message!.payload.toString()}`).sort()

  dispatch(n1.retainer, { type: 'retain', messages: [retained('pushed', 'p', names[0]!)] })
  await pollUntil(async () => await topicsOf(n2), topics => topics.includes('pushed=p'), NET_WAIT_MS, 'the pushed write on node 2')
  let nodeUps = 0
  n2.net.addEventListener('node-up', () => { nodeUps++ })

  lossy.lost.add('lost')
  dispatch(n1.retainer, { type: 'retain', messages: [retained('lost', 'l', names[0]!)] })
  assert.deepEqual(await topicsOf(n1), ['lost=l', 'pushed=p'])
  await pollUntil(async () => await topicsOf(n2), topics => topics.join() === 'lost=l,pushed=p', NET_WAIT_MS, 'the write whose push was lost on node 2')
  assert.equal(nodeUps, 0, 'repaired by the digest check, not by a pull on node-up')
})
