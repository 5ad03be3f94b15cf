/**
 * The `meshmq` command line: turns argv into a `Command` for the entry point. Only syntax is
 * checked here; `loadConfig` checks the values of `start` flags with every other source.
 */
import { parseArgs } from 'node:util'
import {
  CONTROL_PORT_OFFSET, DEFAULT_CLUSTER_PORT_BASE, DEFAULT_CLUSTER_SECRET, DEFAULT_NODE_BASE, DISCOVERY_STRATEGIES, InvalidNodeAddressError,
  InvalidNodeNameError, LOG_LEVELS, PERSISTENCE_MODES, fixedDefaults, parseNodeAddress, parseNodeName,
  type BrokerConfig, type DeepPartial, type DiscoveryStrategy, type LogLevel, type PersistenceMode
} from './core/config/config.js'
import type { PasswdCommand } from './passwd.js'
import { parseReadCommand, READ_GROUPS, READ_USAGE, ReadCommandError } from './control-read-commands.js'

export type Command =
  /** Run a broker node. */
  | { kind: 'start', configFile?: string, overrides: DeepPartial<BrokerConfig>, secretOnCommandLine?: true }
  /** Send one administration command to a running node's control endpoint. */
  | { kind: 'ctl', node?: string, dataDir?: string, control?: { host: string, port: number }, json: boolean, args: string[] }
  /** Add, change or remove a user of a password file (`auth.passwordFile`), as mosquitto_passwd. */
  | { kind: 'passwd', command: PasswdCommand }
  | { kind: 'help', text: string }
  | { kind: 'version' }

/** The command line breaks the syntax in USAGE; the message says how. */
export class UsageError extends Error {
  override name = 'UsageError'
}

const DEFAULTS = fixedDefaults()

export const USAGE = `Usage:
  meshmq start [options]          run a broker node
  meshmq ctl [options] cluster status | join <node> | leave | force-leave <node>
  meshmq ctl [options] routes list   the route table: topic filter -> nodes
  meshmq ctl [options] clients list [--node N] [--clientid PREFIX] [--username U] [--page P] [--limit L]
  meshmq ctl [options] clients show <clientid> | kick <clientid>
  meshmq ctl [options] subscriptions list [--node N] [--clientid ID] [--topic FILTER] [--page P] [--limit L]
  meshmq ctl [options] retained list [--topic FILTER] [--page P] [--limit L] | delete <topic>
  meshmq ctl [options] metrics       this node's counters and actors
                                     (the options after the command are its filters: --node there
                                     selects the clients of that node, not the node to ask)
  meshmq ctl [options] store check | repair   read (repair) a stopped node's store offline
  meshmq passwd [-c] [-I N] FILE USER [-b PASSWORD]   add a user or change a password (auth.passwordFile)
  meshmq passwd -D FILE USER      remove a user
  meshmq --help | --version

start options:
  --name NAME@HOST        node name, unique in the cluster (default: the one the data directory
                          records, else ${DEFAULT_NODE_BASE}@<primary IPv4 of this host>; ${DEFAULTS.node.name}
                          with --discovery manual or no other address)
  --port N                port of the default MQTT TCP listener (default ${DEFAULTS.listener.port})
  --config FILE           JSON config file, nested like the config keys
  --data-dir DIR          node data directory (default ./data/<node name>)
  --log-level LEVEL       ${LOG_LEVELS.join('|')} (default ${DEFAULTS.log.level})
  --cluster-port N        cluster port (default ${DEFAULT_CLUSTER_PORT_BASE} + numeric suffix of the name)
  --discovery STRATEGY    ${DISCOVERY_STRATEGIES.join('|')} (default ${DEFAULTS.cluster.discovery})
  --seeds LIST            comma list of seed nodes name@host[:port]
  --secret-file FILE      file holding the pre-shared cluster secret (default secret '${DEFAULT_CLUSTER_SECRET}' is
                          public: set your own in production; MESHMQ_CLUSTER_SECRET works too)
  --secret S              the secret itself: visible to every user in \`ps\`, prefer --secret-file
  --shards N              subscription trie shards (default ${DEFAULTS.shards})
  --persistence MODE      ${PERSISTENCE_MODES.join('|')}: how acknowledged messages are kept (default ${DEFAULTS.persistence.mode})
  --http-port N           port of the HTTP API and /metrics (default ${DEFAULTS.http.port}, on ${DEFAULTS.http.host}; 0: the OS chooses)

ctl options:
  --node NAME@HOST        node to control: the endpoint its data directory (./data/NAME@HOST unless
                          configured) records; default the node \`meshmq start\` would run here
                          (same environment and config file: MESHMQ_NODE_NAME, MESHMQ_NODE_DATA_DIR…)
  --data-dir DIR          the node's data directory instead
  --control HOST:PORT     a TCP control endpoint (cluster.control.transport tcp; e.g.
                          ${DEFAULTS.cluster.control.host}:<cluster port + ${CONTROL_PORT_OFFSET}>), its token read from --data-dir DIR
  --json                  print the reply as JSON

passwd options (the file is mosquitto_passwd's, $7$ PBKDF2-SHA512 entries):
  -c                      create the file, replacing any there (mode 0600)
  -D                      remove USER
  -b PASSWORD             the password on the command line (visible in \`ps\`); without it the
                          password is asked twice on a terminal, else read from stdin's first line
  -I N                    PBKDF2 iterations (default 101, as mosquitto_passwd)

Precedence: defaults < config file < environment < flags. Every config key can be set by
MESHMQ_<SECTION>_<KEY> (e.g. MESHMQ_MQTT_MAX_PACKET_SIZE, MESHMQ_NODE_NAME); also
MESHMQ_CONFIG (config file), MESHMQ_DISCOVERY, MESHMQ_SEEDS (comma list), MESHMQ_CLUSTER_SECRET.
The cluster network's tunables (timeouts, heartbeat, redial backoff, queue bound) are keys
too: MESHMQ_CLUSTER_PEER_TIMEOUT_MS and the like; README lists them all.
`

