/**
 * Cluster scenarios on meshmq nodes on 127.0.0.1 with static seeds, all nodes on the broker CPU
 * except in the cross-node pairs:
 * - cluster-pairs, cluster-pairs-qos1: 10 pairs QoS 0 (QoS 1) publishing on node 1 (alone on the
 *   broker CPU) and subscribing on node 2 (on the generator's CPU), alternated with the same
 *   workload on a single node;
 * - cluster-wildcard-mixed: the mixed wildcard workload with subscribers and publishers on all
 *   three nodes (every node on the broker CPU), alternated with the same workload on a single node;
 * - cluster-convergence: subscribe on node 2 → first delivery of a publish looping on node 1;
 * - cluster-join-sync: node 3 joins a cluster that holds many routes; time until it routes them;
 * - cluster-shared: QoS 1 publishers on node 1 to six subscribers, two on each node, with a plain
 *   subscription to a topic each, then as one `$share` group (each message delivered once either way);
 * - cluster-retained-sync: node 3 joins a cluster that holds 100k retained messages; time until
 *   it delivers them on subscribe (`retained-sync-workload.ts`);
 * - cluster-mdns-mesh: three nodes in the netns lab find each other by mDNS (`mdns-mesh.ts`);
 * - cluster-takeover: a persistent session taken over back and forth between node 1 and node 2
 *   (`takeover-workload.ts`).
 * A cluster that does not start, or cannot route one message from node 1 to node 2, skips the rest.
 */
import { startBroker, startMeshmq, type BrokerHost, type RunningBroker } from './brokers.js'
import { freePort } from '../test/helpers/ports.js'
import { GeneratorProcess, runGenerator } from './generator-process.js'
import { integrityOf, runThroughputWorkload, whileAlive, type Hosts } from './single-node.js'
import { MIX_PUBLISHERS, pairs, wildcardMixed, type LoadSettings, type Metric } from './scenarios.js'
import { CLEAN, describeFailure, type RunOutcome } from './outcome.js'
import { percentile } from './stats.js'
import { CpuSampler } from './cpu-sampler.js'
import { ScenarioSkippedError } from './errors.js'
import { mdnsLabUnavailable, runMdnsMesh } from './mdns-mesh.js'
import { runTakeoverWorkload } from './takeover-workload.js'
import { probeRetained, publishRetained, sampleTopics } from './retained-sync-workload.js'
import { epochNow, type SharedResult, type SharedWorkload, type ConvergenceResult, type RouteSyncReady, type RouteSyncResult, type ThroughputResult, type ThroughputWorkload } from './workload.js'

/** The cross-node pairs scenarios, one per QoS. */
type CrossNodePairsId = 'cluster-pairs' | 'cluster-pairs-qos1'
export type ClusterScenarioId = CrossNodePairsId | 'cluster-wildcard-mixed' | 'cluster-convergence' | 'cluster-join-sync' | 'cluster-retained-sync' | 'cluster-shared' | 'cluster-mdns-mesh' | 'cluster-takeover'
export const CLUSTER_SCENARIO_IDS: readonly ClusterScenarioId[] = ['cluster-pairs', 'cluster-pairs-qos1', 'cluster-wildcard-mixed', 'cluster-convergence', 'cluster-join-sync', 'cluster-retained-sync', 'cluster-shared', 'cluster-mdns-mesh', 'cluster-takeover']

const NODES = 3
const ROUTE_CHECK_TIMEOUT_MS = 20_000
const CONVERGENCE_TRIAL_TIMEOUT_MS = 5_000
const SYNC_CONNECTIONS = 10
const SYNC_SAMPLES = 10
const SYNC_TIMEOUT_MS = 120_000
const SHARED_PUBLISHERS = 4
const SHARED_MEMBERS_PER_NODE = 2
/** Retained messages the cluster holds when node 3 joins (the default `mqtt.maxRetainedMessages`). */
const SYNC_RETAINED = 100_000
const RETAINED_PROBE_INTERVAL_MS = 20

/** The cluster did not start or could not route a message between two nodes. */
export class ClusterStartError extends Error {
  override readonly name = 'ClusterStartError'
}

export interface ClusterSettings extends LoadSettings {
  convergenceTrials: number
  syncRoutes: number
}

