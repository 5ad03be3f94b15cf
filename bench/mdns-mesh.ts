/**
 * mDNS start-to-full-mesh in the netns lab: three hosts (network namespaces on a private bridge,
 * `test/helpers/netns-lab.ts`), one meshmq node in each with `--discovery mdns` and no seed, all
 * started at once on the broker CPU. The figures are the time from starting the processes, and
 * from the last node's `broker_started`, until every node has logged `node_up` for both others.
 * mDNS runs only inside the lab's namespaces, never in the machine's own. Needs root and
 * `ip netns`; elsewhere the scenario is skipped with the reason.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { unavailableReason, up, type NetnsLab } from '../test/helpers/netns-lab.js'
import { ChildProcess } from './child-process.js'
import { meshmqMain, type BrokerHost } from './brokers.js'
import { CLEAN, describeFailure, type RunOutcome } from './outcome.js'
import { epochNow } from './workload.js'

const HOSTS = 3
const MESH_TIMEOUT_MS = 30_000

/** Why the lab cannot run here, or undefined when it can. */
export async function mdnsLabUnavailable (): Promise<string | undefined> {
  return await unavailableReason()
}

/** A node of the lab: its name, its process and what its log said so far. */
interface LabNode {
  name: string
  process: ChildProcess
  peersUp: Set<string>
  startedAt: number | null
}

function startLabNode (host: BrokerHost, lab: NetnsLab, i: number, dataDir: string, onLine: () => void): LabNode {
  const name = `meshmq${i}@${lab.addr(i)}`
  const env = { ...process.env }
  delete env.MESHMQ_DISCOVERY
  const child = new ChildProcess(`meshmq ${name}`, {
    command: 'ip',
    args: ['netns', 'exec', lab.host(i), process.execPath, meshmqMain(host), 'start',
      '--name', name, '--discovery', 'mdns', '--log-level', 'info', '--data-dir', join(dataDir, String(i))],
    cpu: host.cpu,
    cwd: host.meshmqRoot,
    env
  })
  const node: LabNode = { name, process: child, peersUp: new Set(), startedAt: null }
  createInterface({ input: child.child.stdout }).on('line', (line) => {
    let event: { msg?: unknown, peer?: unknown }
    try {
      event = JSON.parse(line) as { msg?: unknown, peer?: unknown }
    } catch {
      return
    }
    if (event.msg === 'node_up' && typeof event.peer === 'string') node.peersUp.add(event.peer)
    else if (event.msg === 'broker_started') node.startedAt = epochNow()
    else return
    onLine()
  })
  return node
}

/** One run: a fresh lab and three fresh nodes; the lab is removed afterwards. */
export async function runMdnsMesh (host: BrokerHost): Promise<RunOutcome> {
  let lab: NetnsLab
  try {
    lab = await up(HOSTS)
  } catch (err) {
    return { ok: false, failure: `netns lab: ${describeFailure(err)}` }
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'meshmq-bench-mdns-'))
  const nodes: LabNode[] = []
  try {
    let meshAt: ((at: number) => void) | undefined
    const meshed = new Promise<number>((resolve) => { meshAt = resolve })
    const check = (): void => {
      if (nodes.length === HOSTS && nodes.every(node => node.peersUp.size >= HOSTS - 1)) meshAt?.(epochNow())
    }
    const spawnedAt = epochNow()
    for (let i = 1; i <= HOSTS; i++) nodes.push(startLabNode(host, lab, i, dataDir, check))
    let timer: NodeJS.Timeout | undefined
    const exited = nodes.map(async node => { await node.process.exited; return node })
    const outcome = await Promise.race([
      meshed,
      Promise.race(exited).then(node => node),
      new Promise<'timeout'>((resolve) => { timer = setTimeout(() => { resolve('timeout') }, MESH_TIMEOUT_MS) })
    ])
    clearTimeout(timer)
    if (outcome === 'timeout') {
      return { ok: false, failure: `no full mesh within ${MESH_TIMEOUT_MS} ms (peers up: ${nodes.map(n => `${n.name} ${n.peersUp.size}`).join(', ')})` }
    }
    if (typeof outcome !== 'number') return { ok: false, failure: outcome.process.describeExit() }
    const lastStarted = Math.max(...nodes.map(node => node.startedAt ?? spawnedAt))
    return {
      ok: true,
      figures: { fromSpawnMs: outcome - spawnedAt, fromStartedMs: outcome - lastStarted },
      integrity: CLEAN,
      generatorBusy: null
    }
  } finally {
    await Promise.all(nodes.map(async node => { await node.process.stop() }))
    rmSync(dataDir, { recursive: true, force: true })
    await lab.down().catch(() => {})
  }
}
