/**
 * Child processes of the harness: started through `sh` so the open-files limit is raised to the hard
 * limit first, optionally pinned to one CPU with `taskset`, with the tail of stderr kept for failure
 * reports and every wait bounded. Free ports come from `test/helpers/ports.ts`.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { BrokerStartError } from './errors.js'

const STDERR_TAIL_BYTES = 4096
const STOP_GRACE_MS = 3_000

export interface LaunchOptions {
  command: string
  args: readonly string[]
  /** CPU to pin the process to, or null for no pinning. */
  cpu: number | null
  env?: NodeJS.ProcessEnv
  cwd?: string
}

export interface ExitStatus {
  code: number | null
  signal: NodeJS.Signals | null
}

/** `sh -c` preamble: raise the soft open-files limit to the hard limit, then exec the command. */
const RAISE_NOFILE_AND_EXEC = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"'

export class ChildProcess {
  readonly child: ChildProcessWithoutNullStreams
  readonly exited: Promise<ExitStatus>
  exitStatus: ExitStatus | null = null
  private stderrTail = ''

  constructor (readonly label: string, options: LaunchOptions) {
    const pinned = options.cpu === null ? [options.command, ...options.args] : ['taskset', '-c', String(options.cpu), options.command, ...options.args]
    this.child = spawn('sh', ['-c', RAISE_NOFILE_AND_EXEC, 'sh', ...pinned], { env: options.env ?? process.env, cwd: options.cwd, stdio: 'pipe' })
    this.child.stderr.setEncoding('utf8')
    this.child.stderr.on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL_BYTES)
    })
    this.exited = new Promise<ExitStatus>((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exitStatus = { code, signal }
        resolve(this.exitStatus)
      })
      this.child.on('error', () => {
        this.exitStatus = { code: null, signal: null }
        resolve(this.exitStatus)
      })
    })
  }

  get pid (): number {
    return this.child.pid ?? -1
  }

  /** The last lines the process wrote to stderr. */
  stderr (): string {
    return this.stderrTail.trim()
  }

  describeExit (): string {
    const status = this.exitStatus
    if (status === null) return `${this.label} is running`
    const how = status.signal !== null ? `signal ${status.signal}` : `code ${String(status.code)}`
    const tail = this.stderr()
    return `${this.label} exited (${how})${tail === '' ? '' : `: ${tail.split('\n').slice(-5).join(' | ')}`}`
  }

  /** Resident set size in bytes from /proc, or null once the process is gone. */
  rssBytes (): number | null {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8')
      const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
      return match === null ? null : Number(match[1]) * 1024
    } catch {
      return null
    }
  }

  /** SIGTERM, then SIGKILL after a grace period; resolves once the process is gone. */
  async stop (): Promise<ExitStatus> {
    if (this.exitStatus !== null) return this.exitStatus
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, STOP_GRACE_MS)
    try {
      return await this.exited
    } finally {
      clearTimeout(timer)
    }
  }
}

/** Resolves once `port` accepts TCP connections; fails if `process` exits first or the time runs out. */
export async function waitForPort (host: string, port: number, process: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    if (process.exitStatus !== null) throw new BrokerStartError(process.describeExit())
    if (await canConnect(host, port)) return
    if (performance.now() > deadline) throw new BrokerStartError(`${process.label} did not accept connections on ${host}:${port} within ${timeoutMs} ms`)
    await new Promise<void>(resolve => setTimeout(resolve, 20))
  }
}

async function canConnect (host: string, port: number): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const socket = net.connect({ host, port })
    const done = (ok: boolean): void => { socket.destroy(); resolve(ok) }
    socket.setTimeout(1000, () => { done(false) })
    socket.once('connect', () => { done(true) })
    socket.once('error', () => { done(false) })
  })
}