/** One row of the cluster table: a figure of the cluster and, where there is one, the single-node reference. */
export interface ClusterRow {
  scenario: ClusterScenarioId
  metric: Metric
  /** Key of the same figure measured on a single node, for the ratio column. */
  referenceKey: string | null
  target: string
}

/** The rows of a cross-node pairs scenario (either QoS); `target` goes on the busiest-node row. */
function crossNodePairsRows (scenario: CrossNodePairsId, target: string): ClusterRow[] {
  return [
    { scenario, metric: { key: 'crossNodeMsgPerSecond', label: 'msg/s delivered, publish on node 1 (broker CPU), subscribe on node 2 (generator CPU)', higherIsBetter: true, digits: 0, generatorSensitive: true }, referenceKey: 'singleNodeMsgPerSecond', target: '' },
    { scenario, metric: { key: 'node1CpuUsPerMessage', label: 'CPU per delivered message, node 1 (receives, forwards), µs', higherIsBetter: false, digits: 2, generatorSensitive: true }, referenceKey: 'singleCpuUsPerMessage', target: '' },
    { scenario, metric: { key: 'node2CpuUsPerMessage', label: 'CPU per delivered message, node 2 (receives forwards, delivers), µs', higherIsBetter: false, digits: 2, generatorSensitive: true }, referenceKey: 'singleCpuUsPerMessage', target: '' },
    { scenario, metric: { key: 'crossNodePerBusiestCore', label: 'msg/s per CPU second of the busiest node (the rate with a core per node)', higherIsBetter: true, digits: 0, generatorSensitive: true }, referenceKey: 'singleNodePerCore', target }
  ]
}

export const CLUSTER_ROWS: readonly ClusterRow[] = [
  ...crossNodePairsRows('cluster-pairs', '≥ 0.8× single node'),
  ...crossNodePairsRows('cluster-pairs-qos1', ''),
  { scenario: 'cluster-wildcard-mixed', metric: { key: 'clusterMsgPerSecond', label: 'msg/s delivered, 3 nodes on the broker CPU (reference: one node on it)', higherIsBetter: true, digits: 0, generatorSensitive: true }, referenceKey: 'singleNodeMsgPerSecond', target: '' },
  { scenario: 'cluster-wildcard-mixed', metric: { key: 'clusterCpuUsPerMessage', label: 'CPU per delivered message, 3 nodes together, µs', higherIsBetter: false, digits: 2, generatorSensitive: true }, referenceKey: 'singleCpuUsPerMessage', target: '' },
  { scenario: 'cluster-wildcard-mixed', metric: { key: 'clusterPerBusiestCore', label: 'msg/s per CPU second of the busiest node (the rate with a core per node)', higherIsBetter: true, digits: 0, generatorSensitive: true }, referenceKey: 'singleNodePerCore', target: '' },
  { scenario: 'cluster-convergence', metric: { key: 'p50', label: 'route convergence p50, ms', higherIsBetter: false, digits: 1, generatorSensitive: true }, referenceKey: null, target: '' },
  { scenario: 'cluster-convergence', metric: { key: 'p99', label: 'route convergence p99, ms', higherIsBetter: false, digits: 1, generatorSensitive: true }, referenceKey: null, target: '≤ 50 ms' },
  { scenario: 'cluster-join-sync', metric: { key: 'heldMs', label: 'routes held: node 2 routes the samples, ms after the first SUBSCRIBE on node 1', higherIsBetter: false, digits: 0, generatorSensitive: true }, referenceKey: null, target: '' },
  { scenario: 'cluster-join-sync', metric: { key: 'fromListenerMs', label: 'join: routes usable, ms after its MQTT port opened', higherIsBetter: false, digits: 0, generatorSensitive: true }, referenceKey: null, target: '≤ 1000 ms' },
  { scenario: 'cluster-join-sync', metric: { key: 'fromSpawnMs', label: 'join: routes usable, ms after process start', higherIsBetter: false, digits: 0, generatorSensitive: true }, referenceKey: null, target: '' },
  { scenario: 'cluster-shared', metric: { key: 'sharedMsgPerSecond', label: 'msg/s delivered once, QoS 1, publish on node 1, $share group of 2 members per node (reference: the same 6 subscribers, plain, a topic each)', higherIsBetter: true, digits: 0, generatorSensitive: true }, referenceKey: 'plainMsgPerSecond', target: '' },
  { scenario: 'cluster-shared', metric: { key: 'sharedCpuUsPerMessage', label: 'CPU per delivered message, 3 nodes together, µs', higherIsBetter: false, digits: 2, generatorSensitive: true }, referenceKey: 'plainCpuUsPerMessage', target: '' },
  { scenario: 'cluster-retained-sync', metric: { key: 'heldMs', label: 'retained held: node 2 delivers the samples, ms after the last publish on node 1', higherIsBetter: false, digits: 0, generatorSensitive: false }, referenceKey: null, target: '' },
  { scenario: 'cluster-retained-sync', metric: { key: 'fromListenerMs', label: 'join: 100k retained delivered on subscribe, ms after its MQTT port opened', higherIsBetter: false, digits: 0, generatorSensitive: false }, referenceKey: null, target: '' },
  { scenario: 'cluster-retained-sync', metric: { key: 'fromSpawnMs', label: 'join: 100k retained delivered on subscribe, ms after process start', higherIsBetter: false, digits: 0, generatorSensitive: false }, referenceKey: null, target: '' },
  { scenario: 'cluster-mdns-mesh', metric: { key: 'fromSpawnMs', label: 'full mesh, ms after the three processes started', higherIsBetter: false, digits: 0, generatorSensitive: false }, referenceKey: null, target: '' },
  { scenario: 'cluster-mdns-mesh', metric: { key: 'fromStartedMs', label: 'full mesh, ms after the last node logged broker_started', higherIsBetter: false, digits: 0, generatorSensitive: false }, referenceKey: null, target: '' },
  { scenario: 'cluster-takeover', metric: { key: 'p50', label: 'session takeover across nodes p50, ms from the new connection to CONNACK (session present)', higherIsBetter: false, digits: 1, generatorSensitive: false }, referenceKey: null, target: '' },
  { scenario: 'cluster-takeover', metric: { key: 'p99', label: 'session takeover across nodes p99, ms', higherIsBetter: false, digits: 1, generatorSensitive: false }, referenceKey: null, target: '' }
]

