/**
 * The node side of `meshmq ctl`: an endpoint that takes one JSON request line
 * `{"args":["cluster","join","n2@10.0.0.2"]}` per connection, runs it against the cluster, and
 * answers with one JSON reply line `{ok, result?, error?, text?}` (see `src/ctl.ts`), like
 * `emqx ctl cluster …`:
 *
 *   cluster status             result { running_nodes, stopped_nodes, default_secret }, text `Cluster status: [...]`
 *                              and, on the public default secret, a warning line
 *   cluster join <node>        the same result after the change; text `Join the cluster successfully.` + status
 *   cluster leave              ditto, `Leave the cluster successfully.`
 *   cluster force-leave <node> ditto, `Remove the node <node> from the cluster successfully.`
 *   clients …, subscriptions list, retained …, metrics
 *                              the HTTP API's JSON as result, a table as text (control-reads.ts)
 *   any failure                { ok: false, error: <message> }
 *
 * It listens either on a Unix socket (mode 0600: only the node's user, and root, can connect) or
 * on a loopback TCP port, where every request must carry the node's token
 * (`{"args":[…],"token":"…"}`, compared in constant time); a request without it, or with another,
 * is refused and logged as `ctl_refused` with the client's address.
 *
 * Requests are bounded in size and time, membership changes run one at a time, and every
 * command is logged as a `ctl_request` debug event on arrival and a `ctl_command` event when done,
 * with the `client` (address:port, or `unix`) that asked; a force-leave is also logged by the cluster with it.
 */
import net from 'node:net'
import { createHash, timingSafeEqual } from 'node:crypto'
import { chmodSync } from 'node:fs'
import type { Logger } from './core/log.js'
import type { ControlReply } from './ctl.js'
import type { ClusterStatus } from './core/cluster-status.js'
import {
  commandOf, formatClusterStatus, isLoopbackHost, parseRequestLine, statusResult, DEFAULT_SECRET_WARNING, type ControlCommand
} from './control-commands.js'
import type { ControlAddress } from './control-endpoint-file.js'
import { runRead, type OperatorReads } from './control-reads.js'

export type { ClusterStatus }
export { ControlRequestError, DEFAULT_SECRET_WARNING, formatClusterStatus, isLoopbackHost } from './control-commands.js'

/** Where the endpoint listens: a Unix socket, or a loopback TCP port whose requests carry `token`. */
export type ControlBinding =
  | { transport: 'unix', path: string }
  | { transport: 'tcp', host: string, port: number, token: string }

/** What the control endpoint needs from the cluster. */
export interface ClusterAdmin {
  status: () => Promise<ClusterStatus>
  /** `node` is `name@host` or `name@host:port`. */
  join: (node: string) => Promise<void>
  leave: () => Promise<void>
  /** `requestedBy` says who asked, for the cluster's log (`ctl <address>:<port>`). */
  forceLeave: (node: string, requestedBy: string) => Promise<void>
  /** Whether the node runs on the public default cluster secret. */
  usesDefaultSecret: () => boolean
  /** The route table: every topic filter with the nodes that have a subscriber for it. */
  routes: () => Promise<Array<{ filter: string, nodes: string[] }>>
}

export interface ControlServerOptions {
  /**
   * A socket path, or a TCP address (a loopback host unless `allowNonLoopback` is set; port 0 lets
   * the OS choose: read it from `address` after `listen`) and the token its requests must carry.
   */
  bind: ControlBinding
  admin: ClusterAdmin
  /** The cluster-wide read-outs (clients, subscriptions, retained, metrics); without them those commands fail. */
  reads?: OperatorReads
  log: Logger
  /** Bind `host` even when it is not a loopback address: anyone who can reach it administers the node. */
  allowNonLoopback?: boolean
  /** Longest request line accepted, in bytes. Default 64 KiB. */
  maxRequestBytes?: number
  /** Time allowed from connection to reply, in milliseconds. Default 10 000. */
  requestTimeoutMs?: number
}

export const DEFAULT_MAX_REQUEST_BYTES = 64 * 1024
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000

/** The control endpoint was asked to bind an address other machines could reach. */
export class ControlHostNotLoopbackError extends Error {
  override name = 'ControlHostNotLoopbackError'
  constructor (readonly host: string) {
    super(`control endpoint host '${host}' is not a loopback address; set allowNonLoopback to bind it anyway`)
  }
}

/** A command that did not finish within the request timeout. */
export class ControlTimeoutError extends Error {
  override name = 'ControlTimeoutError'
}

/** What a refused TCP request is told. */
export const TOKEN_REFUSAL = 'refused: this control endpoint requires the token the node writes to <dataDir>/ctl.token (meshmq ctl reads it with --data-dir DIR or --node NAME)'

