/**
 * The commands of the control endpoint (`meshmq ctl`): parsing a request line
 * `{"args":[...], "token"?: "..."}` into a command, and the EMQX-like text of the replies.
 */
import net from 'node:net'
import type { ClusterStatus } from './core/cluster-status.js'
import { DEFAULT_SECRET_ADVICE, parseNodeAddress } from './core/config/config.js'
import { parseReadCommand, READ_GROUPS, READ_USAGE, type ReadCommand } from './control-read-commands.js'

/** A request line that is not `{"args":[string, ...]}` or names no known command. */
export class ControlRequestError extends Error {
  override name = 'ControlRequestError'
}

const USAGE = `expected cluster status | cluster join <node> | cluster leave | cluster force-leave <node> | routes list | ${READ_USAGE}`

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
export function statusResult (status: ClusterStatus): { running_nodes: string[], stopped_nodes: string[] } {
  return { running_nodes: [...status.runningNodes], stopped_nodes: [...status.stoppedNodes] }
}

/** The line `cluster status` adds on a node that runs on the public default secret. */
export const DEFAULT_SECRET_WARNING = 'Warning: this node uses the public default cluster secret: anyone who can reach its cluster port can join; ' +
  `${DEFAULT_SECRET_ADVICE}.`

/** One parsed command. */
export type ControlCommand =
  | { kind: 'status' }
  | { kind: 'join', node: string }
  | { kind: 'leave' }
  | { kind: 'force-leave', node: string }
  | { kind: 'routes' }
  | { kind: 'read', read: ReadCommand }

/** The JSON object of a request line, its `token` apart (undefined when it carries none). */
export function parseRequestLine (line: string): { request: unknown, token: string | undefined } {
  let request: unknown
  try {
    request = JSON.parse(line)
  } catch {
    throw new ControlRequestError('request is not valid JSON')
  }
  const token = (request as { token?: unknown } | null)?.token
  return { request, token: typeof token === 'string' ? token : undefined }
}

/** The command a parsed request asks for. */
export function commandOf (request: unknown): { args: string[], command: ControlCommand } {
  const args = (request as { args?: unknown } | null)?.args
  if (!Array.isArray(args) || !args.every((arg): arg is string => typeof arg === 'string')) {
    throw new ControlRequestError('request must be {"args":[string, ...]}')
  }
  const [group, subcommand, target, ...extra] = args
  if (group === 'routes' && subcommand === 'list' && target === undefined) return { args, command: { kind: 'routes' } }
  if (group !== undefined && READ_GROUPS.has(group)) {
    try {
      return { args, command: { kind: 'read', read: parseReadCommand(args) } }
    } catch (err) {
      throw new ControlRequestError((err as Error).message)
    }
  }
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
