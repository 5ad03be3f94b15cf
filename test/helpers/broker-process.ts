/**
 * The broker as operators run it: a real `meshmq start` child process (compiled
 * `dist/src/main.js`, or `src/main.ts` through tsx when the tests themselves run from TypeScript),
 * with its JSON log lines collected and every wait bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Cleanup } from './mqtt-client.js'
import { WaitTimeoutError, withTimeout } from './wait.js'

/** One parsed JSON log line. */
export type LogLine = Record<string, unknown> & { msg?: string, level?: string | number }

const here = dirname(fileURLToPath(import.meta.url))
/** True when this module runs as TypeScript source (tsx), false when compiled into dist/. */
const fromSource = import.meta.url.endsWith('.ts')
/** The repository root: two levels up from test/helpers, three from dist/test/helpers. */
export const REPO_ROOT = fromSource ? join(here, '..', '..') : join(here, '..', '..', '..')

/** The node arguments that run the `meshmq` entry point. */
export function mainCommand (): string[] {
  return fromSource
    ? ['--import', 'tsx', join(REPO_ROOT, 'src', 'main.ts')]
    : [join(REPO_ROOT, 'dist', 'src', 'main.js')]
}

/** A temporary directory removed when the test ends. */
export function tempDir (t: Cleanup, prefix = 'meshmq-op-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export interface SpawnOptions {
  args: string[]
  /** Extra environment; `MESHMQ_DISCOVERY=manual` and `MESHMQ_CLUSTER_PORT=0` are always set. */
  env?: Record<string, string>
}

export class BrokerProcess {
  /** Every stdout line, parsed when it is JSON. */
  readonly logs: LogLine[] = []
  readonly rawStdout: string[] = []
  stderr = ''
  exitCode: number | null | undefined
  private readonly listeners = new Set<() => void>()
  private stdoutRest = ''

  constructor (readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8')
    child.stderr?.setEncoding('utf8')
    child.stdout?.on('data', (chunk: string) => {
      const lines = (this.stdoutRest + chunk).split('\n')
      this.stdoutRest = lines.pop() ?? ''
      for (const line of lines) {
        if (line.trim() === '') continue
        this.rawStdout.push(line)
        try { this.logs.push(JSON.parse(line) as LogLine) } catch { /* a non-JSON line stays in rawStdout */ }
      }
      this.notify()
    })
    child.stderr?.on('data', (chunk: string) => { this.stderr += chunk; this.notify() })
    child.on('exit', code => { this.exitCode = code; this.notify() })
  }

  private notify (): void { for (const listener of this.listeners) listener() }

  private async until<T> (check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const found = check()
    if (found !== undefined) return found
    let listener: (() => void) | undefined
    try {
      return await withTimeout(new Promise<T>(resolve => {
        listener = () => { const value = check(); if (value !== undefined) resolve(value) }
        this.listeners.add(listener)
      }), timeoutMs, what)
    } catch (err) {
      if (err instanceof WaitTimeoutError) {
        err.message += `\n--- stdout ---\n${this.rawStdout.slice(-20).join('\n')}\n--- stderr ---\n${this.stderr.slice(-2000)}`
      }
      throw err
    } finally {
      if (listener !== undefined) this.listeners.delete(listener)
    }
  }

  /** The first log line (already written or coming) that satisfies `predicate`. */
  async waitForLog (predicate: (line: LogLine) => boolean, timeoutMs = 10_000, what = 'a log line'): Promise<LogLine> {
    return await this.until(() => this.logs.find(predicate), timeoutMs, what)
  }

  /** The first log line whose event (`msg`) is `event`. */
  async waitForEvent (event: string, fields: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<LogLine> {
    return await this.waitForLog(line => line.msg === event && Object.entries(fields).every(([k, v]) => line[k] === v), timeoutMs, `log event ${event}`)
  }

  /** The exit code, once the process has exited. */
  async waitForExit (timeoutMs = 10_000): Promise<number | null> {
    return await this.until(() => this.exitCode === undefined ? undefined : { code: this.exitCode }, timeoutMs, 'the process to exit').then(r => r.code)
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop (graceMs = 5000): Promise<number | null> {
    if (this.exitCode !== undefined) return this.exitCode
    this.child.kill('SIGTERM')
    try {
      return await this.waitForExit(graceMs)
    } catch {
      this.child.kill('SIGKILL')
      return await this.waitForExit(2000)
    }
  }
}

/** Starts `meshmq <args>` as a child process; it is stopped when the test ends. */
export function spawnBroker (t: Cleanup, options: SpawnOptions): BrokerProcess {
  const child = spawn(process.execPath, [...mainCommand(), ...options.args], {
    cwd: REPO_ROOT,
    env: { ...process.env, MESHMQ_DISCOVERY: 'manual', MESHMQ_CLUSTER_PORT: '0', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const broker = new BrokerProcess(child)
  t.after(async () => { await broker.stop() })
  return broker
}