export const CLUSTER_TITLES: Record<ClusterScenarioId, string> = {
  'cluster-pairs': '10 pairs QoS 0 across nodes',
  'cluster-pairs-qos1': '10 pairs QoS 1 across nodes',
  'cluster-wildcard-mixed': 'mixed wildcards (10k filters, 26.5k topics, QoS 0), subscribers and publishers on all 3 nodes',
  'cluster-convergence': 'route convergence, subscribe on node 2, publish on node 1',
  'cluster-join-sync': 'node 3 joins a cluster holding the routes',
  'cluster-retained-sync': 'node 3 joins a cluster holding 100k retained messages',
  'cluster-shared': 'shared subscription across 3 nodes vs a plain subscription',
  'cluster-mdns-mesh': '3 nodes in network namespaces, mDNS discovery, no seeds',
  'cluster-takeover': 'a persistent session taken over between node 1 and node 2'
}

interface ClusterNodeAddress {
  name: string
  mqttPort: number
  clusterPort: number
}

/** Ports and names for the nodes; every node lists all the others as seeds. */
async function planCluster (): Promise<ClusterNodeAddress[]> {
  const nodes: ClusterNodeAddress[] = []
  for (let i = 1; i <= NODES; i++) nodes.push({ name: `n${i}@127.0.0.1`, mqttPort: await freePort(), clusterPort: await freePort() })
  return nodes
}

function clusterArgs (node: ClusterNodeAddress, all: readonly ClusterNodeAddress[]): string[] {
  const seeds = all.filter(other => other !== node).map(other => `${other.name}:${other.clusterPort}`).join(',')
  return ['--name', node.name, '--cluster-port', String(node.clusterPort), '--discovery', 'static', '--seeds', seeds]
}

async function startNode (host: BrokerHost, node: ClusterNodeAddress, all: readonly ClusterNodeAddress[]): Promise<RunningBroker> {
  return await startMeshmq(host, node.mqttPort, clusterArgs(node, all), `meshmq ${node.name}`)
}

