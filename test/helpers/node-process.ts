/**
 * A meshmq node as a real child process (`node dist/src/main.js start …`) for multi-process
 * cluster tests: its JSON log lines are collected and can be awaited, it can be crashed with
 * SIGKILL or stopped with SIGTERM, and it is stopped (and its temporary data directory removed)
 * when the test ends. Runs the compiled broker: `npm test` builds first; under tsx run
 * `npm run build` after changing the broker. Every wait is bounded.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { clusterPortFor, CONTROL_PORT_OFFSET, type DiscoveryStrategy, type LogLevel } from '../../src/config.js'
import type { Cleanup } from './mqtt-client.js'
import { WaitTimeoutError } from './wait.js'

/** One JSON log line of a node (pino: `level` label, ISO `time`, `node`, `msg` event name, fields). */
export interface LogLine {
  level: string
  time: string
  node?: string
  actor?: string
  msg: string
  [field: string]: unknown
}

export interface NodeProcessOptions {
  /** Node name `name@host`. */
  name: string
  /** MQTT port; default 0 (the OS chooses: read `mqttPort` once started). */
  port?: number
  /** `--cluster-port`; default by the node-name rule (4370 + numeric suffix). */
  clusterPort?: number
  /** Control endpoint port (`MESHMQ_CLUSTER_CONTROL_PORT`); default cluster port + 1000. */
  controlPort?: number
  /** `--discovery`; when absent the environment says `MESHMQ_DISCOVERY=manual`. */
  discovery?: DiscoveryStrategy
  /** `--seeds`, each `name@host[:port]`. */
  seeds?: string[]
  /** `--secret`. */
  secret?: string
  /** Data directory; default a fresh temporary one, removed when the test ends. */
  dataDir?: string
  /** Default `info`. */
  logLevel?: LogLevel
  /** Command prefix to run the node under, e.g. `lab.execArgs(2)` (`ip netns exec <ns>`). */
  prefix?: string[]
  /** Extra environment variables (the test's own `MESHMQ_*` variables are not passed on). */
  env?: Record<string, string>
  /** Extra `start` arguments. */
  args?: string[]
}

export interface ExitStatus { code: number | null, signal: NodeJS.Signals | null }

/** The compiled broker is missing: build before running process tests. */
export class NodeBuildMissingError extends Error {
  override name = 'NodeBuildMissingError'
}

/** The node exited while something waited for it; `stderr` holds the end of its error output. */
export class NodeExitedError extends Error {
  override name = 'NodeExitedError'
  constructor (readonly node: string, readonly status: ExitStatus, readonly waitingFor: string, readonly stderr: string) {
    super(`node ${node} exited (code ${status.code ?? '-'}, signal ${status.signal ?? '-'}) while waiting for ${waitingFor}${stderr === '' ? '' : `; stderr:\n${stderr}`}`)
  }
}

export const START_TIMEOUT_MS = 15_000
export const STOP_TIMEOUT_MS = 10_000
/** Time allowed for a SIGKILLed process to be reaped. */
const KILL_TIMEOUT_MS = 5_000
const CTL_TIMEOUT_MS = 20_000
/** Output kept per process: the last lines and characters (a node logs a line per client event). */
const MAX_LOG_LINES = 50_000
const MAX_STDERR_CHARS = 16_384

function projectRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error('no package.json above the test helpers')
    dir = parent
  }
  return dir
}

/** Path of the compiled `meshmq` entry point (dist/src/main.js). */
export function mainScript (): string {
  const main = join(projectRoot(), 'dist', 'src', 'main.js')
  if (!existsSync(main)) throw new NodeBuildMissingError(`${main} does not exist: run \`npm run build\` first`)
  return main
}

/** Every live child, SIGKILLed if the test process exits without stopping it. */
const liveChildren = new Set<ChildProcess>()
let exitHookInstalled = false
function track (child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once('exit', () => { for (const c of liveChildren) c.kill('SIGKILL') })
  }
  liveChildren.add(child)
  child.once('exit', () => liveChildren.delete(child))
}

/** Temporary data directories and how many running helpers use each; removed when the last stops. */
const tempDirUsers = new Map<string, number>()

/** Predicate for `waitForLog`: a line whose `msg` is `event` and whose fields equal those given. */
export function logEvent (event: string, fields: Record<string, unknown> = {}): (line: LogLine) => boolean {
  return line => line.msg === event && Object.entries(fields).every(([key, value]) => line[key] === value)
}

