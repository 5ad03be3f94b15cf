/**
 * A `meshmq` child process as tests drive it: its JSON log lines are collected and can be awaited,
 * it can be crashed with SIGKILL or stopped with SIGTERM, and every wait is bounded. The cluster
 * tests use it through `NodeProcess` (node-process.ts), the operator tests through
 * `BrokerProcess` (broker-process.ts). A child still running when the test process exits is
 * SIGKILLed.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { waitFor, WaitTimeoutError, withTimeout } from './wait.js'

/** One JSON log line (pino: `level` label, ISO `time`, `node`, `msg` event name, fields). */
export interface LogLine {
  level: string
  time: string
  node?: string
  actor?: string
  msg: string
  [field: string]: unknown
}

export interface ExitStatus { code: number | null, signal: NodeJS.Signals | null }

/** The process exited while something waited for it; `stderr` holds the end of its error output. */
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
/** Output kept per process: the last lines and characters (a node logs a line per client event). */
const MAX_LOG_LINES = 50_000
const MAX_STDERR_CHARS = 16_384

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

/** Predicate for `waitForLog`: a line whose `msg` is `event` and whose fields equal those given. */
export function logEvent (event: string, fields: Record<string, unknown> = {}): (line: LogLine) => boolean {
  return line => line.msg === event && Object.entries(fields).every(([key, value]) => line[key] === value)
}

/**
 * The test's environment without its `MESHMQ_*` variables, plus `extra`; the HTTP API on an
 * OS-chosen port (several nodes, and other tests, would compete for 18083) unless `extra` says otherwise.
 */
export function childEnvironment (extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('MESHMQ_')) env[key] = value
  return { ...env, MESHMQ_HTTP_PORT: '0', ...extra }
}

export class MeshmqProcess {
  readonly pid: number
  /** JSON log lines received so far (the last MAX_LOG_LINES). */
  readonly logs: LogLine[] = []
  /** Lines of stdout that were not JSON log lines. */
  readonly otherOutput: string[] = []
  readonly #child: ChildProcess
  readonly #exited: Promise<ExitStatus>
  #exitStatus: ExitStatus | undefined
  #stderr = ''
  /** Number of lines dropped from the front of `logs`, so waiters can keep their place. */
  #dropped = 0
  readonly #lineListeners = new Set<() => void>()

  /** Runs `command argv` with `env` (in directory `options.cwd`, default this one); `label` names the process in errors. */
  constructor (readonly label: string, command: string, argv: readonly string[], env: NodeJS.ProcessEnv, options: { cwd?: string } = {}) {
    this.#child = spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'pipe'], ...(options.cwd !== undefined ? { cwd: options.cwd } : {}) })
    if (this.#child.pid === undefined) throw new Error(`could not spawn ${label}`)
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

  /** End of the process's error output. */
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
  async waitForLog (predicate: (line: LogLine) => boolean, options: { timeoutMs?: number, from?: number | undefined, what?: string } = {}): Promise<LogLine> {
    const timeoutMs = options.timeoutMs ?? START_TIMEOUT_MS
    const what = options.what ?? `a matching log line from ${this.label}`
    let next = options.from ?? 0
    return await waitFor<LogLine>(what, ({ resolve, reject }) => {
      const check = (): void => {
        for (let i = Math.max(next, this.#dropped); i < this.logPosition; i++) {
          const line = this.logs[i - this.#dropped]
          if (line !== undefined && predicate(line)) {
            resolve(line)
            return
          }
        }
        next = this.logPosition
        if (this.#exitStatus !== undefined) reject(new NodeExitedError(this.label, this.#exitStatus, what, this.#stderr))
      }
      this.#lineListeners.add(check)
      check()
      return () => { this.#lineListeners.delete(check) }
    }, { timeoutMs })
  }

  /** Resolves with the exit status; rejects with WaitTimeoutError after `timeoutMs`. */
  async waitForExit (timeoutMs = STOP_TIMEOUT_MS): Promise<ExitStatus> {
    return await withTimeout(this.#exited, timeoutMs, `${this.label} (pid ${this.pid}) to exit`)
  }

  /** Sends `signal` to the process (SIGKILL simulates a crash). No-op once it has exited. */
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

  /** The first log line (received or coming) whose event (`msg`) is `event` with the fields given. */
  async waitForEvent (event: string, fields: Record<string, unknown> = {}, timeoutMs = START_TIMEOUT_MS): Promise<LogLine> {
    return await this.waitForLog(logEvent(event, fields), { timeoutMs, what: `log event ${event} from ${this.label}` })
  }

  /** Called for every stdout line, JSON or not, as it arrives. */
  protected onStdoutLine? (text: string): void

  /** Called for each JSON log line before waiters see it. */
  protected onLog? (line: LogLine): void

  #onLine (text: string): void {
    this.onStdoutLine?.(text)
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
    this.onLog?.(line)
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
