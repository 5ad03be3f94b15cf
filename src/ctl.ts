/**
 * `meshmq ctl`: sends one administration command to a running node's control endpoint (a
 * loopback TCP port speaking one JSON request line and one JSON reply line) and prints the reply.
 */
import net from 'node:net'
import type { Command } from './cli-args.js'
import { controlEndpointFor, DEFAULT_NODE_NAME } from './core/config/config.js'

const CTL_TIMEOUT_MS = 15_000

export interface ControlRequest { args: string[] }
export interface ControlReply { ok: boolean, result?: unknown, error?: string, text?: string }

export class ControlUnreachableError extends Error {
  override name = 'ControlUnreachableError'
}

/** Sends a request to a control endpoint and resolves with its reply. */
export async function sendControlRequest (endpoint: { host: string, port: number }, request: ControlRequest, signal = AbortSignal.timeout(CTL_TIMEOUT_MS)): Promise<ControlReply> {
  return await new Promise<ControlReply>((resolve, reject) => {
    const socket = net.connect(endpoint)
    let data = ''
    const fail = (err: Error): void => { socket.destroy(); reject(err) }
    const onAbort = (): void => fail(new ControlUnreachableError(`no reply from ${endpoint.host}:${endpoint.port} in time`))
    signal.addEventListener('abort', onAbort, { once: true })
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(JSON.stringify(request) + '\n'))
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
      fail(new ControlUnreachableError(`cannot reach the node's control endpoint ${endpoint.host}:${endpoint.port}: ${err.message}`))
    })
  })
}

export async function runCtl (command: Extract<Command, { kind: 'ctl' }>): Promise<number> {
  const endpoint = command.control ?? controlEndpointFor(command.node ?? process.env.MESHMQ_NODE_NAME ?? DEFAULT_NODE_NAME)
  try {
    const reply = await sendControlRequest(endpoint, { args: command.args })
    if (command.json) process.stdout.write(JSON.stringify(reply.ok ? reply.result : { error: reply.error }) + '\n')
    else if (reply.ok) process.stdout.write((reply.text ?? JSON.stringify(reply.result, null, 2)) + '\n')
    else process.stderr.write(`meshmq ctl: ${reply.error ?? 'failed'}\n`)
    return reply.ok ? 0 : 1
  } catch (err) {
    process.stderr.write(`meshmq ctl: ${(err as Error).message}\n`)
    return 1
  }
}
