/** The machine and software a benchmark ran on, for the header of the results. */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'

export interface MachineInfo {
  date: string
  nproc: number
  cpuModel: string
  node: string
  kernel: string
  aedes: string
  mosquitto: string | null
  /** The meshmq under test: its checkout and commit. */
  meshmq: string
}

export function describeMachine (root: string, meshmqRoot: string, mosquitto: string | null): MachineInfo {
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    aedes: packageVersion(root, 'aedes'),
    mosquitto: mosquitto === null ? null : mosquittoVersion(mosquitto),
    meshmq: describeCheckout(meshmqRoot)
  }
}

/** `DIR at <short hash> <subject>`, with a mark when tracked files differ from that commit. */
function describeCheckout (dir: string): string {
  const git = (...args: string[]): string => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', timeout: 5_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  try {
    const commit = git('log', '-1', '--format=%h %s')
    const dirty = git('status', '--porcelain', '--untracked-files=no') !== ''
    return `${dir} at ${commit}${dirty ? ' (with uncommitted changes)' : ''}`
  } catch {
    return `${dir} (not a git checkout)`
  }
}

function packageVersion (root: string, name: string): string {
  try {
    return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

function mosquittoVersion (binary: string): string {
  try {
    const text = execFileSync(binary, ['-h'], { encoding: 'utf8', timeout: 5_000, stdio: ['ignore', 'pipe', 'ignore'] })
    return /version\s+(\S+)/.exec(text)?.[1] ?? 'unknown'
  } catch (err) {
    const stdout = (err as { stdout?: string }).stdout ?? ''
    return /version\s+(\S+)/.exec(stdout)?.[1] ?? 'unknown'
  }
}
