/**
 * Load generator process. Reads one workload as a JSON line on stdin, runs it and prints
 * `RESULT <json>` (or `ERROR <message>`) on stdout, then exits. Workloads the harness steps through
 * print `READY <json>` first and then wait for a command line on stdin:
 * - idle: `close` → disconnects all connections.
 * - route-sync: each `probe <host> <port>` line → probes that node, prints RESULT; ends with stdin.
 */
import { createInterface } from 'node:readline'
import { runThroughput } from './throughput-workload.js'
import { openIdleConnections } from './idle-workload.js'
import { runConvergence } from './convergence-workload.js'
import { holdRoutes } from './route-sync-workload.js'
import { runShared } from './shared-workload.js'
import { buildSessions, checkSessions } from './restart-workload.js'
import { BenchTimeoutError, UsageError } from './errors.js'
import type { Workload } from './workload.js'

/** Lines from stdin, awaited one at a time. */
class CommandLines {
  private readonly lines: string[] = []
  private waiter: ((line: string | null) => void) | null = null
  private ended = false

  constructor () {
    const rl = createInterface({ input: process.stdin })
    rl.on('line', (line) => {
      if (this.waiter !== null) { const w = this.waiter; this.waiter = null; w(line) } else this.lines.push(line)
    })
    rl.on('close', () => {
      this.ended = true
      if (this.waiter !== null) { const w = this.waiter; this.waiter = null; w(null) }
    })
  }

  /** The next line, or null when stdin ended; rejects after `timeoutMs`. */
  async next (timeoutMs: number): Promise<string | null> {
    const queued = this.lines.shift()
    if (queued !== undefined) return queued
    if (this.ended) return null
    return await new Promise<string | null>((resolve, reject) => {
      const timer = setTimeout(() => { this.waiter = null; reject(new BenchTimeoutError(`no command on stdin within ${timeoutMs} ms`)) }, timeoutMs)
      this.waiter = (line) => { clearTimeout(timer); resolve(line) }
    })
  }
}

function emit (tag: 'READY' | 'RESULT', value: unknown): void {
  process.stdout.write(`${tag} ${JSON.stringify(value)}\n`)
}

async function main (): Promise<void> {
  const commands = new CommandLines()
  const first = await commands.next(10_000)
  if (first === null) throw new UsageError('expected a workload as a JSON line on stdin')
  const workload = JSON.parse(first) as Workload
  switch (workload.kind) {
    case 'throughput':
      emit('RESULT', await runThroughput(workload))
      return
    case 'convergence':
      emit('RESULT', await runConvergence(workload))
      return
    case 'shared':
      emit('RESULT', await runShared(workload))
      return
    case 'restart-build':
      emit('RESULT', await buildSessions(workload))
      return
    case 'restart-check':
      emit('RESULT', await checkSessions(workload))
      return
    case 'idle': {
      const idle = await openIdleConnections(workload)
      emit('READY', idle.ready)
      try {
        await commands.next(workload.timeoutMs)
      } finally {
        idle.close()
      }
      emit('RESULT', idle.ready)
      return
    }
    case 'route-sync': {
      const held = await holdRoutes(workload)
      emit('READY', held.ready)
      try {
        for (let line = await commands.next(workload.timeoutMs); line !== null; line = await commands.next(workload.timeoutMs)) {
          const [verb, host, port] = line.split(' ')
          if (verb !== 'probe' || host === undefined || port === undefined) throw new UsageError(`expected "probe <host> <port>", got ${JSON.stringify(line)}`)
          emit('RESULT', await held.probe({ host, port: Number(port) }))
        }
      } finally {
        held.close()
      }
    }
  }
}

main().then(() => {
  setTimeout(() => process.exit(0), 200).unref()
}, (err: unknown) => {
  const error = err as Error
  process.stdout.write(`ERROR ${error.name}: ${error.message}\n`)
  setTimeout(() => process.exit(1), 200).unref()
})
