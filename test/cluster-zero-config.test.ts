/**
 * Acceptance (issue 9, zero-config LAN cluster): `meshmq start` with no flag, no config file and no
 * `MESHMQ_*` variable on three lab hosts (network namespaces on one bridge, the only place mDNS
 * may run). Each node names itself after its host's address (`meshmq@10.77.0.<i>`), listens for
 * peers there, records the name in its default data directory, finds the others by mDNS (the
 * default discovery) and routes messages between them; the default-secret warning says what to
 * set. The nodes share a temporary working directory, whose `./data/<name>` directories keep them
 * apart. Without root or `ip netns` the test is skipped and says why.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readRecordedNodeName } from '../network/node-info-file.js'
import { mainCommand } from './helpers/broker-process.js'
import { forwardIntoLab, LAB_MQTT_PORT, normaliseRoutes, sameJson, type RouteView } from './helpers/cluster.js'
import { childEnvironment, logEvent, MeshmqProcess, type LogLine } from './helpers/meshmq-process.js'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import { startLab, unavailableReason, type NetnsLab } from './helpers/netns-lab.js'
import { pollUntil, uniqueName } from './helpers/wait.js'

const labUnavailable = await unavailableReason()
const skip = labUnavailable === undefined ? false : `mDNS runs only inside network namespaces: ${labUnavailable}`

const MESH_TIMEOUT_MS = 25_000
const ROUTE_TIMEOUT_MS = 10_000
const CTL_TIMEOUT_MS = 10_000
const POLL_INTERVAL_MS = 500

/** Command and arguments that run `meshmq <args>` on lab host `i`. */
function meshmqOnHost (lab: NetnsLab, i: number, args: string[]): { command: string, argv: string[] } {
  const [command = 'ip', ...prefixArgs] = lab.execArgs(i)
  return { command, argv: [...prefixArgs, process.execPath, ...mainCommand(), ...args] }
}

/**
 * `meshmq ctl --json <args>` run on lab host `i` in the nodes' working directory with no other flag
 * (the control endpoint of an unnamed node: the socket in the data directory it names itself after).
 */
async function ctlOnHost (lab: NetnsLab, i: number, workDir: string, ...args: string[]): Promise<unknown> {
  const { command, argv } = meshmqOnHost(lab, i, ['ctl', '--json', ...args])
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(command, argv, { cwd: workDir, env: childEnvironment({}), timeout: CTL_TIMEOUT_MS, killSignal: 'SIGKILL' }, (err, out, stderr) => {
      if (err === null) resolve(out)
      else reject(new Error(`meshmq ctl ${args.join(' ')} on lab host ${i} failed: ${stderr}${out}`, { cause: err }))
    })
  })
  return JSON.parse(stdout) as unknown
}

async function runningNodes (lab: NetnsLab, i: number, workDir: string): Promise<string[]> {
  const status = await ctlOnHost(lab, i, workDir, 'cluster', 'status') as { running_nodes: string[] }
  return [...status.running_nodes].sort()
}

async function routesOn (lab: NetnsLab, i: number, workDir: string): Promise<RouteView> {
  const routes = await ctlOnHost(lab, i, workDir, 'routes', 'list') as Array<{ filter: string, nodes: string[] }>
  return normaliseRoutes(routes.map(entry => [entry.filter, entry.nodes]))
}

test('three nodes started with no flag at all on three LAN hosts name themselves meshmq@<address>, find each other by mDNS and route messages', { skip }, async t => {
  const lab = await startLab(t, 3)
  const workDir = mkdtempSync(join(tmpdir(), 'meshmq-zeroconf-'))
  const hosts = [1, 2, 3]
  const nodes = hosts.map(i => {
    const { command, argv } = meshmqOnHost(lab, i, ['start'])
    return new MeshmqProcess(`meshmq start on lab host ${i}`, command, argv, childEnvironment({}), { cwd: workDir })
  })
  t.after(async () => {
    await Promise.all(nodes.map(async node => await node.stop()))
    rmSync(workDir, { recursive: true, force: true })
  })
  const startedAt = Date.now()
  const started: LogLine[] = await Promise.all(nodes.map(async node => await node.waitForLog(logEvent('broker_started'))))
  const names = hosts.map(i => `meshmq@${lab.addr(i)}`)
  for (const [k, line] of started.entries()) {
    assert.equal(line.node, names[k], 'an unnamed node takes its host part from the host\'s address')
    assert.equal(line.discovery, 'mdns')
    assert.ok((line.cluster_addresses as string[]).every(address => address.startsWith(`/ip4/${lab.addr(k + 1)}/tcp/4370/`)),
      `the cluster listener binds the node's address: ${JSON.stringify(line.cluster_addresses)}`)
    assert.equal(readRecordedNodeName(join(workDir, 'data', names[k]!)), names[k], 'the default data directory records the name')
    const chosen = nodes[k]!.logs.find(logEvent('node_name_chosen'))
    assert.deepEqual([chosen?.source, chosen?.interface], ['interface', 'eth0'], 'the start-up log says where the name came from')
  }
  const warning = await nodes[0]!.waitForLog(logEvent('cluster_default_secret'), { timeoutMs: 1000 })
  assert.match(String(warning.advice), /MESHMQ_CLUSTER_SECRET, or --secret-file FILE/, 'the default-secret warning says what to set')

  const running = await pollUntil(async () => await runningNodes(lab, 1, workDir), view => sameJson(view, names), MESH_TIMEOUT_MS,
    `lab host 1 to report ${JSON.stringify(names)} running`, { intervalMs: POLL_INTERVAL_MS })
  assert.deepEqual(running, names)
  t.diagnostic(`one cluster of three ${Date.now() - startedAt} ms after start`)

  const ports = await Promise.all(hosts.map(async i => await forwardIntoLab(t, lab.execArgs(i), lab.addr(i), LAB_MQTT_PORT)))
  const run = uniqueName('zc').replace(/[^a-z0-9]/gi, '')
  const subscriber = await connectClient(t, ports[2]!, { clientId: `${run}-sub` })
  await subscriber.subscribeAsync(`zeroconf/${run}/#`, { qos: 1 })
  const inbox = new Inbox(subscriber)
  const wantRoutes = { [`zeroconf/${run}/#`]: [names[2]!] }
  for (const i of [1, 2]) {
    await pollUntil(async () => await routesOn(lab, i, workDir), view => sameJson(view, wantRoutes), ROUTE_TIMEOUT_MS,
      `lab host ${i} to route zeroconf/${run}/# to ${names[2]!}`, { intervalMs: POLL_INTERVAL_MS })
  }
  for (const i of [1, 2]) {
    const publisher = await connectClient(t, ports[i - 1]!, { clientId: `${run}-pub${i}` })
    await publisher.publishAsync(`zeroconf/${run}/from${i}`, `hello from ${names[i - 1]!}`, { qos: 1 })
  }
  await inbox.waitForCount(2, ROUTE_TIMEOUT_MS)
  await inbox.expectNoMoreThan(2, 300)
  assert.deepEqual(inbox.messages.map(m => `${m.topic} ${m.payload.toString()}`).sort(), [
    `zeroconf/${run}/from1 hello from ${names[0]!}`,
    `zeroconf/${run}/from2 hello from ${names[1]!}`
  ])
})
