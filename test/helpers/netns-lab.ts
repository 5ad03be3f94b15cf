/**
 * A private LAN of N hosts on this machine for cluster and mDNS tests (a port of the parts of
 * shared/netns-lab.sh the tests need). Each host is a network namespace `<lab>-<i>` with its own
 * loopback (multicast on) and an `eth0` at 10.77.0.<i>/24, whose veth peer sits on a bridge in a
 * hub namespace `<lab>-hub`. Multicast (mDNS) stays on that bridge and never reaches the
 * machine's interfaces, so it is the only place a test may run mDNS. Needs root and `ip netns`;
 * `unavailableReason()` says why a test must skip.
 *
 *   const lab = await startLab(t, 3)                  // removed again when the test ends
 *   startNode(t, { name: 'n1@' + lab.addr(1), prefix: lab.execArgs(1), discovery: 'mdns', … })
 *   await lab.partition([1], [2, 3]); await lab.heal()
 *
 * Partitions blackhole routes between hosts: packets on open connections are dropped silently
 * (the connection neither errors nor closes, and resumes after `heal`), new connects fail.
 */
import { execFile, execFileSync } from 'node:child_process'
import type { Cleanup } from './mqtt-client.js'

/** An `ip` command failed; `stderr` says why. */
export class NetnsCommandError extends Error {
  override name = 'NetnsCommandError'
  constructor (readonly args: string[], readonly stderr: string, cause?: unknown) {
    super(`ip ${args.join(' ')} failed: ${stderr.trim() === '' ? String(cause) : stderr.trim()}`, { cause })
  }
}

/** A lab name or host number outside what the naming scheme allows. */
export class NetnsLabUsageError extends Error {
  override name = 'NetnsLabUsageError'
}

/** Largest number of hosts in one lab (keeps names short and addresses in 10.77.0.1–99). */
export const MAX_HOSTS = 99
const IP_TIMEOUT_MS = 10_000
/** Lab names made by this module: `mmq` + pid in base 36 + one letter per lab in the process. */
const OWN_LAB = /^mmq([0-9a-z]{1,5})([a-z])$/
const LAB_NAME = /^[a-z][a-z0-9]{0,8}$/

async function ip (args: string[]): Promise<string> {
  return await new Promise<string>((resolve, reject) => {
    execFile('ip', args, { timeout: IP_TIMEOUT_MS, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err === null) resolve(stdout)
      else reject(new NetnsCommandError(args, stderr, err))
    })
  })
}

/** Names of every network namespace on the machine. */
async function namespaces (): Promise<string[]> {
  const listing = await ip(['netns', 'list'])
  return listing.split('\n').map(line => line.split(' ')[0] ?? '').filter(name => name !== '')
}

let labsMade = 0

/**
 * A lab name unique among live processes: `mmq<pid base 36><letter>` (at most 9 characters),
 * the letter counting the labs this process made, skipping names of its labs still up.
 */
export function uniqueLabName (): string {
  for (let tries = 0; tries < 26; tries++) {
    const name = `mmq${process.pid.toString(36)}${String.fromCharCode(97 + (labsMade % 26))}`
    labsMade++
    if (![...liveLabs].some(lab => lab.name === name)) return name
  }
  throw new NetnsLabUsageError('26 labs are up in this process already')
}

function processAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

let availability: Promise<string | undefined> | undefined

/**
 * Why network namespace labs cannot run here (not root, no `ip`, namespaces not permitted), or
 * undefined when they can. Checked once per process by creating and removing a namespace.
 */
export async function unavailableReason (): Promise<string | undefined> {
  availability ??= (async () => {
    if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`
    if (process.getuid?.() !== 0) return 'network namespace tests need root (CI runs as root)'
    const probe = `${uniqueLabName()}-probe`
    try {
      await ip(['netns', 'add', probe])
      await ip(['netns', 'del', probe])
      return undefined
    } catch (err) {
      return `\`ip netns\` is not usable here: ${(err as Error).message}`
    }
  })()
  return await availability
}

/** True when `unavailableReason()` finds nothing in the way. */
export async function available (): Promise<boolean> {
  return await unavailableReason() === undefined
}

/** Labs this process has up, removed synchronously if it exits without `down()`. */
const liveLabs = new Set<NetnsLab>()
let exitHookInstalled = false

/** A running lab of `size` hosts numbered 1…size. */
export class NetnsLab {
  readonly name: string
  readonly size: number

  constructor (name: string, size: number) {
    if (!LAB_NAME.test(name)) throw new NetnsLabUsageError(`lab name '${name}' must be 1–9 lower-case letters and digits, starting with a letter`)
    if (!Number.isInteger(size) || size < 1 || size > MAX_HOSTS) throw new NetnsLabUsageError(`a lab has 1 to ${MAX_HOSTS} hosts, not ${size}`)
    this.name = name
    this.size = size
  }

  /** Namespace of host `i`. */
  host (i: number): string {
    this.#check(i)
    return `${this.name}-${i}`
  }

  /** Namespace of the bridge. */
  get hub (): string { return `${this.name}-hub` }

  /** IPv4 address of host `i`: 10.77.0.<i>. */
  addr (i: number): string {
    this.#check(i)
    return `10.77.0.${i}`
  }

  /** Command prefix that runs a program inside host `i`: `['ip', 'netns', 'exec', <ns>]`. */
  execArgs (i: number): string[] {
    return ['ip', 'netns', 'exec', this.host(i)]
  }

  /** Hub-side veth name of host `i` (at most 14 characters, within the 15 Linux allows). */
  bridgePort (i: number): string {
    this.#check(i)
    return `v${this.name}-${i}`
  }