/** A broker node running as a child process. */
export class NodeProcess {
  readonly name: string
  readonly dataDir: string
  readonly pid: number
  /** JSON log lines received so far (the last MAX_LOG_LINES). */
  readonly logs: LogLine[] = []
  /** Lines of stdout that were not JSON. */
  readonly otherOutput: string[] = []
  /** MQTT port: as configured, or as reported by `broker_started`. */
  mqttPort: number
  readonly controlPort: number
  readonly #prefix: string[]
  readonly #child: ChildProcess
  readonly #exited: Promise<ExitStatus>
  #exitStatus: ExitStatus | undefined
  #stderr = ''
  /** Number of lines dropped from the front of `logs`, so waiters can keep their place. */
  #dropped = 0
  readonly #lineListeners = new Set<() => void>()

  constructor (options: NodeProcessOptions, dataDir: string) {
    this.name = options.name
    this.dataDir = dataDir
    this.mqttPort = options.port ?? 0
    this.#prefix = options.prefix ?? []
    const clusterPort = options.clusterPort ?? clusterPortFor(options.name)
    this.controlPort = options.controlPort ?? clusterPort + CONTROL_PORT_OFFSET
    const args = [mainScript(), 'start', '--name', options.name, '--port', String(this.mqttPort), '--data-dir', dataDir, '--log-level', options.logLevel ?? 'info']
    if (options.clusterPort !== undefined) args.push('--cluster-port', String(options.clusterPort))
    if (options.discovery !== undefined) args.push('--discovery', options.discovery)
    if (options.seeds !== undefined && options.seeds.length > 0) args.push('--seeds', options.seeds.join(','))
    if (options.secret !== undefined) args.push('--secret', options.secret)
    args.push(...(options.args ?? []))
    const env = childEnvironment({
      MESHMQ_DISCOVERY: 'manual',
      MESHMQ_LOG_FORMAT: 'json',
      ...(options.controlPort !== undefined ? { MESHMQ_CLUSTER_CONTROL_PORT: String(options.controlPort) } : {}),
      ...options.env
    })
    const [command, ...prefixArgs] = [...this.#prefix, process.execPath]
    this.#child = spawn(command ?? process.execPath, [...prefixArgs, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    if (this.#child.pid === undefined) throw new Error(`could not spawn node ${options.name}`)
    this.pid = this.#child.pid
    track(this.#child)
    this.#exited = new Promise(resolve => {
      this.#child.once('exit', (code, signal) => {
        this.#exitStatus = { code, signal }
        this.#notify()
        resolve(this.#exitStatus)
      })
    })
    createInterface({ input: this.#child.stdout! }).on('line', line => { this.#onLine(line) })
    this.#child.stderr!.setEncoding('utf8')
    this.#child.stderr!.on('data', (chunk: string) => { this.#stderr = (this.#stderr + chunk).slice(-MAX_STDERR_CHARS) })
  }

  /** End of the node's error output. */
  get stderr (): string { return this.#stderr }

  /** Exit status once the process has exited, else undefined. */
  get exitStatus (): ExitStatus | undefined { return this.#exitStatus }

  /** Index the next log line will get (pass as `from` to wait only for lines after now). */
  get logPosition (): number { return this.#dropped + this.logs.length }

  /**
   * Resolves with the first log line, at or after position `from` (default 0: lines already
   * received count), for which `predicate` holds. Rejects with WaitTimeoutError after
   * `timeoutMs`, or NodeExitedError if the process exits first.
   */
  async waitForLog (predicate: (line: LogLine) => boolean, options: { timeoutMs?: number, from?: number, what?: string } = {}): Promise<LogLine> {
    const timeoutMs = options.timeoutMs ?? START_TIMEOUT_MS
    const what = options.what ?? `a matching log line from ${this.name}`
    let next = options.from ?? 0
    return await new Promise<LogLine>((resolve, reject) => {
      const check = (): void => {
        for (let i = Math.max(next, this.#dropped); i < this.logPosition; i++) {
          const line = this.logs[i - this.#dropped]
          if (line !== undefined && predicate(line)) {
            finish()
            resolve(line)
            return
          }
        }
        next = this.logPosition
        if (this.#exitStatus !== undefined) {
          finish()
          reject(new NodeExitedError(this.name, this.#exitStatus, what, this.#stderr))
        }
      }
      const timer = setTimeout(() => { finish(); reject(new WaitTimeoutError(what, timeoutMs)) }, timeoutMs)
      const finish = (): void => {
        clearTimeout(timer)
        this.#lineListeners.delete(check)
      }
      this.#lineListeners.add(check)
      check()
    })
  }

  /** Resolves with the exit status; rejects with WaitTimeoutError after `timeoutMs`. */
  async waitForExit (timeoutMs = STOP_TIMEOUT_MS): Promise<ExitStatus> {
    let timer: NodeJS.Timeout | undefined
    try {
      return await Promise.race([
        this.#exited,
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new WaitTimeoutError(`node ${this.name} (pid ${this.pid}) to exit`, timeoutMs)), timeoutMs)
        })
      ])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Sends `signal` to the node's PID (SIGKILL simulates a crash). No-op once it has exited. */
  kill (signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.#exitStatus === undefined) this.#child.kill(signal)
  }

  /** SIGTERM, then waits up to `timeoutMs` for a clean exit; SIGKILLs it if it does not. */
  async stop (timeoutMs = STOP_TIMEOUT_MS): Promise<ExitStatus> {
    if (this.#exitStatus !== undefined) return this.#exitStatus
    this.kill('SIGTERM')
    try {
      return await this.waitForExit(timeoutMs)
    } catch (err) {
      if (!(err instanceof WaitTimeoutError)) throw err
      this.kill('SIGKILL')
      return await this.waitForExit(KILL_TIMEOUT_MS)
    }
  }

  /**
   * Runs `meshmq ctl --control 127.0.0.1:<controlPort> <args>` where the node runs (inside its
   * namespace when it has a prefix) and resolves with its exit code and output.
   */
  async ctl (...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
    const [command, ...prefixArgs] = [...this.#prefix, process.execPath]
    const argv = [...prefixArgs, mainScript(), 'ctl', '--control', `127.0.0.1:${this.controlPort}`, ...args]
    return await new Promise(resolve => {
      execFile(command ?? process.execPath, argv, { env: childEnvironment({}), timeout: CTL_TIMEOUT_MS, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
        resolve({ code, stdout, stderr })
      })
    })
  }

  #onLine (text: string): void {
    let line: LogLine | undefined
    try {
      const parsed: unknown = JSON.parse(text)
      if (typeof parsed === 'object' && parsed !== null && typeof (parsed as LogLine).msg === 'string') line = parsed as LogLine
    } catch {
      line = undefined
    }
    if (line === undefined) {
      this.otherOutput.push(text)
      if (this.otherOutput.length > MAX_LOG_LINES) this.otherOutput.shift()
      return
    }
    if (line.msg === 'broker_started' && typeof line.port === 'number') this.mqttPort = line.port
    this.logs.push(line)
    if (this.logs.length > MAX_LOG_LINES) {
      this.logs.shift()
      this.#dropped++
    }
    this.#notify()
  }

  #notify (): void {
    for (const listener of [...this.#lineListeners]) listener()
  }
}

/** The test's environment without its `MESHMQ_*` variables, plus `extra`. */
function childEnvironment (extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('MESHMQ_')) env[key] = value
  return { ...env, ...extra }
}

/**
 * Spawns a node without waiting for it to start (for nodes expected to refuse to start). It is
 * stopped when the test ends, and its temporary data directory then removed.
 */
export function launchNode (t: Cleanup, options: NodeProcessOptions): NodeProcess {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'meshmq-node-'))
  const temporary = options.dataDir === undefined || tempDirUsers.has(dataDir)
  if (temporary) tempDirUsers.set(dataDir, (tempDirUsers.get(dataDir) ?? 0) + 1)
  const release = (): void => {
    if (!temporary) return
    const users = (tempDirUsers.get(dataDir) ?? 1) - 1
    if (users > 0) {
      tempDirUsers.set(dataDir, users)
      return
    }
    tempDirUsers.delete(dataDir)
    rmSync(dataDir, { recursive: true, force: true })
  }
  let node: NodeProcess
  try {
    node = new NodeProcess(options, dataDir)
  } catch (err) {
    release()
    throw err
  }
  t.after(async () => {
    try {
      await node.stop()
    } finally {
      release()
    }
  })
  return node
}

/** Spawns a node and resolves once it logs `broker_started` (rejects if it exits or takes longer than `timeoutMs`). */
export async function startNode (t: Cleanup, options: NodeProcessOptions, timeoutMs = START_TIMEOUT_MS): Promise<NodeProcess> {
  const node = launchNode(t, options)
  await node.waitForLog(logEvent('broker_started'), { timeoutMs, what: `node ${options.name} to start (broker_started)` })
  return node
}
