/**
 * In-process nodes with their HTTP API for suites that share one cluster across tests (HTTP API,
 * Prometheus series, ctl read-outs): a cleanup list the suite runs in its `after`, and a node on
 * loopback with a fresh data directory, no persistence, static discovery and fast failure detection.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startNode, type NodeConfig, type NodeHandle } from 'meshmq'
import type { Cleanup } from './mqtt-client.js'

/** A cleanup list the suite runs at its end, last registered first (clients, then the nodes). */
export class SuiteCleanup implements Cleanup {
  private readonly steps: Array<() => unknown> = []
  after (fn: () => unknown): void { this.steps.push(fn) }
  async run (): Promise<void> {
    for (const step of this.steps.reverse()) await step()
  }
}

/** The cluster settings of these nodes, with `seeds` when given. */
export function apiCluster (seeds?: string[]): NonNullable<NodeConfig['cluster']> {
  return { port: 0, discovery: 'static', ...(seeds === undefined ? {} : { seeds }), heartbeatIntervalMs: 200, peerTimeoutMs: 2000 }
}

/** Starts node `name` with an HTTP API on a free port; its data directory (returned too) and the node go with `cleanup`. */
export async function startApiNode (cleanup: Cleanup, name: string, extra: NodeConfig = {}): Promise<{ node: NodeHandle, dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'meshmq-api-'))
  cleanup.after(() => { rmSync(dataDir, { recursive: true, force: true }) })
  const node = await startNode({
    node: { name, dataDir },
    listener: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
    persistence: { mode: 'off' },
    cluster: apiCluster(),
    http: { port: 0 },
    ...extra
  })
  cleanup.after(async () => { await node.close() })
  return { node, dataDir }
}