  /** Creates the hub, its bridge and every host. Removes a leftover lab of the same name first. */
  async create (): Promise<void> {
    await this.down()
    if (!exitHookInstalled) {
      exitHookInstalled = true
      process.once('exit', () => { for (const lab of liveLabs) lab.downSync() })
    }
    liveLabs.add(this)
    try {
      await ip(['netns', 'add', this.hub])
      await ip(['-n', this.hub, 'link', 'add', 'br0', 'type', 'bridge'])
      await ip(['-n', this.hub, 'link', 'set', 'br0', 'up'])
      await ip(['-n', this.hub, 'link', 'set', 'lo', 'up'])
      for (let i = 1; i <= this.size; i++) await this.#createHost(i)
    } catch (err) {
      await this.down()
      throw err
    }
  }

  async #createHost (i: number): Promise<void> {
    const host = this.host(i)
    const port = this.bridgePort(i)
    await ip(['netns', 'add', host])
    // Both ends are created inside their namespaces, so no name is ever taken in the machine's own.
    await ip(['-n', this.hub, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host])
    await ip(['-n', this.hub, 'link', 'set', port, 'master', 'br0', 'up'])
    await ip(['-n', host, 'link', 'set', 'lo', 'up'])
    await ip(['-n', host, 'link', 'set', 'lo', 'multicast', 'on'])
    await ip(['-n', host, 'addr', 'add', `${this.addr(i)}/24`, 'dev', 'eth0'])
    await ip(['-n', host, 'link', 'set', 'eth0', 'multicast', 'on', 'up'])
    // mDNS inside a namespace needs a multicast route.
    await ip(['-n', host, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0'])
  }

  /** Removes every namespace of this lab (hosts, then hub); safe to call twice. */
  async down (): Promise<void> {
    const existing = new Set(await namespaces())
    for (const ns of this.#namespaceNames()) {
      if (existing.has(ns)) await ip(['netns', 'del', ns])
    }
    liveLabs.delete(this)
  }

  /** `down` for an exiting process: synchronous and never throws. */
  downSync (): void {
    for (const ns of this.#namespaceNames()) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: IP_TIMEOUT_MS })
      } catch {
        // Already gone or never made: nothing left to remove.
      }
    }
    liveLabs.delete(this)
  }

  /**
   * Cuts every link between the two groups of hosts, both ways: packets on open connections are
   * dropped silently and new connects fail. Links inside a group stay up.
   */
  async partition (groupA: number[], groupB: number[]): Promise<void> {
    for (const a of groupA) {
      for (const b of groupB) {
        if (a === b) throw new NetnsLabUsageError(`host ${a} is in both groups`)
        await this.#cut(a, b)
        await this.#cut(b, a)
      }
    }
  }

  /** Removes every cut made by `partition`. */
  async heal (): Promise<void> {
    for (let i = 1; i <= this.size; i++) {
      const host = this.host(i)
      const routes = await ip(['-n', host, 'route', 'show', 'type', 'blackhole'])
      for (const line of routes.split('\n')) {
        const destination = line.trim().split(/\s+/)[1]
        if (destination !== undefined) await ip(['-n', host, 'route', 'del', 'blackhole', destination])
      }
    }
  }

  /** Takes host `i` off the LAN: its link goes down. */
  async isolate (i: number): Promise<void> {
    await ip(['-n', this.host(i), 'link', 'set', 'eth0', 'down'])
  }

  /** Brings host `i`'s link back, with the multicast route a link-down removes. */
  async rejoin (i: number): Promise<void> {
    await ip(['-n', this.host(i), 'link', 'set', 'eth0', 'up'])
    await ip(['-n', this.host(i), 'route', 'replace', '224.0.0.0/4', 'dev', 'eth0'])
  }

  /** Namespaces of this lab that exist right now. */
  async existingNamespaces (): Promise<string[]> {
    const mine = new Set(this.#namespaceNames())
    return (await namespaces()).filter(ns => mine.has(ns))
  }

  async #cut (from: number, to: number): Promise<void> {
    await ip(['-n', this.host(from), 'route', 'replace', 'blackhole', `${this.addr(to)}/32`])
  }

  #namespaceNames (): string[] {
    return [...Array.from({ length: this.size }, (_unused, index) => `${this.name}-${index + 1}`), this.hub]
  }

  #check (i: number): void {
    if (!Number.isInteger(i) || i < 1 || i > this.size) throw new NetnsLabUsageError(`lab ${this.name} has hosts 1 to ${this.size}, not ${i}`)
  }
}

/**
 * Removes namespaces left by labs of this module whose process is gone (a test run killed before
 * its cleanup). Labs of live processes and namespaces named otherwise are left alone.
 */
export async function removeStaleLabs (): Promise<string[]> {
  const removed: string[] = []
  for (const ns of await namespaces()) {
    const dash = ns.lastIndexOf('-')
    const match = OWN_LAB.exec(ns.slice(0, dash))
    const pid = match?.[1] === undefined ? Number.NaN : Number.parseInt(match[1], 36)
    const suffix = ns.slice(dash + 1)
    if (dash < 0 || Number.isNaN(pid) || !/^(hub|probe|\d{1,2})$/.test(suffix) || processAlive(pid)) continue
    await ip(['netns', 'del', ns])
    removed.push(ns)
  }
  return removed
}

/** Creates a lab of `n` hosts named `lab` (default unique to this process). */
export async function up (n: number, lab = uniqueLabName()): Promise<NetnsLab> {
  await removeStaleLabs()
  const created = new NetnsLab(lab, n)
  await created.create()
  return created
}

/** `up` for one test: the lab is removed when the test ends. */
export async function startLab (t: Cleanup, n: number, lab?: string): Promise<NetnsLab> {
  const created = await up(n, lab)
  t.after(async () => { await created.down() })
  return created
}
