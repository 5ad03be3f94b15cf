/**
 * The network-namespace lab the cluster tests run in: hosts reach each other by TCP and
 * multicast, partitions drop traffic silently and heal restores it, isolate/rejoin, and nothing
 * is left behind. Skipped (with the reason) where namespaces cannot be made, e.g. not as root.
 * No mDNS here: multicast is checked on an administratively scoped group, inside the lab only.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import {
  NetnsLab, NetnsLabUsageError, MAX_HOSTS, removeStaleLabs, startLab, uniqueLabName, unavailableReason, up
} from './helpers/netns-lab.js'
import type { Cleanup } from './helpers/mqtt-client.js'
import { sleep, waitFor, WaitTimeoutError, withTimeout } from './helpers/wait.js'

const skip = await unavailableReason() ?? false

/** Program run inside a host: takes JSON commands on stdin, reports JSON events on stdout. */
const AGENT = `
const net = require('node:net'), dgram = require('node:dgram'), readline = require('node:readline')
const out = event => process.stdout.write(JSON.stringify(event) + '\\n')
const connections = new Map()
readline.createInterface({ input: process.stdin }).on('line', text => {
  const c = JSON.parse(text)
  if (c.op === 'listen') {
    net.createServer(s => {
      out({ event: 'accepted', from: s.remoteAddress })
      s.on('data', d => s.write(d)); s.on('error', () => {})
    }).listen(c.port, c.host, () => out({ event: 'listening', host: c.host }))
  } else if (c.op === 'connect') {
    const s = net.connect({ host: c.host, port: c.port })
    connections.set(c.id, s)
    s.setEncoding('utf8')
    s.on('connect', () => out({ event: 'connected', id: c.id }))
    s.on('data', text => out({ event: 'data', id: c.id, text }))
    s.on('error', err => out({ event: 'error', id: c.id, code: err.code }))
    s.on('close', () => out({ event: 'closed', id: c.id }))
  } else if (c.op === 'send') {
    connections.get(c.id).write(c.text)
  } else if (c.op === 'mlisten') {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: true })
    s.on('message', (m, r) => out({ event: 'multicast', from: r.address, text: String(m) }))
    s.bind(c.port, () => { s.addMembership(c.group, c.iface); out({ event: 'mlistening' }) })
  } else if (c.op === 'msend') {
    const s = dgram.createSocket('udp4')
    s.bind(0, c.iface, () => {
      s.setMulticastInterface(c.iface)
      s.send(c.text, c.port, c.group, err => { out({ event: 'msent', error: err ? err.code : null }); s.close() })
    })
  }
})
`

interface AgentEvent { event: string, [field: string]: unknown }

/** The agent program running inside one lab host. */
class HostAgent {
  readonly events: AgentEvent[] = []
  readonly #child: ChildProcess
  readonly #waiters = new Set<() => void>()

