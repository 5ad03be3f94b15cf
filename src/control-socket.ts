/**
 * Making a place for the control endpoint's Unix socket: the path fits the OS bound, its directory
 * exists and no other user can write to it, and a socket file left by a killed node is replaced,
 * while one a running node listens on is not taken (a connect attempt tells them apart).
 */
import net from 'node:net'
import { lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs'
import { dirname } from 'node:path'
import { ConfigError } from './core/config/config.js'

/** Longest socket path Linux takes (`sun_path` is 108 bytes with the terminating NUL). */
export const MAX_SOCKET_PATH_BYTES = 107

/** Bound on the connect attempt that tells a live socket from a stale one. */
const PROBE_TIMEOUT_MS = 1_000

/** The socket path cannot be used: another node listens on it, or it is not a socket. */
export class ControlSocketInUseError extends Error {
  override name = 'ControlSocketInUseError'
}

/** The socket's directory lets other users replace the socket. */
export class ControlSocketDirectoryError extends Error {
  override name = 'ControlSocketDirectoryError'
}

/** ConfigError naming `cluster.control.socketPath` when `path` is longer than the OS allows. */
export function checkSocketPathLength (path: string): void {
  const bytes = Buffer.byteLength(path)
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new ConfigError('cluster.control.socketPath', `the control socket path '${path}' is ${bytes} bytes, longer than the ${MAX_SOCKET_PATH_BYTES} a Unix socket allows (the data directory's path is too long): set cluster.control.socketPath (MESHMQ_CLUSTER_CONTROL_SOCKET_PATH) to a shorter path, or cluster.control.transport to tcp`)
  }
}

/** Resolves true when something accepts connections on `path`, false when nothing does (refused, or no such file). */
async function someoneListens (path: string): Promise<boolean> {
  return await new Promise<boolean>((resolve, reject) => {
    const socket = net.connect({ path })
    const timer = setTimeout(() => { socket.destroy(); resolve(true) }, PROBE_TIMEOUT_MS)
    socket.once('connect', () => { clearTimeout(timer); socket.destroy(); resolve(true) })
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve(false)
      else reject(new ControlSocketInUseError(`cannot tell whether a node listens on the control socket ${path}: ${err.message}`))
    })
  })
}

/**
 * Readies `path` for the node's socket: checks its length, creates its directory (mode 0700) when
 * missing, refuses a world-writable one, and removes a stale socket. Rejects with
 * ControlSocketInUseError when a running node listens there or the path is not a socket.
 */
export async function prepareSocketPath (path: string): Promise<void> {
  checkSocketPathLength(path)
  const directory = dirname(path)
  mkdirSync(directory, { recursive: true, mode: 0o700 })
  if ((statSync(directory).mode & 0o002) !== 0) {
    throw new ControlSocketDirectoryError(`the control socket's directory ${directory} is writable by every user, who could replace the socket: remove that permission (chmod o-w) or set cluster.control.socketPath elsewhere`)
  }
  let stats
  try {
    stats = lstatSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  if (!stats.isSocket()) throw new ControlSocketInUseError(`${path} exists and is not a socket: remove it or set cluster.control.socketPath`)
  if (await someoneListens(path)) {
    throw new ControlSocketInUseError(`a running node listens on the control socket ${path} (is another node using this data directory?)`)
  }
  unlinkSync(path)
}