/**
 * Where the nodes run: every node on the broker CPU, or (`own-core`) node 1 alone on the broker
 * CPU and the other nodes on the generator's CPU.
 */
type NodePlacement = 'shared-core' | 'own-core'

/** Starts the given nodes and checks that a subscription on the second is reached from the first. */
async function startNodes (hosts: Hosts, plan: readonly ClusterNodeAddress[], count: number, placement: NodePlacement = 'shared-core'): Promise<RunningBroker[]> {
  const started: RunningBroker[] = []
  const hostOf = (i: number): BrokerHost => placement === 'own-core' && i > 0 ? { ...hosts.broker, cpu: hosts.generator.cpu } : hosts.broker
  try {
    const results = await Promise.allSettled(plan.slice(0, count).map(async (node, i) => await startNode(hostOf(i), node, plan)))
    for (const r of results) if (r.status === 'fulfilled') started.push(r.value)
    const failed = results.find(r => r.status === 'rejected')
    if (failed !== undefined) throw new ClusterStartError(describeFailure(failed.reason))
    const check = await whileAlive(runGenerator<ConvergenceResult>(hosts.generator, {
      kind: 'convergence', publishTo: started[0]!.address, subscribeTo: started[1]!.address, trials: 1, publishIntervalMs: 5, trialTimeoutMs: ROUTE_CHECK_TIMEOUT_MS, topicPrefix: 'cluster-check'
    }, 'generator', ROUTE_CHECK_TIMEOUT_MS + 15_000), started)
    if (check.samplesMs.length === 0) throw new ClusterStartError(`a subscription on node 2 was not reached from node 1 within ${ROUTE_CHECK_TIMEOUT_MS} ms${check.errors.length > 0 ? ` (${check.errors.join('; ')})` : ''}`)
    return started
  } catch (err) {
    await Promise.all(started.map(async b => { await b.stop() }))
    const logs = started.map(b => `${b.process.label}: ${b.process.stderr().split('\n').slice(-2).join(' | ')}`).filter(line => !line.endsWith(': '))
    const reason = err instanceof ClusterStartError ? err.message : describeFailure(err)
    throw new ClusterStartError(logs.length === 0 ? reason : `${reason}; last stderr lines: ${logs.join('; ')}`)
  }
}

async function stopAll (brokers: readonly RunningBroker[]): Promise<void> {
  await Promise.all(brokers.map(async b => { await b.stop() }))
}

/** A crash of any node after the work counts as a failed run. */
function crashed (brokers: readonly RunningBroker[]): string | null {
  const gone = brokers.find(b => b.process.exitStatus !== null)
  return gone === undefined ? null : gone.process.describeExit()
}

/**
 * One run of a cluster scenario. Throws ClusterStartError when the cluster cannot be used at all,
 * ScenarioSkippedError when this scenario cannot run on this machine; other failures come back as
 * a failed RunOutcome.
 */
export async function runClusterScenario (id: ClusterScenarioId, hosts: Hosts, settings: ClusterSettings): Promise<RunOutcome> {
  switch (id) {
    case 'cluster-pairs': return await crossNodePairs(hosts, settings, 0)
    case 'cluster-pairs-qos1': return await crossNodePairs(hosts, settings, 1)
    case 'cluster-wildcard-mixed': return await clusterWildcardMixed(hosts, settings)
    case 'cluster-convergence': return await convergence(hosts, settings)
    case 'cluster-join-sync': return await joinSync(hosts, settings)
    case 'cluster-takeover': return await takeover(hosts, settings)
    case 'cluster-shared': return await sharedVsPlain(hosts, settings)
    case 'cluster-retained-sync': return await retainedSync(hosts)
    case 'cluster-mdns-mesh': {
      const unavailable = await mdnsLabUnavailable()
      if (unavailable !== undefined) throw new ScenarioSkippedError(`mDNS runs only inside network namespaces: ${unavailable}`)
      return await runMdnsMesh(hosts.broker)
    }
  }
}

/**
 * Node 1 gets 100k retained messages; once node 2 delivers a sample of them (the cluster holds
 * the set), node 3 starts and joins (static seeds): the time until it delivers every sample on
 * subscribe is its pull of the whole set.
 */
