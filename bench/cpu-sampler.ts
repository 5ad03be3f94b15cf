/**
 * CPU time of broker processes over a time window, read from /proc/<pid>/stat (user + system
 * ticks) every `intervalMs` while sampling. The window comes from the generator (epoch
 * milliseconds), so the CPU is interpolated between the samples around its ends. Linux only;
 * elsewhere `cpuMsBetween()` returns null.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { epochNow } from './workload.js'

const DEFAULT_INTERVAL_MS = 100

interface Sample {
  at: number
  cpuMs: number
}

let ticksPerSecond: number | undefined

function clockTicksPerSecond (): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5_000 }).trim()) || 100
    } catch {
      ticksPerSecond = 100
    }
  }
  return ticksPerSecond
}

/** User + system CPU milliseconds of `pid` so far, or null if it cannot be read. */
export function processCpuMs (pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces) start past the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12])
    return Number.isFinite(ticks) ? ticks * 1000 / clockTicksPerSecond() : null
  } catch {
    return null
  }
}

export class CpuSampler {
  private readonly samples = new Map<number, Sample[]>()
  private readonly timer: NodeJS.Timeout

  constructor (pids: readonly number[], intervalMs = DEFAULT_INTERVAL_MS) {
    for (const pid of pids) this.samples.set(pid, [])
    this.sample()
    this.timer = setInterval(() => { this.sample() }, intervalMs)
  }

  stop (): void {
    clearInterval(this.timer)
    this.sample()
  }

  /** CPU milliseconds `pid` used between two epoch times, or null without samples around them. */
  cpuMsBetween (pid: number, fromEpochMs: number, toEpochMs: number): number | null {
    const samples = this.samples.get(pid) ?? []
    const from = interpolate(samples, fromEpochMs)
    const to = interpolate(samples, toEpochMs)
    return from === null || to === null ? null : to - from
  }

  private sample (): void {
    const at = epochNow()
    for (const [pid, samples] of this.samples) {
      const cpuMs = processCpuMs(pid)
      if (cpuMs !== null) samples.push({ at, cpuMs })
    }
  }
}

function interpolate (samples: readonly Sample[], at: number): number | null {
  for (let i = 1; i < samples.length; i++) {
    const before = samples[i - 1]!
    const after = samples[i]!
    if (after.at < at) continue
    if (before.at > at) return null
    const span = after.at - before.at
    return span <= 0 ? after.cpuMs : before.cpuMs + (after.cpuMs - before.cpuMs) * (at - before.at) / span
  }
  return null
}
