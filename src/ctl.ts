/**
 * `meshmq ctl`: sends one administration command to a running node's control endpoint (one JSON
 * request line, one JSON reply line) and prints the reply. The endpoint is the one the node's data
 * directory records (`ctl.json`: a Unix socket, or a loopback TCP port whose token is in
 * `ctl.token`). The directory is `--data-dir`, else the one `meshmq start` would use with the same
 * environment and config file and `--node` as its `--name` (`./data/<node>` unless configured; a
 * node given no name is named as start names it). `--control HOST:PORT` names a TCP endpoint
 * directly (its token read from `--data-dir` when given).
 */
import net from 'node:net'
import type { Command } from './cli-args.js'
import { loadConfig } from './core/config/config.js'
import { hostFacts } from './host-facts.js'
import { describeControlAddress, readControlTarget, readControlToken, type ControlTarget } from './control-endpoint-file.js'

const CTL_TIMEOUT_MS = 15_000

export interface ControlRequest { args: string[] }
export interface ControlReply { ok: boolean, result?: unknown, error?: string, text?: string }

export class ControlUnreachableError extends Error {
  override name = 'ControlUnreachableError'
}

/** Sends a request (with the target's token, if any) to a control endpoint and resolves with its reply. */
export async function sendControlRequest (target: ControlTarget, request: ControlRequest, signal = AbortSignal.timeout(CTL_TIMEOUT_MS)): Promise<ControlReply> {
  const where = describeControlAddress(target)
  const line = JSON.stringify(target.token === undefined ? request : { ...request, token: target.token }) + '\n'
  return await new Promise<ControlReply>((resolve, reject) => {
    const socket = target.transport === 'unix' ? net.connect({ path: target.path }) : net.connect({ host: target.host, port: target.port })
    let data = ''
    const fail = (err: Error): void => { socket.destroy(); reject(err) }
    const onAbort = (): void => fail(new ControlUnreachableError(`no reply from ${where} in time`))
    signal.addEventListener('abort', onAbort, { once: true })
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(line))
    socket.on('data', (chunk: string) => {
      data += chunk
      const end = data.indexOf('\n')
      if (end < 0) return
      signal.removeEventListener('abort', onAbort)
      socket.end()
      try {
        resolve(JSON.parse(data.slice(0, end)) as ControlReply)
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)))
      }
    })
    socket.on('error', err => {
      signal.removeEventListener('abort', onAbort)
      fail(new ControlUnreachableError(`cannot reach the node's control endpoint ${where}: ${err.message}`))
    })
  })
}

/** The endpoint a `ctl` command names; throws ControlEndpointNotFoundError when the data directory records none. */
export function targetOf (command: Extract<Command, { kind: 'ctl' }>, env: NodeJS.ProcessEnv): ControlTarget {
  if (command.control !== undefined) {
    return { transport: 'tcp', ...command.control, ...(command.dataDir !== undefined ? { token: readControlToken(command.dataDir) } : {}) }
  }
  if (command.dataDir !== undefined) return readControlTarget(command.dataDir)
  const config = loadConfig({ env, overrides: command.node === undefined ? {} : { node: { name: command.node } }, host: hostFacts() })
  return readControlTarget(config.node.dataDir)
}

export async function runCtl (command: Extract<Command, { kind: 'ctl' }>): Promise<number> {
  try {
    const reply = await sendControlRequest(targetOf(command, process.env), { args: command.args })
    if (command.json) process.stdout.write(JSON.stringify(reply.ok ? reply.result : { error: reply.error }) + '\n')
    else if (reply.ok) process.stdout.write((reply.text ?? JSON.stringify(reply.result, null, 2)) + '\n')
    else process.stderr.write(`meshmq ctl: ${reply.error ?? 'failed'}\n`)
    return reply.ok ? 0 : 1
  } catch (err) {
    process.stderr.write(`meshmq ctl: ${(err as Error).message}\n`)
    return 1
  }
}