async function retainedSync (hosts: Hosts): Promise<RunOutcome> {
  const plan = await planCluster()
  const nodes = await startNodes(hosts, plan, NODES - 1)
  const prefix = 'rsync'
  const samples = sampleTopics(prefix, SYNC_RETAINED, SYNC_SAMPLES)
  try {
    await whileAlive(publishRetained(nodes[0]!.address, prefix, SYNC_RETAINED, AbortSignal.timeout(SYNC_TIMEOUT_MS)), nodes)
    const publishedAt = epochNow()
    const held = await whileAlive(probeRetained(nodes[1]!.address, samples, RETAINED_PROBE_INTERVAL_MS, SYNC_TIMEOUT_MS), nodes)
    if (held.allDeliveredAt === null) return { ok: false, failure: `node 2 delivered ${held.delivered} of ${held.samples} sampled retained messages within ${SYNC_TIMEOUT_MS} ms` }
    const spawnedAt = epochNow()
    const joining = await startNode(hosts.broker, plan[NODES - 1]!, plan)
    nodes.push(joining)
    const listeningAt = epochNow()
    const result = await whileAlive(probeRetained(joining.address, samples, RETAINED_PROBE_INTERVAL_MS, SYNC_TIMEOUT_MS), nodes)
    const gone = crashed(nodes)
    if (gone !== null) return { ok: false, failure: gone }
    if (result.allDeliveredAt === null) return { ok: false, failure: `the joining node delivered ${result.delivered} of ${result.samples} sampled retained messages within ${SYNC_TIMEOUT_MS} ms` }
    return {
      ok: true,
      figures: { fromListenerMs: result.allDeliveredAt - listeningAt, fromSpawnMs: result.allDeliveredAt - spawnedAt, heldMs: held.allDeliveredAt - publishedAt },
      integrity: { ...CLEAN, errors: [] },
      generatorBusy: null
    }
  } catch (err) {
    return { ok: false, failure: describeFailure(err) }
  } finally {
    await stopAll(nodes)
  }
}

/** A throughput result with the CPU each broker process used within its measuring window. */
interface MeasuredRun {
  result: ThroughputResult
  cpuMs: number[]
}

async function measureWithCpu (hosts: Hosts, workload: ThroughputWorkload, brokers: RunningBroker[]): Promise<MeasuredRun> {
  const sampler = new CpuSampler(brokers.map(b => b.process.pid))
  let result: ThroughputResult
  try {
    result = await runThroughputWorkload(hosts.generator, workload, ...brokers)
  } finally {
    sampler.stop()
  }
  const cpuMs = brokers.map(b => sampler.cpuMsBetween(b.process.pid, result.measuredFromEpochMs, result.measuredToEpochMs) ?? Number.NaN)
  return { result, cpuMs }
}

/**
 * Messages delivered per CPU second of the busiest broker process: the rate the run would reach
 * if that process had a core of its own and stayed CPU-bound.
 */
function perBusiestCoreSecond (run: MeasuredRun): number {
  return run.result.measuredDeliveries / (Math.max(...run.cpuMs) / 1000)
}

/**
 * Node 1 (receives the publishes, forwards) runs alone on the broker CPU, as the single node
 * does; node 2 (receives the forwards, delivers) shares the generator's CPU. Node 1's CPU per
 * message is then measured as it runs on a core of its own, and the msg/s is a lower bound of a
 * cluster with a core per node (node 2 competes with the generator). At QoS 1 the publishers wait
 * for PUBACKs within the in-flight window and the subscribers PUBACK every message, so the
 * forwards run under node 2's flow control credit.
 */
