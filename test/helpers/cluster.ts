/**
 * Multi-process cluster fixtures for the acceptance scenarios (test/cluster-*.test.ts): start a
 * few meshmq nodes that know each other by static seeds, read `meshmq ctl --json cluster status`
 * and `routes list` from any of them, and poll those until the cluster reaches a state. Every
 * wait is bounded; nodes stop when the test ends (see node-process.ts).
 */
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CONTROL_PORT_OFFSET, DEFAULT_CLUSTER_PORT_BASE, type DiscoveryStrategy } from '../../src/core/config/config.js'
import { sendControlRequest } from '../../src/ctl.js'
import type { NetnsLab } from './netns-lab.js'
import { startNode, type NodeProcess, type NodeProcessOptions } from './node-process.js'
import { freePorts } from './ports.js'
import type { Cleanup } from './mqtt-client.js'
import { pollUntil, waitFor } from './wait.js'

/** `meshmq ctl` exited non-zero or printed something that is not the expected JSON. */
export class CtlCommandError extends Error {
  override name = 'CtlCommandError'
  constructor (readonly node: string, readonly args: string[], readonly code: number, readonly output: string) {
    super(`meshmq ctl ${args.join(' ')} on ${node} failed (exit ${code}): ${output.trim()}`)
  }
}

/** Membership as one node reports it, both lists sorted. */
export interface MembershipView { running: string[], stopped: string[] }

/** Route table as one node reports it: filter → sorted node names, filters sorted. */
export type RouteView = Record<string, string[]>

/** Runs `meshmq ctl --json <args>` on `node` and parses its output; throws CtlCommandError on failure. */
export async function ctlJson (node: NodeProcess, ...args: string[]): Promise<unknown> {
  const { code, stdout, stderr } = await node.ctl('--json', ...args)
  if (code !== 0) throw new CtlCommandError(node.name, args, code, stderr + stdout)
  try {
    return JSON.parse(stdout)
  } catch {
    throw new CtlCommandError(node.name, args, code, `not JSON: ${stdout}`)
  }
}

const CONTROL_READ_TIMEOUT_MS = 10_000

/** Nodes started by these helpers in the test's own namespace, whose control endpoint this process can reach. */
const reachableControl = new WeakSet<NodeProcess>()

/**
 * The result of a read-only control command (`cluster status`, `routes list`): straight from the
 * node's control endpoint when this process can reach it (polling through a `meshmq ctl` process
 * per read would cost half a second of CPU each), else through `meshmq ctl --json`.
 */
export async function controlResult (node: NodeProcess, ...args: string[]): Promise<unknown> {
  if (!reachableControl.has(node)) return await ctlJson(node, ...args)
  const reply = await sendControlRequest(node.controlTarget(), { args }, AbortSignal.timeout(CONTROL_READ_TIMEOUT_MS))
  if (!reply.ok) throw new CtlCommandError(node.name, args, 1, reply.error ?? 'failed')
  return reply.result
}

/** `cluster status` of `node`. */
export async function membership (node: NodeProcess): Promise<MembershipView> {
  const result = await controlResult(node, 'cluster', 'status') as { running_nodes: string[], stopped_nodes: string[] }
  return { running: [...result.running_nodes].sort(), stopped: [...result.stopped_nodes].sort() }
}

/** `routes list` of `node`, normalised (sorted, one entry per filter). */
export async function routeTable (node: NodeProcess): Promise<RouteView> {
  const result = await controlResult(node, 'routes', 'list') as Array<{ filter: string, nodes: string[] }>
  return normaliseRoutes(result.map(entry => [entry.filter, entry.nodes]))
}

/** A route view from (filter, nodes) pairs: filters sorted, node lists sorted and de-duplicated, empty lists dropped. */
export function normaliseRoutes (entries: Iterable<[string, Iterable<string>]>): RouteView {
  const merged = new Map<string, Set<string>>()
  for (const [filter, nodes] of entries) {
    const set = merged.get(filter) ?? new Set<string>()
    for (const node of nodes) set.add(node)
    merged.set(filter, set)
  }
  const view: RouteView = {}
  for (const filter of [...merged.keys()].sort()) {
    const nodes = [...merged.get(filter)!].sort()
    if (nodes.length > 0) view[filter] = nodes
  }
  return view
}

/** Pause between two reads of a node's state while waiting for it to change. */
const POLL_INTERVAL_MS = 100

/** Waits until `node` reports exactly these running and stopped nodes (order ignored). */
export async function waitForMembership (node: NodeProcess, expected: { running: string[], stopped?: string[] }, timeoutMs: number): Promise<MembershipView> {
  const want: MembershipView = { running: [...expected.running].sort(), stopped: [...(expected.stopped ?? [])].sort() }
  return await pollUntil(async () => await membership(node), view => sameJson(view, want), timeoutMs,
    `${node.name} to report running ${JSON.stringify(want.running)} and stopped ${JSON.stringify(want.stopped)}`, { intervalMs: POLL_INTERVAL_MS })
}

