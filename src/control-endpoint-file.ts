/**
 * The files a node keeps in its data directory so `meshmq ctl` can find and use its control
 * endpoint: `ctl.json` says where it listens (`{"transport":"unix","path":…}` or
 * `{"transport":"tcp","host":…,"port":…}`), and with the TCP transport `ctl.token` holds the token
 * every request must carry (32 random bytes, hex; mode 0600; new at each start). Both are written
 * whole (a temporary file renamed over) and removed when the node stops.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** Where a control endpoint listens. */
export type ControlAddress =
  | { transport: 'unix', path: string }
  | { transport: 'tcp', host: string, port: number }

/** A control endpoint as a client reaches it: its address and, for TCP, the token. */
export type ControlTarget = ControlAddress & { token?: string }

export const CONTROL_SOCKET_FILE = 'ctl.sock'
export const CONTROL_TOKEN_FILE = 'ctl.token'
export const CONTROL_ENDPOINT_FILE = 'ctl.json'

/** Bytes of randomness in a control token. */
const TOKEN_BYTES = 32

/** The data directory records no usable control endpoint (the node is not running, or another directory). */
export class ControlEndpointNotFoundError extends Error {
  override name = 'ControlEndpointNotFoundError'
}

/** Writes `text` to `path` with `mode`, replacing any earlier file whole (its mode included). */
function writeWhole (path: string, text: string, mode: number): void {
  const temporary = `${path}.${process.pid}.tmp`
  rmSync(temporary, { force: true })
  writeFileSync(temporary, text, { mode, flag: 'wx' })
  renameSync(temporary, path)
}

/** A fresh token, written to `<dataDir>/ctl.token` (mode 0600) and returned. */
export function writeControlToken (dataDir: string): string {
  const token = randomBytes(TOKEN_BYTES).toString('hex')
  writeWhole(join(dataDir, CONTROL_TOKEN_FILE), token + '\n', 0o600)
  return token
}

/** Records where the node's control endpoint listens, in `<dataDir>/ctl.json`. */
export function recordControlAddress (dataDir: string, address: ControlAddress): void {
  writeWhole(join(dataDir, CONTROL_ENDPOINT_FILE), JSON.stringify(address) + '\n', 0o644)
}

/** Removes the endpoint record and the token (the node stops). */
export function removeControlFiles (dataDir: string): void {
  rmSync(join(dataDir, CONTROL_ENDPOINT_FILE), { force: true })
  rmSync(join(dataDir, CONTROL_TOKEN_FILE), { force: true })
}

function addressOf (recorded: unknown): ControlAddress | undefined {
  if (typeof recorded !== 'object' || recorded === null) return undefined
  const { transport, path, host, port } = recorded as Record<string, unknown>
  if (transport === 'unix' && typeof path === 'string') return { transport, path }
  if (transport === 'tcp' && typeof host === 'string' && typeof port === 'number') return { transport, host, port }
  return undefined
}

/** The token in `<dataDir>/ctl.token`; ControlEndpointNotFoundError when it cannot be read. */
export function readControlToken (dataDir: string): string {
  const file = join(dataDir, CONTROL_TOKEN_FILE)
  try {
    return readFileSync(file, 'utf8').trim()
  } catch (err) {
    throw new ControlEndpointNotFoundError(`cannot read the control token ${file}: ${(err as Error).message}`)
  }
}

/** The control endpoint `dataDir` records, with its token for TCP; ControlEndpointNotFoundError when there is none. */
export function readControlTarget (dataDir: string): ControlTarget {
  const file = join(dataDir, CONTROL_ENDPOINT_FILE)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const detail = (err as NodeJS.ErrnoException).code === 'ENOENT' ? '' : `: ${(err as Error).message}`
    throw new ControlEndpointNotFoundError(`no control endpoint recorded in ${file} (is the node running with this data directory? give --data-dir or --node)${detail}`)
  }
  let recorded: unknown
  try {
    recorded = JSON.parse(text)
  } catch {
    recorded = undefined
  }
  const address = addressOf(recorded)
  if (address === undefined) throw new ControlEndpointNotFoundError(`${file} does not record a control endpoint`)
  return address.transport === 'tcp' ? { ...address, token: readControlToken(dataDir) } : address
}

/** `unix:/path` or `host:port`, for messages. */
export function describeControlAddress (address: ControlAddress): string {
  return address.transport === 'unix' ? `unix:${address.path}` : `${address.host}:${address.port}`
}