async function crossNodePairs (hosts: Hosts, settings: ClusterSettings, qos: 0 | 1): Promise<RunOutcome> {
  const nodes = await startNodes(hosts, await planCluster(), NODES, 'own-core')
  let crossNode: MeasuredRun
  try {
    crossNode = await measureWithCpu(hosts, { ...pairs(settings, nodes[0]!.address, nodes[1]!.address, qos, null), routeTimeoutMs: ROUTE_CHECK_TIMEOUT_MS }, nodes)
    const gone = crashed(nodes)
    if (gone !== null) return { ok: false, failure: gone }
  } catch (err) {
    return { ok: false, failure: describeFailure(err) }
  } finally {
    await stopAll(nodes)
  }
  try {
    const broker = await startBroker('meshmq', hosts.broker)
    try {
      const single = await measureWithCpu(hosts, pairs(settings, broker.address, broker.address, qos, null), [broker])
      const [node1CpuMs, node2CpuMs] = crossNode.cpuMs
      const perMessageUs = (cpuMs: number | undefined, run: MeasuredRun): number => (cpuMs ?? Number.NaN) * 1000 / run.result.measuredDeliveries
      return {
        ok: true,
        figures: {
          crossNodeMsgPerSecond: crossNode.result.deliveredPerSecond,
          singleNodeMsgPerSecond: single.result.deliveredPerSecond,
          node1CpuUsPerMessage: perMessageUs(node1CpuMs, crossNode),
          node2CpuUsPerMessage: perMessageUs(node2CpuMs, crossNode),
          singleCpuUsPerMessage: perMessageUs(single.cpuMs[0], single),
          crossNodePerBusiestCore: perBusiestCoreSecond(crossNode),
          singleNodePerCore: perBusiestCoreSecond(single)
        },
        integrity: integrityOf(crossNode.result),
        generatorBusy: crossNode.result.generatorBusy
      }
    } finally {
      await broker.stop()
    }
  } catch (err) {
    return { ok: false, failure: `single-node reference: ${describeFailure(err)}` }
  }
}

/** CPU microseconds per message delivered in the run's measuring window, summed over `cpuMs`. */
function cpuUsPerMessage (run: MeasuredRun, cpuMs: readonly number[]): number {
  return cpuMs.reduce((sum, ms) => sum + ms, 0) * 1000 / run.result.measuredDeliveries
}

/**
 * The mixed wildcard workload on 3 nodes, all on the broker CPU: client c subscribes on node
 * c mod 3, publishers 0–3 publish on node 1, 4–6 on node 2, 7–9 on node 3; then the same on one
 * node. Most deliveries cross a node (two thirds of the topics belong to a client elsewhere).
 */
async function clusterWildcardMixed (hosts: Hosts, settings: ClusterSettings): Promise<RunOutcome> {
  const nodes = await startNodes(hosts, await planCluster(), NODES)
  const firstOnNode = [0, Math.ceil(MIX_PUBLISHERS * 0.4), Math.ceil(MIX_PUBLISHERS * 0.7)]
  const publisherNode = (p: number): number => firstOnNode.findLastIndex(first => p >= first)
  let cluster: MeasuredRun
  try {
    const workload = wildcardMixed(settings, nodes[0]!.address, nodes[0]!.address, p => nodes[publisherNode(p)]!.address, c => nodes[c % NODES]!.address)
    cluster = await measureWithCpu(hosts, { ...workload, routeTimeoutMs: ROUTE_CHECK_TIMEOUT_MS }, nodes)
    const gone = crashed(nodes)
    if (gone !== null) return { ok: false, failure: gone }
  } catch (err) {
    return { ok: false, failure: describeFailure(err) }
  } finally {
    await stopAll(nodes)
  }
  try {
    const broker = await startBroker('meshmq', hosts.broker)
    try {
      const single = await measureWithCpu(hosts, wildcardMixed(settings, broker.address, broker.address), [broker])
      return {
        ok: true,
        figures: {
          clusterMsgPerSecond: cluster.result.deliveredPerSecond,
          singleNodeMsgPerSecond: single.result.deliveredPerSecond,
          clusterCpuUsPerMessage: cpuUsPerMessage(cluster, cluster.cpuMs),
          singleCpuUsPerMessage: cpuUsPerMessage(single, single.cpuMs),
          clusterPerBusiestCore: perBusiestCoreSecond(cluster),
          singleNodePerCore: perBusiestCoreSecond(single)
        },
        integrity: integrityOf(cluster.result),
        generatorBusy: cluster.result.generatorBusy
      }
    } finally {
      await broker.stop()
    }
  } catch (err) {
    return { ok: false, failure: `single-node reference: ${describeFailure(err)}` }
  }
}