const START_OPTIONS = {
  name: { type: 'string' },
  port: { type: 'string' },
  config: { type: 'string' },
  'data-dir': { type: 'string' },
  'log-level': { type: 'string' },
  'cluster-port': { type: 'string' },
  discovery: { type: 'string' },
  seeds: { type: 'string' },
  secret: { type: 'string' },
  'secret-file': { type: 'string' },
  shards: { type: 'string' },
  persistence: { type: 'string' },
  'http-port': { type: 'string' },
  help: { type: 'boolean', short: 'h' }
} as const

const CTL_OPTIONS = {
  node: { type: 'string' },
  'data-dir': { type: 'string' },
  control: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
} as const

const PASSWD_OPTIONS = {
  c: { type: 'boolean', short: 'c' },
  D: { type: 'boolean', short: 'D' },
  b: { type: 'string', short: 'b' },
  I: { type: 'string', short: 'I' },
  help: { type: 'boolean', short: 'h' }
} as const

/** `cluster` subcommands and the number of operands each takes. */
const CLUSTER_SUBCOMMANDS: ReadonlyMap<string, number> = new Map([
  ['status', 0], ['join', 1], ['leave', 0], ['force-leave', 1]
])

/** Parse the arguments after `node script`. Throws UsageError for anything USAGE does not allow. */
export function parseCommandLine (argv: string[]): Command {
  const [first, ...rest] = argv
  switch (first) {
    case undefined:
      throw new UsageError('missing command: expected start or ctl (see meshmq --help)')
    case '--help': case '-h': case 'help':
      return { kind: 'help', text: USAGE }
    case '--version': case '-v':
      return { kind: 'version' }
    case 'start':
      return parseStart(rest)
    case 'ctl':
      return parseCtl(rest)
    case 'passwd':
      return parsePasswd(rest)
    default:
      throw new UsageError(`unknown command '${first}': expected start, ctl or passwd (see meshmq --help)`)
  }
}

/** Run node:util parseArgs; its errors (unknown option, missing value) become UsageError. */
function usageErrors<T> (command: string, parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    throw new UsageError(`${command}: ${(err as Error).message}`)
  }
}

