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
}

export function describeMachine (root: string, mosquitto: string | null): MachineInfo {
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    aedes: packageVersion(root, 'aedes'),
    mosquitto: mosquitto === null ? null : mosquittoVersion(mosquitto)
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
