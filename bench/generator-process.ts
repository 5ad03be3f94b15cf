/**
 * The harness side of a load generator process (bench/load-generator.ts): sends the workload,
 * reads its READY/RESULT lines with bounded waits and stops the process.
 */
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { ChildProcess } from './child-process.js'
import { GeneratorError } from './errors.js'
import type { Workload } from './workload.js'

export interface GeneratorHost {
  root: string
  /** CPU for generator processes, or null for no pinning. */
  cpu: number | null
}

type Tag = 'READY' | 'RESULT'

export class GeneratorProcess {
  private readonly process: ChildProcess
  private readonly lines: string[] = []
  private waiter: (() => void) | null = null

  /** With `echoStderr`, the generator's progress lines on stderr are copied to the harness's stderr. */
  constructor (host: GeneratorHost, workload: Workload, label: string, options: { echoStderr?: boolean } = {}) {
    this.process = new ChildProcess(label, {
      command: process.execPath,
      args: [join(host.root, 'dist', 'bench', 'load-generator.js')],
      cpu: host.cpu,
      cwd: host.root
    })
    if (options.echoStderr === true) this.process.child.stderr.on('data', (text: string) => { process.stderr.write(text) })
    const rl = createInterface({ input: this.process.child.stdout })
    rl.on('line', (line) => { this.lines.push(line); this.wake() })
    void this.process.exited.then(() => { this.wake() })
    this.process.child.stdin.on('error', () => {})
    this.send(JSON.stringify(workload))
  }

  send (line: string): void {
    this.process.child.stdin.write(`${line}\n`)
  }

  /** The JSON of the next `tag` line; fails on an ERROR line, an exit or after `timeoutMs`. */
  async expect<T> (tag: Tag, timeoutMs: number): Promise<T> {
    const deadline = performance.now() + timeoutMs
    for (;;) {
      const line = this.lines.shift()
      if (line !== undefined) {
        if (line.startsWith(`${tag} `)) return JSON.parse(line.slice(tag.length + 1)) as T
        if (line.startsWith('ERROR ')) throw new GeneratorError(`${this.process.label}: ${line.slice(6)}`)
        continue
      }
      if (this.process.exitStatus !== null) throw new GeneratorError(`${this.process.describeExit()} before ${tag}`)
      const left = deadline - performance.now()
      if (left <= 0) throw new GeneratorError(`${this.process.label}: no ${tag} within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { this.waiter = null; resolve() }, left)
        this.waiter = () => { clearTimeout(timer); resolve() }
      })
    }
  }

  async stop (): Promise<void> {
    this.process.child.stdin.end()
    let timer: NodeJS.Timeout | undefined
    const graceful = await Promise.race([this.process.exited, new Promise<null>((resolve) => { timer = setTimeout(() => { resolve(null) }, 2000) })])
    clearTimeout(timer)
    if (graceful === null) await this.process.stop()
  }

  private wake (): void {
    const waiter = this.waiter
    this.waiter = null
    waiter?.()
  }
}

/** Runs a workload that prints only RESULT, bounded by `timeoutMs`. */
export async function runGenerator<T> (host: GeneratorHost, workload: Workload, label: string, timeoutMs: number): Promise<T> {
  const generator = new GeneratorProcess(host, workload, label)
  try {
    return await generator.expect<T>('RESULT', timeoutMs)
  } finally {
    await generator.stop()
  }
}
