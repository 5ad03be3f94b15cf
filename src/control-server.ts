/**
 * The node side of `meshmq ctl`: a TCP endpoint on loopback that takes one JSON request line
 * `{"args":["cluster","join","n2@10.0.0.2"]}` per connection, runs it against the cluster, and
 * answers with one JSON reply line `{ok, result?, error?, text?}` (see `src/ctl.ts`), like
 * `emqx ctl cluster …`:
 *
 *   cluster status             result { running_nodes, stopped_nodes, default_secret }, text `Cluster status: [...]`
 *                              and, on the public default secret, a warning line
 *   cluster join <node>        the same result after the change; text `Join the cluster successfully.` + status
 *   cluster leave              ditto, `Leave the cluster successfully.`
 *   cluster force-leave <node> ditto, `Remove the node <node> from the cluster successfully.`
 *   any failure                { ok: false, error: <message> }
 *
 * Requests are bounded in size and time, membership changes run one at a time, and every
 * command is logged as a `ctl_request` debug event on arrival and a `ctl_command` event when done,
 * with the `client` (address:port) that asked; a force-leave is also logged by the cluster with it.
 */
import net from 'node:net'
import type { Logger } from './core/log.js'
import type { ControlReply } from './ctl.js'
import type { ClusterStatus } from './core/cluster-status.js'
import { DEFAULT_SECRET_ADVICE, parseNodeAddress } from './core/config/config.js'

export type { ClusterStatus }

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
  /** Address to bind; must be a loopback address unless `allowNonLoopback` is set. */
  host: string
  /** Port to bind; 0 lets the OS choose (read it from `port` after `listen`). */
  port: number
  admin: ClusterAdmin
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

/** A request line that is not `{"args":[string, ...]}` or names no known command. */
export class ControlRequestError extends Error {
  override name = 'ControlRequestError'
}

/** A command that did not finish within the request timeout. */
export class ControlTimeoutError extends Error {
  override name = 'ControlTimeoutError'
}

const USAGE = 'expected cluster status | cluster join <node> | cluster leave | cluster force-leave <node> | routes list'

/** True for 127.0.0.0/8, ::1, ::ffff:127.x.y.z and `localhost`. */
export function isLoopbackHost (host: string): boolean {
  if (host === 'localhost') return true
  if (net.isIPv4(host)) return host.startsWith('127.')
  if (net.isIPv6(host)) {
    const lower = host.toLowerCase()
    return lower === '::1' || /^::ffff:127\.\d+\.\d+\.\d+$/.test(lower)
  }
  return false
}