  constructor (t: Cleanup, prefix: string[]) {
    const [command, ...args] = [...prefix, process.execPath, '-e', AGENT]
    this.#child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] })
    createInterface({ input: this.#child.stdout! }).on('line', line => {
      this.events.push(JSON.parse(line) as AgentEvent)
      for (const waiter of [...this.#waiters]) waiter()
    })
    t.after(async () => {
      if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
      const exited = new Promise(resolve => this.#child.once('exit', resolve))
      this.#child.kill('SIGKILL')
      await withTimeout(exited, 5000, 'a lab agent to exit').catch(() => undefined)
    })
  }

  send (command: Record<string, unknown>): void {
    this.#child.stdin!.write(JSON.stringify(command) + '\n')
  }

  /** The first event (already received or coming) matching `predicate`, within `timeoutMs`. */
  async waitFor (predicate: (event: AgentEvent) => boolean, timeoutMs: number, what: string): Promise<AgentEvent> {
    return await waitFor<AgentEvent>(what, ({ resolve }) => {
      const check = (): void => {
        const found = this.events.find(predicate)
        if (found !== undefined) resolve(found)
      }
      this.#waiters.add(check)
      check()
      return () => { this.#waiters.delete(check) }
    }, { timeoutMs })
  }

  /** Text received so far on connection `id`. */
  received (id: string): string {
    return this.events.filter(e => e.event === 'data' && e.id === id).map(e => String(e.text)).join('')
  }

  eventsOf (id: string): string[] {
    return this.events.filter(e => e.id === id).map(e => e.event)
  }
}

const PORT = 7000

async function listen (agent: HostAgent, host: string): Promise<void> {
  agent.send({ op: 'listen', host, port: PORT })
  await agent.waitFor(e => e.event === 'listening' && e.host === host, 5000, `a listener on ${host}`)
}

/** Opens connection `id` to `host` and checks an echo over it. */
async function connectAndEcho (agent: HostAgent, id: string, host: string): Promise<void> {
  agent.send({ op: 'connect', id, host, port: PORT })
  await agent.waitFor(e => e.id === id && e.event !== 'data', 5000, `connection ${id} to ${host}`)
  assert.deepEqual(agent.eventsOf(id), ['connected'], `connection ${id} to ${host}`)
  agent.send({ op: 'send', id, text: `hello-${id}` })
  await agent.waitFor(() => agent.received(id).includes(`hello-${id}`), 5000, `the echo on ${id}`)
}

/** Starts connection `id` to `host` and resolves with its first outcome: connected, error or nothing within `ms`. */
async function tryConnect (agent: HostAgent, id: string, host: string, ms: number): Promise<string> {
  agent.send({ op: 'connect', id, host, port: PORT })
  try {
    const first = await agent.waitFor(e => e.id === id, ms, `connection ${id}`)
    return first.event === 'error' ? `error ${String(first.code)}` : first.event
  } catch (err) {
    if (err instanceof WaitTimeoutError) return 'no answer'
    throw err
  }
}

test('hosts of a lab reach each other over TCP at 10.77.0.<i>', { skip }, async t => {
  const lab = await startLab(t, 3)
  assert.deepEqual([lab.addr(1), lab.addr(2), lab.addr(3)], ['10.77.0.1', '10.77.0.2', '10.77.0.3'])
  const [one, two, three] = [1, 2, 3].map(i => new HostAgent(t, lab.execArgs(i))) as [HostAgent, HostAgent, HostAgent]
  await listen(one, lab.addr(1))
  await connectAndEcho(two, 'a', lab.addr(1))
  await connectAndEcho(three, 'b', lab.addr(1))
  const peers = one.events.filter(e => e.event === 'accepted').map(e => e.from).sort()
  assert.deepEqual(peers, ['10.77.0.2', '10.77.0.3'])
})

test('a multicast datagram from one host reaches every other host on the bridge', { skip }, async t => {
  const lab = await startLab(t, 3)
  const agents = [1, 2, 3].map(i => new HostAgent(t, lab.execArgs(i)))
  const group = { group: '239.255.77.1', port: 7001 }
  for (const i of [1, 3]) {
    const agent = agents[i - 1]!
    agent.send({ op: 'mlisten', ...group, iface: lab.addr(i) })
    await agent.waitFor(e => e.event === 'mlistening', 5000, `host ${i} joining the group`)
  }
  agents[1]!.send({ op: 'msend', ...group, iface: lab.addr(2), text: 'hi-all' })
  for (const i of [1, 3]) {
    const got = await agents[i - 1]!.waitFor(e => e.event === 'multicast', 5000, `the datagram at host ${i}`)
    assert.deepEqual(got, { event: 'multicast', from: '10.77.0.2', text: 'hi-all' })
  }
})

test('partition drops packets on open connections silently and refuses new ones; heal restores both', { skip }, async t => {
  const lab = await startLab(t, 3)
  const [one, two, three] = [1, 2, 3].map(i => new HostAgent(t, lab.execArgs(i))) as [HostAgent, HostAgent, HostAgent]
  await listen(one, lab.addr(1))
  await listen(three, lab.addr(3))
  await connectAndEcho(two, 'open', lab.addr(1))

  await lab.partition([1], [2, 3])
  two.send({ op: 'send', id: 'open', text: 'during-split' })
  await sleep(1000)
  assert.equal(two.received('open').includes('during-split'), false, 'nothing crosses the partition')
  assert.deepEqual(two.eventsOf('open').filter(e => e !== 'data'), ['connected'], 'the open connection neither errors nor closes')
  assert.notEqual(await tryConnect(two, 'new-during', lab.addr(1), 1500), 'connected', 'new connects across the partition fail')
  await connectAndEcho(two, 'same-side', lab.addr(3))

  await lab.heal()
  await two.waitFor(() => two.received('open').includes('during-split'), 10_000, 'the data sent during the split, after heal')
  assert.deepEqual(two.eventsOf('open').filter(e => e !== 'data'), ['connected'])
  await connectAndEcho(two, 'after', lab.addr(1))
})

test('isolate takes a host off the LAN and rejoin brings it back, multicast included', { skip }, async t => {
  const lab = await startLab(t, 2)
  const [one, two] = [1, 2].map(i => new HostAgent(t, lab.execArgs(i))) as [HostAgent, HostAgent]
  await listen(one, lab.addr(1))
  await lab.isolate(2)
  assert.notEqual(await tryConnect(two, 'isolated', lab.addr(1), 1500), 'connected')
  await lab.rejoin(2)
  await connectAndEcho(two, 'back', lab.addr(1))
  const group = { group: '239.255.77.1', port: 7001 }
  one.send({ op: 'mlisten', ...group, iface: lab.addr(1) })
  await one.waitFor(e => e.event === 'mlistening', 5000, 'host 1 joining the group')
  two.send({ op: 'msend', ...group, iface: lab.addr(2), text: 'back-again' })
  const sent = await two.waitFor(e => e.event === 'msent', 5000, 'the datagram to be sent')
  assert.equal(sent.error, null, 'the multicast route is back after rejoin')
  await one.waitFor(e => e.event === 'multicast' && e.text === 'back-again', 5000, 'the datagram from the rejoined host')
})

test('down() removes every namespace of the lab and may be called twice', { skip }, async t => {
  const lab = await up(2)
  t.after(async () => { await lab.down() })
  assert.deepEqual((await lab.existingNamespaces()).sort(), [lab.host(1), lab.host(2), lab.hub].sort())
  await lab.down()
  assert.deepEqual(await lab.existingNamespaces(), [])
  const listing = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
  assert.equal(listing.includes(lab.name), false)
  await lab.down()
})

test('labs left by a dead process are removed; labs of live processes are not', { skip }, async t => {
  const live = await startLab(t, 1)
  const deadPid = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }))
  const stale = new NetnsLab(`mmq${deadPid.toString(36)}z`, 1)
  t.after(async () => { await stale.down() })
  await stale.create()
  const removed = await removeStaleLabs()
  assert.deepEqual(removed.sort(), [stale.host(1), stale.hub].sort())
  assert.equal((await live.existingNamespaces()).length, 2)
})

test('lab names are unique in a process and every interface name fits in 15 characters', () => {
  const names = new Set(Array.from({ length: 5 }, () => uniqueLabName()))
  assert.equal(names.size, 5)
  for (const name of names) assert.match(name, /^mmq[0-9a-z]{1,5}[a-z]$/)
  const longest = new NetnsLab('mmq2hzq8z', MAX_HOSTS)
  assert.ok(longest.bridgePort(MAX_HOSTS).length <= 15, longest.bridgePort(MAX_HOSTS))
  assert.deepEqual(longest.execArgs(7), ['ip', 'netns', 'exec', 'mmq2hzq8z-7'])
  assert.throws(() => new NetnsLab('Bad-Name', 2), NetnsLabUsageError)
  assert.throws(() => new NetnsLab('lab', MAX_HOSTS + 1), NetnsLabUsageError)
  assert.throws(() => longest.addr(0), NetnsLabUsageError)
})