async function convergence (hosts: Hosts, settings: ClusterSettings): Promise<RunOutcome> {
  const nodes = await startNodes(hosts, await planCluster(), NODES)
  try {
    const result = await whileAlive(runGenerator<ConvergenceResult>(hosts.generator, {
      kind: 'convergence',
      publishTo: nodes[0]!.address,
      subscribeTo: nodes[1]!.address,
      trials: settings.convergenceTrials,
      publishIntervalMs: 1,
      trialTimeoutMs: CONVERGENCE_TRIAL_TIMEOUT_MS,
      topicPrefix: 'converge'
    }, 'generator', settings.convergenceTrials * (CONVERGENCE_TRIAL_TIMEOUT_MS + 100) + 30_000), nodes)
    const gone = crashed(nodes)
    if (gone !== null) return { ok: false, failure: gone }
    if (result.samplesMs.length === 0) return { ok: false, failure: `no trial converged within ${CONVERGENCE_TRIAL_TIMEOUT_MS} ms` }
    const errors = result.failures > 0 ? [`${result.failures} of ${settings.convergenceTrials} trials did not converge within ${CONVERGENCE_TRIAL_TIMEOUT_MS} ms`, ...result.errors] : result.errors
    return { ok: true, figures: { p50: percentile(result.samplesMs, 0.5), p99: percentile(result.samplesMs, 0.99) }, integrity: { ...CLEAN, errors }, generatorBusy: null }
  } catch (err) {
    return { ok: false, failure: describeFailure(err) }
  } finally {
    await stopAll(nodes)
  }
}

async function joinSync (hosts: Hosts, settings: ClusterSettings): Promise<RunOutcome> {
  const plan = await planCluster()
  const nodes = await startNodes(hosts, plan, NODES - 1)
  const generator = new GeneratorProcess(hosts.generator, {
    kind: 'route-sync',
    subscribeTo: nodes[0]!.address,
    routes: settings.syncRoutes,
    connections: SYNC_CONNECTIONS,
    topicPrefix: 'sync',
    samples: SYNC_SAMPLES,
    probeIntervalMs: 5,
    timeoutMs: SYNC_TIMEOUT_MS
  }, 'route-sync generator')
  try {
    const ready = await whileAlive(generator.expect<RouteSyncReady>('READY', SYNC_TIMEOUT_MS), nodes)
    // The cluster holds the routes once node 2 routes every sample to node 1: only then does
    // node 3 start, so its figure is its own sync, not node 1 still applying subscriptions.
    generator.send(`probe ${nodes[1]!.address.host} ${nodes[1]!.address.port}`)
    const held = await whileAlive(generator.expect<RouteSyncResult>('RESULT', SYNC_TIMEOUT_MS + 10_000), nodes)
    if (held.allDeliveredAt === null) return { ok: false, failure: `node 2 routed ${held.delivered} of ${held.samples} sampled routes within ${SYNC_TIMEOUT_MS} ms` }
    const spawnedAt = epochNow()
    const joining = await startNode(hosts.broker, plan[NODES - 1]!, plan)
    nodes.push(joining)
    const listeningAt = epochNow()
    generator.send(`probe ${joining.address.host} ${joining.address.port}`)
    const result = await whileAlive(generator.expect<RouteSyncResult>('RESULT', SYNC_TIMEOUT_MS + 10_000), nodes)
    const gone = crashed(nodes)
    if (gone !== null) return { ok: false, failure: gone }
    if (result.allDeliveredAt === null) return { ok: false, failure: `the joining node routed ${result.delivered} of ${result.samples} sampled routes within ${SYNC_TIMEOUT_MS} ms` }
    return {
      ok: true,
      figures: { fromListenerMs: result.allDeliveredAt - listeningAt, fromSpawnMs: result.allDeliveredAt - spawnedAt, heldMs: held.allDeliveredAt - ready.subscribeStartedAt },
      integrity: { ...CLEAN, errors: result.errors },
      generatorBusy: null
    }
  } catch (err) {
    return { ok: false, failure: describeFailure(err) }
  } finally {
    await generator.stop()
    await stopAll(nodes)
  }
}