/** Waits until every node of `nodes` reports the same exact route table `expected`. */
export async function waitForRoutesEverywhere (nodes: NodeProcess[], expected: RouteView, timeoutMs: number): Promise<void> {
  await Promise.all(nodes.map(async node => await waitForRoutes(node, expected, timeoutMs)))
}

/** Waits until every node reports all of `nodes` running and none stopped. */
export async function waitForFullMesh (nodes: NodeProcess[], timeoutMs: number): Promise<void> {
  const names = nodes.map(node => node.name)
  await Promise.all(nodes.map(async node => await waitForMembership(node, { running: names }, timeoutMs)))
}

/** Waits until `node`'s route table equals `expected` exactly. */
export async function waitForRoutes (node: NodeProcess, expected: RouteView, timeoutMs: number): Promise<RouteView> {
  const want = normaliseRoutes(Object.entries(expected))
  return await pollUntil(async () => await routeTable(node), view => sameJson(view, want), timeoutMs,
    `${node.name}'s route table to equal ${JSON.stringify(want)}`, { intervalMs: POLL_INTERVAL_MS })
}

/** Deep equality through JSON (both sides normalised by the caller). */
export function sameJson (a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

export interface ClusterOptions {
  /** Node names are `<prefix><i>@<host>`, i from 1. */
  prefix: string
  /** How many nodes. */
  size: number
  /** Default 127.0.0.1. */
  host?: string
  /** Default `static` with every other node as a seed. */
  discovery?: DiscoveryStrategy
  secret?: string
  /** Extra environment for every node (e.g. MESHMQ_CLUSTER_AUTOCLEAN_MS). */
  env?: Record<string, string>
  /** Per-node extra options (index 0 is node 1). */
  perNode?: (index: number) => Partial<NodeProcessOptions>
}

/** Ports and names of a cluster about to start: every node knows every other as a seed. */
export interface ClusterPlan {
  names: string[]
  seeds: string[]
  options: NodeProcessOptions[]
}

/** Picks free ports and builds the start options of each node of a loopback cluster. */
export async function planCluster (options: ClusterOptions): Promise<ClusterPlan> {
  const host = options.host ?? '127.0.0.1'
  const ports = await freePorts(options.size * 3, host)
  const names = Array.from({ length: options.size }, (_unused, i) => `${options.prefix}${i + 1}@${host}`)
  const clusterPorts = names.map((_name, i) => ports[i * 3 + 1]!)
  const seeds = names.map((name, i) => `${name}:${clusterPorts[i]!}`)
  const discovery = options.discovery ?? 'static'
  const plan = names.map((name, i): NodeProcessOptions => ({
    name,
    port: ports[i * 3]!,
    clusterPort: clusterPorts[i]!,
    controlPort: ports[i * 3 + 2]!,
    discovery,
    ...(discovery === 'static' ? { seeds: seeds.filter((_seed, j) => j !== i) } : {}),
    ...(options.secret !== undefined ? { secret: options.secret } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
    ...options.perNode?.(i)
  }))
  return { names, seeds, options: plan }
}

/** MQTT port of every node in a lab cluster (each lab host has its own port space). */
export const LAB_MQTT_PORT = 1883

/**
 * Start options of a cluster with node i on lab host i (name `<prefix><i>@10.77.0.<i>`, MQTT on
 * 1883, cluster port 4370 + i, control port 5370 + i on the host's loopback), run under
 * `lab.execArgs(i)`. Static discovery lists every other node as a seed.
 */
export function planLabCluster (lab: Pick<NetnsLab, 'addr' | 'execArgs'>, options: Omit<ClusterOptions, 'host' | 'perNode'>): ClusterPlan {
  const discovery = options.discovery ?? 'static'
  const indexes = Array.from({ length: options.size }, (_unused, i) => i + 1)
  const names = indexes.map(i => `${options.prefix}${i}@${lab.addr(i)}`)
  const seeds = names.map((name, k) => `${name}:${DEFAULT_CLUSTER_PORT_BASE + k + 1}`)
  const plan = indexes.map((i, k): NodeProcessOptions => ({
    name: names[k]!,
    port: LAB_MQTT_PORT,
    clusterPort: DEFAULT_CLUSTER_PORT_BASE + i,
    controlPort: DEFAULT_CLUSTER_PORT_BASE + i + CONTROL_PORT_OFFSET,
    discovery,
    prefix: lab.execArgs(i),
    ...(discovery === 'static' ? { seeds: seeds.filter((_seed, j) => j !== k) } : {}),
    ...(options.secret !== undefined ? { secret: options.secret } : {}),
    ...(options.env !== undefined ? { env: options.env } : {})
  }))
  return { names, seeds, options: plan }
}

/** Starts every node of `plan` at once and resolves once each has logged `broker_started`. */
export async function startPlanned (t: Cleanup, plan: ClusterPlan): Promise<NodeProcess[]> {
  return await Promise.all(plan.options.map(async options => {
    const node = await startNode(t, options)
    if ((options.prefix ?? []).length === 0) reachableControl.add(node)
    return node
  }))
}

/**
 * Starts a static cluster on lab hosts 1..`options.size` (`planLabCluster`), waits for the full
 * mesh, and forwards a loopback port of this namespace to each node's MQTT listener (`ports[i]`
 * reaches node i + 1).
 */
export async function startLabCluster (t: Cleanup, lab: NetnsLab, options: Omit<ClusterOptions, 'host' | 'perNode'>, meshTimeoutMs = 20_000): Promise<{ plan: ClusterPlan, nodes: NodeProcess[], ports: number[] }> {
  const plan = planLabCluster(lab, options)
  const nodes = await startPlanned(t, plan)
  await waitForFullMesh(nodes, meshTimeoutMs)
  const ports = await Promise.all(nodes.map(async (_node, i) => await forwardIntoLab(t, lab.execArgs(i + 1), lab.addr(i + 1), LAB_MQTT_PORT)))
  return { plan, nodes, ports }
}

/** Plans and starts a cluster; with static discovery, also waits until every node sees all of them running. */
export async function startCluster (t: Cleanup, options: ClusterOptions, meshTimeoutMs = 20_000): Promise<{ nodes: NodeProcess[], plan: ClusterPlan }> {
  const plan = await planCluster(options)
  const nodes = await startPlanned(t, plan)
  if ((options.discovery ?? 'static') === 'static') await waitForFullMesh(nodes, meshTimeoutMs)
  return { nodes, plan }
}

/** The in-namespace half of a lab port forward did not come up. */
export class LabForwardError extends Error {
  override name = 'LabForwardError'
}

/**
 * Relay run inside a lab host: accepts on a Unix socket (the file system is shared across
 * namespaces) and connects each connection to host:port in that namespace. Prints `ready`.
 */
const LAB_RELAY_SCRIPT = `
const net = require('node:net')
const [path, host, port] = process.argv.slice(1)
const server = net.createServer(inner => {
  const outer = net.connect(Number(port), host)
  const close = () => { inner.destroy(); outer.destroy() }
  inner.on('error', close); outer.on('error', close); inner.on('close', close); outer.on('close', close)
  inner.pipe(outer); outer.pipe(inner)
})
server.listen(path, () => { process.stdout.write('ready\\n') })
process.stdin.on('end', () => process.exit(0)); process.stdin.resume()
`
const LAB_RELAY_START_MS = 10_000

/**
 * Makes `targetHost:targetPort` inside a lab host (run under `prefix`, e.g. `lab.execArgs(2)`)
 * reachable from this process at 127.0.0.1:<returned port>, so MQTT.js clients of the test talk
 * to nodes in namespaces. The relay runs in the node's own namespace, so lab partitions never cut
 * a client from its node. Torn down when the test ends.
 */
export async function forwardIntoLab (t: Cleanup, prefix: string[], targetHost: string, targetPort: number): Promise<number> {
  const socketPath = join(tmpdir(), `meshmq-relay-${process.pid}-${randomUUID().slice(0, 8)}.sock`)
  const [command, ...args] = [...prefix, process.execPath, '-e', LAB_RELAY_SCRIPT, socketPath, targetHost, String(targetPort)]
  const relay = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  const sockets = new Set<net.Socket>()
  const server = net.createServer(outer => {
    const inner = net.connect(socketPath)
    sockets.add(outer)
    sockets.add(inner)
    const close = (): void => { outer.destroy(); inner.destroy(); sockets.delete(outer); sockets.delete(inner) }
    for (const socket of [outer, inner]) {
      socket.on('error', close)
      socket.on('close', close)
    }
    outer.pipe(inner)
    inner.pipe(outer)
  })
  t.after(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    relay.stdin.end()
    relay.kill('SIGKILL')
    rmSync(socketPath, { force: true })
  })
  let stderr = ''
  relay.stderr.setEncoding('utf8')
  relay.stderr.on('data', (chunk: string) => { stderr += chunk })
  relay.stdout.setEncoding('utf8')
  await waitFor<undefined>(`the lab relay to ${targetHost}:${targetPort}`, ({ resolve, reject }) => {
    const onData = (chunk: string): void => { if (chunk.includes('ready')) resolve(undefined) }
    const onExit = (code: number | null): void => { reject(new LabForwardError(`lab relay exited (${code ?? 'signal'}): ${stderr}`)) }
    relay.stdout.on('data', onData)
    relay.once('exit', onExit)
    return () => {
      relay.stdout.off('data', onData)
      relay.off('exit', onExit)
    }
  }, { timeoutMs: LAB_RELAY_START_MS })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: '127.0.0.1', port: 0 }, () => { resolve() })
  })
  return (server.address() as net.AddressInfo).port
}
