/**
 * The read-outs of `meshmq ctl` (issue 13), parsed from the request's args by the control endpoint
 * and, for early usage errors, by the command line: the same lists, filters and paging as the HTTP
 * API (README "HTTP API and metrics").
 *
 *   clients list [--node N] [--clientid PREFIX] [--username U] [--page P] [--limit L]
 *   clients show <clientid> | clients kick <clientid>
 *   subscriptions list [--node N] [--clientid ID] [--topic FILTER] [--page P] [--limit L]
 *   retained list [--topic FILTER] [--page P] [--limit L]  |  retained delete <topic>
 *   metrics
 */
import { parseArgs } from 'node:util'
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, MAX_RETAINED_PAGE } from './admin/paging.js'

/** The groups of read commands. */
export const READ_GROUPS: ReadonlySet<string> = new Set(['clients', 'subscriptions', 'retained', 'metrics'])

/** Default `--limit` of `retained list` (payloads can be large), as the HTTP API's. */
const DEFAULT_RETAINED_LIMIT = 20

export const READ_USAGE = 'clients list|show <clientid>|kick <clientid>, subscriptions list, retained list|delete <topic>, metrics'

export interface Page { page: number, limit: number }

export type ReadCommand =
  | { kind: 'clients', page: Page, node?: string, clientid?: string, username?: string }
  | { kind: 'client', clientId: string }
  | { kind: 'kick', clientId: string }
  | { kind: 'subscriptions', page: Page, node?: string, clientid?: string, topic?: string }
  | { kind: 'retained', page: Page, topic?: string }
  | { kind: 'retained-delete', topic: string }
  | { kind: 'metrics' }

/** A read command that is not one, or with a bad option. */
export class ReadCommandError extends Error {
  override name = 'ReadCommandError'
}

type StringOptions = Record<string, { type: 'string' }>

const PAGING: StringOptions = { page: { type: 'string' }, limit: { type: 'string' } }

function positiveInteger (name: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback
  const value = /^\d+$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new ReadCommandError(`--${name} must be an integer from 1 to ${max}, got '${text}'`)
  return value
}

/** Options of `what`, at most `operands` positional operands. */
function parse (what: string, args: string[], options: StringOptions, operands: number): { values: Record<string, string | undefined>, positionals: string[] } {
  let parsed
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true })
  } catch (err) {
    throw new ReadCommandError(`${what}: ${(err as Error).message}`)
  }
  if (parsed.positionals.length !== operands) {
    throw new ReadCommandError(operands === 0 ? `${what} takes no argument` : `${what} expects ${operands} argument`)
  }
  for (const [name, value] of Object.entries(parsed.values)) {
    if (value === '') throw new ReadCommandError(`${what}: --${name} must not be empty`)
  }
  return { values: parsed.values, positionals: parsed.positionals }
}

function pageOf (values: Record<string, string | undefined>, maxLimit: number, defaultLimit: number): Page {
  return { page: positiveInteger('page', values.page, 1, Number.MAX_SAFE_INTEGER), limit: positiveInteger('limit', values.limit, defaultLimit, maxLimit) }
}

/** The given options among `names`, as fields (absent ones left out). */
function pick (values: Record<string, string | undefined>, names: string[]): Record<string, string> {
  const picked: Record<string, string> = {}
  for (const name of names) {
    const value = values[name]
    if (value !== undefined) picked[name] = value
  }
  return picked
}

/** The read command `args` (group first) asks for; ReadCommandError when it is not one. */
export function parseReadCommand (args: string[]): ReadCommand {
  const [group, subcommand, ...rest] = args
  const what = `${group ?? ''} ${subcommand ?? ''}`.trim()
  switch (`${group ?? ''} ${subcommand ?? ''}`) {
    case 'clients list': {
      const { values } = parse(what, rest, { ...PAGING, node: { type: 'string' }, clientid: { type: 'string' }, username: { type: 'string' } }, 0)
      return { kind: 'clients', page: pageOf(values, MAX_PAGE_LIMIT, DEFAULT_PAGE_LIMIT), ...pick(values, ['node', 'clientid', 'username']) }
    }
    case 'clients show':
    case 'clients kick': {
      const { positionals } = parse(what, rest, {}, 1)
      return { kind: subcommand === 'show' ? 'client' : 'kick', clientId: positionals[0]! }
    }
    case 'subscriptions list': {
      const { values } = parse(what, rest, { ...PAGING, node: { type: 'string' }, clientid: { type: 'string' }, topic: { type: 'string' } }, 0)
      return { kind: 'subscriptions', page: pageOf(values, MAX_PAGE_LIMIT, DEFAULT_PAGE_LIMIT), ...pick(values, ['node', 'clientid', 'topic']) }
    }
    case 'retained list': {
      const { values } = parse(what, rest, { ...PAGING, topic: { type: 'string' } }, 0)
      return { kind: 'retained', page: pageOf(values, MAX_RETAINED_PAGE, DEFAULT_RETAINED_LIMIT), ...pick(values, ['topic']) }
    }
    case 'retained delete':
      return { kind: 'retained-delete', topic: parse(what, rest, {}, 1).positionals[0]! }
  }
  if (group === 'metrics') {
    parse('metrics', args.slice(1), {}, 0)
    return { kind: 'metrics' }
  }
  throw new ReadCommandError(`unknown command '${args.join(' ')}': expected ${READ_USAGE}`)
}