/** Whether `given` is `expected`, in time independent of where they differ. */
function sameToken (given: string, expected: string): boolean {
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest()
  return timingSafeEqual(digest(given), digest(expected))
}

/** File permission bits of the socket, and the umask in force while it is bound (no window with wider ones). */
const SOCKET_MODE = 0o600
const SOCKET_UMASK = 0o177

/** Sets the socket umask and returns the previous one; undefined in a worker thread, which may not (the chmod after binding remains). */
function narrowUmask (): number | undefined {
  try {
    return process.umask(SOCKET_UMASK)
  } catch {
    return undefined
  }
}

/** The endpoint serving `meshmq ctl` requests. */
export class ControlServer {
  readonly #options: Required<Omit<ControlServerOptions, 'admin' | 'log' | 'reads'>>
  readonly #admin: ClusterAdmin
  readonly #reads: OperatorReads | undefined
  readonly #log: Logger
  readonly #server: net.Server
  readonly #sockets = new Set<net.Socket>()
  /** Tail of the queue of membership changes: they run one at a time, in arrival order. */
  #changes: Promise<unknown> = Promise.resolve()

  constructor (options: ControlServerOptions) {
    this.#options = {
      bind: options.bind,
      allowNonLoopback: options.allowNonLoopback ?? false,
      maxRequestBytes: options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    }
    const { bind } = options
    if (bind.transport === 'tcp' && !this.#options.allowNonLoopback && !isLoopbackHost(bind.host)) {
      throw new ControlHostNotLoopbackError(bind.host)
    }
    this.#admin = options.admin
    this.#reads = options.reads
    this.#log = options.log
    this.#server = net.createServer({ allowHalfOpen: true }, socket => { this.#serve(socket) })
  }

  /**
   * Binds the endpoint; rejects with the bind error (e.g. EADDRINUSE). A socket is bound under a
   * umask that leaves it mode 0600 from the start (and chmodded to that again).
   */
  async listen (): Promise<void> {
    const { bind } = this.#options
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => { reject(err) }
      this.#server.once('error', onError)
      const onListening = (): void => {
        this.#server.off('error', onError)
        resolve()
      }
      if (bind.transport === 'tcp') {
        this.#server.listen({ host: bind.host, port: bind.port, exclusive: true }, onListening)
        return
      }
      // The bind happens within listen(), synchronously: the umask applies to the socket file only.
      const umask = narrowUmask()
      try {
        this.#server.listen({ path: bind.path, exclusive: true }, onListening)
      } finally {
        if (umask !== undefined) process.umask(umask)
      }
    })
    if (bind.transport === 'unix') chmodSync(bind.path, SOCKET_MODE)
    this.#server.on('error', err => { this.#log.error({ err }, 'control_server_error') })
    this.#log.info({ ...this.address }, 'control_listening')
  }

  /** Where the endpoint listens (for TCP, the OS-chosen port once `listen` resolves). */
  get address (): ControlAddress {
    const { bind } = this.#options
    if (bind.transport === 'unix') return { transport: 'unix', path: bind.path }
    const address = this.#server.address()
    return { transport: 'tcp', host: bind.host, port: typeof address === 'object' && address !== null ? address.port : bind.port }
  }

  /** Stops accepting, drops open control connections and resolves once the socket is closed (a socket file is removed). */
  async close (): Promise<void> {
    if (!this.#server.listening) return
    const closed = new Promise<void>(resolve => { this.#server.close(() => { resolve() }) })
    for (const socket of this.#sockets) socket.destroy()
    await closed
  }

  #serve (socket: net.Socket): void {
    this.#sockets.add(socket)
    socket.on('error', err => { this.#log.debug({ err }, 'control_connection_error') })
    socket.setEncoding('utf8')
    let buffered = ''
    let state: 'reading' | 'running' | 'answered' = 'reading'
    const answer = (reply: ControlReply): void => {
      if (state === 'answered') return
      state = 'answered'
      clearTimeout(timer)
      if (!socket.destroyed) socket.end(JSON.stringify(reply) + '\n')
    }
    const client = this.#options.bind.transport === 'unix' ? 'unix' : `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? 0}`
    const run = (line: string): void => {
      state = 'running'
      clearTimeout(timer)
      this.#handle(line, client).then(answer, (err: unknown) => {
        answer({ ok: false, error: err instanceof Error ? err.message : String(err) })
      })
    }
    const timer = setTimeout(() => {
      answer({ ok: false, error: `no complete request within ${this.#options.requestTimeoutMs} ms` })
    }, this.#options.requestTimeoutMs)
    socket.once('close', () => {
      clearTimeout(timer)
      this.#sockets.delete(socket)
    })
    socket.on('data', (chunk: string) => {
      if (state !== 'reading') return
      buffered += chunk
      const end = buffered.indexOf('\n')
      const lineBytes = Buffer.byteLength(end < 0 ? buffered : buffered.slice(0, end))
      if (lineBytes > this.#options.maxRequestBytes) {
        this.#log.warn({ bytes: lineBytes, limit: this.#options.maxRequestBytes }, 'ctl_request_too_large')
        answer({ ok: false, error: `request larger than ${this.#options.maxRequestBytes} bytes` })
      } else if (end >= 0) {
        run(buffered.slice(0, end))
      }
    })
    // A client that half-closes after its request (`printf '{"args":[…]}' | nc`) still gets its reply.
    socket.once('end', () => {
      if (state !== 'reading') return
      if (buffered.trim() === '') answer({ ok: false, error: 'empty request' })
      else run(buffered)
    })
  }

  /** Runs one request line and builds its reply; never rejects for a command's own failure. */
  async #handle (line: string, client: string): Promise<ControlReply> {
    const started = Date.now()
    let args: string[] | undefined
    try {
      const { request: parsed, token } = parseRequestLine(line)
      const refusal = this.#refusal(token)
      if (refusal !== undefined) {
        this.#log.warn({ client, reason: refusal }, 'ctl_refused')
        return { ok: false, error: TOKEN_REFUSAL }
      }
      const request = commandOf(parsed)
      args = request.args
      this.#log.debug({ args, client }, 'ctl_request')
      const reply = await this.#withTimeout(request.command, client)
      this.#log.info({ args, client, ok: true, durationMs: Date.now() - started }, 'ctl_command')
      return reply
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err)
      this.#log.warn({ args, client, ok: false, error, durationMs: Date.now() - started }, 'ctl_command')
      return { ok: false, error }
    }
  }

  /** Why a request with `token` is refused (`missing_token`, `wrong_token`), or undefined when it may run. */
  #refusal (token: string | undefined): string | undefined {
    const { bind } = this.#options
    if (bind.transport === 'unix') return undefined
    if (token === undefined) return 'missing_token'
    return sameToken(token, bind.token) ? undefined : 'wrong_token'
  }

  /** Runs a command, status at once and membership changes in turn; the reply is due within the request timeout of arrival. */
  async #withTimeout (command: ControlCommand, client: string): Promise<ControlReply> {
    return await this.#timed(command, command.kind === 'status' || command.kind === 'routes' || command.kind === 'read' ? this.#run(command, client) : this.#serialized(command, client))
  }

  /**
   * Queues a membership change behind the previous one. A change that neither ends nor fails
   * still frees the queue after the request timeout, so one stuck command cannot block the rest.
   */
  async #serialized (command: ControlCommand, client: string): Promise<ControlReply> {
    const turn = this.#changes.then(async () => await this.#timed(command, this.#run(command, client)))
    this.#changes = turn.catch(() => undefined)
    return await turn
  }

  async #timed (command: ControlCommand, work: Promise<ControlReply>): Promise<ControlReply> {
    const timeoutMs = this.#options.requestTimeoutMs
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(new ControlTimeoutError(`${command.kind === 'read' ? command.read.kind : `cluster ${command.kind}`} did not finish within ${timeoutMs} ms`))
      }, timeoutMs)
    })
    try {
      return await Promise.race([work, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  async #run (command: ControlCommand, client: string): Promise<ControlReply> {
    switch (command.kind) {
      case 'status': {
        const status = await this.#admin.status()
        const defaultSecret = this.#admin.usesDefaultSecret()
        const text = formatClusterStatus(status) + (defaultSecret ? `\n${DEFAULT_SECRET_WARNING}` : '')
        return { ok: true, result: { ...statusResult(status), default_secret: defaultSecret }, text }
      }
      case 'routes': {
        const routes = await this.#admin.routes()
        return { ok: true, result: routes, text: routes.map(r => `${r.filter} -> ${r.nodes.join(',')}`).join('\n') }
      }
      case 'read': {
        if (this.#reads === undefined) throw new Error('this control endpoint serves no read-outs')
        return { ok: true, ...await runRead(command.read, this.#reads) }
      }
      case 'join':
        await this.#admin.join(command.node)
        return await this.#afterChange('Join the cluster successfully.')
      case 'leave':
        await this.#admin.leave()
        return await this.#afterChange('Leave the cluster successfully.')
      case 'force-leave':
        await this.#admin.forceLeave(command.node, `ctl ${client}`)
        return await this.#afterChange(`Remove the node ${command.node} from the cluster successfully.`)
    }
  }

  /** Reply to a successful membership change: a confirmation and the cluster status after it, like EMQX. */
  async #afterChange (message: string): Promise<ControlReply> {
    try {
      const status = await this.#admin.status()
      return { ok: true, result: statusResult(status), text: `${message}\n${formatClusterStatus(status)}` }
    } catch (err) {
      return { ok: true, result: {}, text: `${message}\n(cluster status unavailable: ${(err as Error).message})` }
    }
  }
}