/** `--trials` takeovers, alternating between node 1 and node 2 (node 3 idle). */
async function takeover (hosts: Hosts, settings: ClusterSettings): Promise<RunOutcome> {
  const nodes = await startNodes(hosts, await planCluster(), NODES)
  try {
    const result = await whileAlive(runTakeoverWorkload([nodes[0]!.address, nodes[1]!.address], settings.convergenceTrials), nodes)
    const gone = crashed(nodes)
    if (gone !== null) return { ok: false, failure: gone }
    if (result.samplesMs.length === 0) return { ok: false, failure: `no takeover with session present (${result.errors.join('; ')})` }
    return { ok: true, figures: { p50: percentile(result.samplesMs, 0.5), p99: percentile(result.samplesMs, 0.99) }, integrity: { ...CLEAN, errors: result.errors }, generatorBusy: null }
  } catch (err) {
    return { ok: false, failure: describeFailure(err) }
  } finally {
    await stopAll(nodes)
  }
}

/** A shared workload's result and the CPU microseconds the nodes together spent per message it delivered in its measuring window. */
async function runSharedWorkload (hosts: Hosts, workload: SharedWorkload, nodes: RunningBroker[]): Promise<{ result: SharedResult, cpuUsPerMessage: number }> {
  const sampler = new CpuSampler(nodes.map(b => b.process.pid))
  const generator = new GeneratorProcess(hosts.generator, workload, 'shared generator')
  try {
    const result = await whileAlive(generator.expect<SharedResult>('RESULT', workload.seconds * 1000 + workload.routeTimeoutMs + 30_000), nodes)
    sampler.stop()
    const cpuMs = nodes.reduce((sum, b) => sum + (sampler.cpuMsBetween(b.process.pid, result.measuredFromEpochMs, result.measuredToEpochMs) ?? Number.NaN), 0)
    return { result, cpuUsPerMessage: cpuMs * 1000 / result.measuredDeliveries }
  } finally {
    sampler.stop()
    await generator.stop()
  }
}

/**
 * The same QoS 1 load from node 1, first to six connections, two on each node, each subscribed
 * plainly to one of the six topics, then to the same six as one `$share` group (node 1 picks a
 * node per message, the picked node one of its members): what picking and annotating cost.
 */
async function sharedVsPlain (hosts: Hosts, settings: ClusterSettings): Promise<RunOutcome> {
  const nodes = await startNodes(hosts, await planCluster(), NODES)
  try {
    const base = {
      kind: 'shared' as const,
      publishTo: nodes[0]!.address,
      publishers: SHARED_PUBLISHERS,
      payloadBytes: settings.payloadBytes,
      seconds: settings.seconds,
      warmupSeconds: Math.min(1, settings.seconds / 5),
      maxMessages: settings.maxMessages,
      inflight: settings.inflight,
      window: settings.window,
      routeTimeoutMs: ROUTE_CHECK_TIMEOUT_MS
    }
    const addresses = nodes.flatMap(node => Array.from({ length: SHARED_MEMBERS_PER_NODE }, () => node.address))
    const topics = addresses.length
    const plain = await runSharedWorkload(hosts, { ...base, topics, subscribers: addresses.map((address, i) => ({ address, filter: `bench-shared/${i}` })) }, nodes)
    const shared = await runSharedWorkload(hosts, { ...base, topics, subscribers: addresses.map(address => ({ address, filter: '$share/bench/bench-shared/+' })) }, nodes)
    const gone = crashed(nodes)
    if (gone !== null) return { ok: false, failure: gone }
    return {
      ok: true,
      figures: {
        sharedMsgPerSecond: shared.result.deliveredPerSecond,
        plainMsgPerSecond: plain.result.deliveredPerSecond,
        sharedCpuUsPerMessage: shared.cpuUsPerMessage,
        plainCpuUsPerMessage: plain.cpuUsPerMessage
      },
      integrity: {
        ...CLEAN,
        lost: shared.result.lost + plain.result.lost,
        duplicated: shared.result.duplicated + plain.result.duplicated,
        errors: [...shared.result.errors, ...plain.result.errors]
      },
      generatorBusy: null
    }
  } catch (err) {
    return { ok: false, failure: describeFailure(err) }
  } finally {
    await stopAll(nodes)
  }
}