/** An Erlang quoted atom, as EMQX prints node names: `'n1@127.0.0.1'`. */
function erlangAtom (name: string): string {
  return `'${name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}

/** `Cluster status: [{running_nodes,['n1@h','n2@h']},{stopped_nodes,[]}]`, as `emqx ctl cluster status` prints it. */
export function formatClusterStatus (status: ClusterStatus): string {
  const list = (nodes: string[]): string => `[${nodes.map(erlangAtom).join(',')}]`
  return `Cluster status: [{running_nodes,${list(status.runningNodes)}},{stopped_nodes,${list(status.stoppedNodes)}}]`
}

/** The node lists of `cluster status` (`meshmq ctl --json cluster status`), also the reply of a membership change. */
function statusResult (status: ClusterStatus): { running_nodes: string[], stopped_nodes: string[] } {
  return { running_nodes: [...status.runningNodes], stopped_nodes: [...status.stoppedNodes] }
}

/** The line `cluster status` adds on a node that runs on the public default secret. */
export const DEFAULT_SECRET_WARNING = 'Warning: this node uses the public default cluster secret: anyone who can reach its cluster port can join; ' +
  `${DEFAULT_SECRET_ADVICE}.`

/** One parsed command. */
type ControlCommand =
  | { kind: 'status' }
  | { kind: 'join', node: string }
  | { kind: 'leave' }
  | { kind: 'force-leave', node: string }
  | { kind: 'routes' }

function parseRequest (line: string): { args: string[], command: ControlCommand } {
  let request: unknown
  try {
    request = JSON.parse(line)
  } catch {
    throw new ControlRequestError('request is not valid JSON')
  }
  const args = (request as { args?: unknown } | null)?.args
  if (!Array.isArray(args) || !args.every((arg): arg is string => typeof arg === 'string')) {
    throw new ControlRequestError('request must be {"args":[string, ...]}')
  }
  const [group, subcommand, target, ...extra] = args
  if (group === 'routes' && subcommand === 'list' && target === undefined) return { args, command: { kind: 'routes' } }
  if (group !== 'cluster') throw new ControlRequestError(`unknown command '${args.join(' ')}': ${USAGE}`)
  const takesNode = subcommand === 'join' || subcommand === 'force-leave'
  if (subcommand === 'status' || subcommand === 'leave') {
    if (target !== undefined) throw new ControlRequestError(`cluster ${subcommand} takes no argument`)
    return { args, command: { kind: subcommand } }
  }
  if (!takesNode) throw new ControlRequestError(`unknown command '${args.join(' ')}': ${USAGE}`)
  if (target === undefined || extra.length > 0) {
    throw new ControlRequestError(`cluster ${subcommand} expects one node name@host[:port]`)
  }
  try {
    parseNodeAddress(target)
  } catch (err) {
    throw new ControlRequestError(`cluster ${subcommand}: ${(err as Error).message}`)
  }
  return { args, command: { kind: subcommand, node: target } }
}

/** Loopback TCP endpoint serving `meshmq ctl` requests. */
export class ControlServer {
  readonly #options: Required<Omit<ControlServerOptions, 'admin' | 'log'>>
  readonly #admin: ClusterAdmin
  readonly #log: Logger
  readonly #server: net.Server
  readonly #sockets = new Set<net.Socket>()
  /** Tail of the queue of membership changes: they run one at a time, in arrival order. */
  #changes: Promise<unknown> = Promise.resolve()

  constructor (options: ControlServerOptions) {
    this.#options = {
      host: options.host,
      port: options.port,
      allowNonLoopback: options.allowNonLoopback ?? false,
      maxRequestBytes: options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    }
    if (!this.#options.allowNonLoopback && !isLoopbackHost(options.host)) {
      throw new ControlHostNotLoopbackError(options.host)
    }
    this.#admin = options.admin
    this.#log = options.log
    this.#server = net.createServer({ allowHalfOpen: true }, socket => { this.#serve(socket) })
  }

  /** Binds the endpoint; rejects with the bind error (e.g. EADDRINUSE). */
  async listen (): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => { reject(err) }
      this.#server.once('error', onError)
      this.#server.listen({ host: this.#options.host, port: this.#options.port, exclusive: true }, () => {
        this.#server.off('error', onError)
        resolve()
      })
    })
    this.#server.on('error', err => { this.#log.error({ err }, 'control_server_error') })
    this.#log.info({ host: this.#options.host, port: this.port }, 'control_listening')
  }

  /** The bound port (the configured one until `listen` resolves). */
  get port (): number {
    const address = this.#server.address()
    return typeof address === 'object' && address !== null ? address.port : this.#options.port
  }

  /** Stops accepting, drops open control connections and resolves once the socket is closed. */
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
    const client = `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? 0}`
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
      const request = parseRequest(line)
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

  /** Runs a command, status at once and membership changes in turn; the reply is due within the request timeout of arrival. */
  async #withTimeout (command: ControlCommand, client: string): Promise<ControlReply> {
    return await this.#timed(command, command.kind === 'status' || command.kind === 'routes' ? this.#run(command, client) : this.#serialized(command, client))
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
        reject(new ControlTimeoutError(`cluster ${command.kind} did not finish within ${timeoutMs} ms`))
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
