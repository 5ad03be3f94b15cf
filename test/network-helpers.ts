/**
 * Helpers for the cluster network tests: free loopback ports, nodes with short timers, a model of
 * the route table built only from the service's events, and a bounded wait for a service event.
 */
import '../src/core/polyfill.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { createClusterNetwork, type ClusterEvents, type ClusterNetwork, type ClusterNetworkInit } from '../network/cluster.js'
import type { ClusterLogger } from '../network/logger.js'
import type { Message, QoS } from '../src/core/mqtt/message.js'
import { waitFor } from './helpers/wait.js'

/** Timers short enough for tests, long enough for a loaded 2-core machine. */
export const FAST_TIMERS: ClusterNetworkInit = {
  digestIntervalMs: 300,
  heartbeatIntervalMs: 200,
  peerTimeoutMs: 2_000,
  redialMinMs: 100,
  redialMaxMs: 1_000,
  requestTimeoutMs: 3_000,
  dialTimeoutMs: 3_000
}

export async function tempDir (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshmq-net-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** A logger that keeps every line, to assert on log events. */
export class RecordingLogger implements ClusterLogger {
  readonly lines: Array<{ level: string, msg: string, fields: Record<string, unknown> }> = []
  info (fields: Record<string, unknown>, msg: string): void { this.lines.push({ level: 'info', msg, fields }) }
  warn (fields: Record<string, unknown>, msg: string): void { this.lines.push({ level: 'warn', msg, fields }) }
  debug (fields: Record<string, unknown>, msg: string): void { this.lines.push({ level: 'debug', msg, fields }) }
  error (fields: Record<string, unknown>, msg: string): void { this.lines.push({ level: 'error', msg, fields }) }
  has (msg: string, fields: Record<string, unknown> = {}): boolean {
    return this.lines.some(line => line.msg === msg && Object.entries(fields).every(([k, v]) => line.fields[k] === v))
  }
}

/** Starts a node on 127.0.0.1 that is stopped when the test ends. */
export async function startNode (t: TestContext, init: ClusterNetworkInit): Promise<ClusterNetwork> {
  const net = createClusterNetwork({ listenHost: '127.0.0.1', port: 0, discovery: 'manual', secret: 'test-secret', ...FAST_TIMERS, ...init })
  t.after(async () => { await net.stop() })
  await net.start()
  return net
}

/** What the route table actor would hold: filter sets per remote node, built from events only. */
export class RouteTableModel {
  readonly routes = new Map<string, Set<string>>()

  constructor (net: ClusterNetwork) {
    net.addEventListener('routes-replaced', (e) => { this.routes.set(e.detail.node, new Set(e.detail.filters)) })
    net.addEventListener('routes-changed', (e) => {
      const routes = this.setOf(e.detail.node)
      for (const filter of e.detail.removed) routes.delete(filter)
      for (const filter of e.detail.added) routes.add(filter)
    })
  }

  of (node: string): string[] {
    return [...(this.routes.get(node) ?? [])].sort()
  }

  private setOf (node: string): Set<string> {
    let set = this.routes.get(node)
    if (set === undefined) {
      set = new Set()
      this.routes.set(node, set)
    }
    return set
  }
}

export function sorted (values: Iterable<string>): string[] {
  return [...values].sort()
}

/** Bound on a wait for the cluster network to reach a state or send an event. */
export const NET_WAIT_MS = 10_000

/** Resolves with the detail of the next `type` event matching `match`; rejects with WaitTimeoutError after `timeoutMs`. */
export async function nextEvent<K extends keyof ClusterEvents> (
  net: ClusterNetwork, type: K, match: (detail: ClusterEvents[K]) => boolean = () => true, timeoutMs = NET_WAIT_MS
): Promise<ClusterEvents[K]> {
  return await waitFor<ClusterEvents[K]>(`${type} on ${net.name}`, ({ resolve }) => {
    const listener = (event: CustomEvent<ClusterEvents[K]>): void => { if (match(event.detail)) resolve(event.detail) }
    net.addEventListener(type, listener)
    return () => { net.removeEventListener(type, listener) }
  }, { timeoutMs })
}

/** Collects every event of `type` for later assertions. */
export function collect<K extends keyof ClusterEvents> (net: ClusterNetwork, type: K): Array<ClusterEvents[K]> {
  const seen: Array<ClusterEvents[K]> = []
  net.addEventListener(type, (event) => { seen.push(event.detail) })
  return seen
}

/** A QoS `qos` message whose payload is its index, for loss and duplicate checks. */
export function numbered (index: number, qos: QoS, origin: string): Message {
  return { topic: `t/${index % 10}`, payload: Buffer.from(String(index)), qos, retain: false, publisher: 'publisher-1', origin }
}

/** `name@127.0.0.1:port` of a started node, as a seed or join address. */
export function clusterAddress (net: ClusterNetwork): string {
  const port = net.addresses()[0]?.split('/')[4]
  if (port === undefined) throw new Error(`${net.name} has no listen address`)
  return `${net.name}:${port}`
}