function parsePasswd (args: string[]): Command {
  const { values, positionals } = usageErrors('passwd', () =>
    parseArgs({ args, options: PASSWD_OPTIONS, strict: true, allowPositionals: true }))
  if (values.help === true) return { kind: 'help', text: USAGE }
  const [file, user, extra] = positionals
  if (file === undefined || user === undefined) throw new UsageError('passwd: expected FILE USER')
  if (extra !== undefined) throw new UsageError(`passwd: unexpected argument '${extra}' (a password goes after -b)`)
  if (values.D === true && (values.c === true || values.b !== undefined)) throw new UsageError('passwd: -D takes no -c or -b')
  const command: PasswdCommand = { file, user, create: values.c === true, remove: values.D === true }
  if (values.b !== undefined) command.password = values.b
  if (values.I !== undefined) {
    const iterations = /^\d{1,10}$/.test(values.I) ? Number(values.I) : 0
    if (iterations < 1 || iterations > 2 ** 31 - 1) throw new UsageError('passwd: -I must be an integer between 1 and 2147483647')
    command.iterations = iterations
  }
  return { kind: 'passwd', command }
}

function parseStart (args: string[]): Command {
  const { values, positionals } = usageErrors('start', () =>
    parseArgs({ args, options: START_OPTIONS, strict: true, allowPositionals: true }))
  if (values.help === true) return { kind: 'help', text: USAGE }
  if (positionals.length > 0) throw new UsageError(`start: unexpected argument '${positionals[0] ?? ''}'`)

  const overrides: DeepPartial<BrokerConfig> = {}
  const node: DeepPartial<BrokerConfig['node']> = {}
  const cluster: DeepPartial<BrokerConfig['cluster']> = {}
  if (values.name !== undefined) node.name = values.name
  if (values['data-dir'] !== undefined) node.dataDir = values['data-dir']
  if (values.port !== undefined) overrides.listener = { port: integerFlag('--port', values.port) }
  if (values['log-level'] !== undefined) overrides.log = { level: logLevelFlag(values['log-level']) }
  if (values['cluster-port'] !== undefined) cluster.port = integerFlag('--cluster-port', values['cluster-port'])
  if (values.discovery !== undefined) cluster.discovery = discoveryFlag(values.discovery)
  if (values.seeds !== undefined) cluster.seeds = values.seeds.split(',').map(seed => seed.trim()).filter(seed => seed !== '')
  if (values.secret !== undefined) cluster.secret = values.secret
  if (values['secret-file'] !== undefined) cluster.secretFile = values['secret-file']
  if (values.shards !== undefined) overrides.shards = integerFlag('--shards', values.shards)
  if (values.persistence !== undefined) overrides.persistence = { mode: persistenceFlag(values.persistence) }
  if (values['http-port'] !== undefined) overrides.http = { port: integerFlag('--http-port', values['http-port']) }
  if (Object.keys(node).length > 0) overrides.node = node
  if (Object.keys(cluster).length > 0) overrides.cluster = cluster

  const command: Command = values.config === undefined
    ? { kind: 'start', overrides }
    : { kind: 'start', configFile: values.config, overrides }
  // Other users see the command line (`ps`): the entry point warns `cluster_secret_on_command_line`.
  if (values.secret !== undefined) command.secretOnCommandLine = true
  return command
}

/** ctl options that take a value (`--node N`): their value is not the command. */
const CTL_VALUE_OPTIONS = new Set(['--node', '--data-dir', '--control'])

/**
 * Where a read command (`clients …`, `metrics`…) starts in ctl's args, or -1: what follows it is
 * the command's own (its `--node` is a filter), `--json` apart.
 */
function readCommandStart (args: string[]): number {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (!arg.startsWith('-')) return READ_GROUPS.has(arg) ? i : -1
    if (CTL_VALUE_OPTIONS.has(arg)) i++
  }
  return -1
}

function parseCtl (given: string[]): Command {
  const start = readCommandStart(given)
  const args = start < 0 ? given : [...given.slice(0, start), ...given.slice(start).filter(arg => arg === '--json')]
  const readArgs = start < 0 ? undefined : given.slice(start).filter(arg => arg !== '--json')
  const { values, positionals } = usageErrors('ctl', () =>
    parseArgs({ args, options: CTL_OPTIONS, strict: true, allowPositionals: true }))
  if (values.help === true) return { kind: 'help', text: USAGE }
  if (values.node !== undefined && values.control !== undefined) {
    throw new UsageError('ctl: give either --node or --control, not both')
  }
  if (values.node !== undefined && values['data-dir'] !== undefined) {
    throw new UsageError('ctl: give either --node or --data-dir, not both')
  }
  if (readArgs === undefined) checkCtlArguments(positionals)
  else checkedBy('ctl', () => parseReadCommand(readArgs))
  if (positionals[0] === 'store' && values.control !== undefined) {
    throw new UsageError('ctl store: runs on the data directory of a stopped node: give --data-dir or --node, not --control')
  }
  const command: Command = { kind: 'ctl', json: values.json === true, args: readArgs ?? positionals }
  if (values.node !== undefined) {
    checkedBy('--node', () => parseNodeName(values.node ?? ''))
    command.node = values.node
  }
  if (values['data-dir'] !== undefined) command.dataDir = values['data-dir']
  if (values.control !== undefined) command.control = hostPortFlag('--control', values.control)
  return command
}

function checkCtlArguments (args: string[]): void {
  const [group, subcommand, ...operands] = args
  if (group === 'store') {
    if ((subcommand !== 'check' && subcommand !== 'repair') || operands.length > 0) throw new UsageError('ctl store: expected store check or store repair')
    return
  }
  if (group === 'routes') {
    if (subcommand !== 'list' || operands.length > 0) throw new UsageError('ctl routes: expected routes list')
    return
  }
  if (group !== 'cluster') {
    throw new UsageError(group === undefined
      ? `ctl: missing command: expected cluster status|join <node>|leave|force-leave <node>, routes list, store check|repair, ${READ_USAGE}`
      : `ctl: unknown command '${group}': expected cluster, routes, store, clients, subscriptions, retained or metrics`)
  }
  const arity = subcommand === undefined ? undefined : CLUSTER_SUBCOMMANDS.get(subcommand)
  if (subcommand === undefined || arity === undefined) {
    throw new UsageError(`ctl cluster: expected one of ${[...CLUSTER_SUBCOMMANDS.keys()].join(', ')}${subcommand === undefined ? '' : `, got '${subcommand}'`}`)
  }
  if (operands.length !== arity) {
    throw new UsageError(arity === 0
      ? `ctl cluster ${subcommand}: takes no argument`
      : `ctl cluster ${subcommand}: expects one node name@host[:port]`)
  }
  const target = operands[0]
  if (target !== undefined) checkedBy(`ctl cluster ${subcommand}`, () => parseNodeAddress(target))
}

/** Run a node name or address parser; its error becomes a UsageError about `flag`. */
function checkedBy (flag: string, check: () => unknown): void {
  try {
    check()
  } catch (err) {
    if (err instanceof InvalidNodeNameError || err instanceof InvalidNodeAddressError || err instanceof ReadCommandError) throw new UsageError(`${flag}: ${err.message}`)
    throw err
  }
}

function integerFlag (flag: string, text: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag}: expected a non-negative integer, got '${text}'`)
  return Number(text)
}

function logLevelFlag (text: string): LogLevel {
  const level = LOG_LEVELS.find(candidate => candidate === text)
  if (level === undefined) throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}, got '${text}'`)
  return level
}

function persistenceFlag (text: string): PersistenceMode {
  const mode = PERSISTENCE_MODES.find(candidate => candidate === text)
  if (mode === undefined) throw new UsageError(`--persistence: expected one of ${PERSISTENCE_MODES.join(', ')}, got '${text}'`)
  return mode
}

function discoveryFlag (text: string): DiscoveryStrategy {
  const strategy = DISCOVERY_STRATEGIES.find(candidate => candidate === text)
  if (strategy === undefined) throw new UsageError(`--discovery: expected one of ${DISCOVERY_STRATEGIES.join(', ')}, got '${text}'`)
  return strategy
}

/** `HOST:PORT`, with an IPv6 host in brackets (`[::1]:5370`). */
function hostPortFlag (flag: string, text: string): { host: string, port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d+)$/.exec(text)
  const host = match?.[1] ?? match?.[2]
  const port = Number(match?.[3])
  if (host === undefined || !(port >= 1 && port <= 65535)) {
    throw new UsageError(`${flag}: expected HOST:PORT with a port from 1 to 65535, got '${text}'`)
  }
  return { host, port }
}
