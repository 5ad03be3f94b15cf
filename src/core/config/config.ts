/**
 * Broker configuration: every default in one place (like js-libp2p `constants.ts`), the schema
 * that validates each key, and `loadConfig`, which merges defaults < config file (JSON) <
 * environment (`MESHMQ_*`) < command-line flags and computes the derived defaults.
 */
import { readFileSync } from 'node:fs'

export type DiscoveryStrategy = 'mdns' | 'static' | 'manual'
export const DISCOVERY_STRATEGIES: readonly DiscoveryStrategy[] = ['mdns', 'static', 'manual']

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

export type LogFormat = 'json' | 'pretty' | 'auto'
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty', 'auto']

export type QueueDropPolicy = 'drop_oldest' | 'drop_newest'
export const QUEUE_DROP_POLICIES: readonly QueueDropPolicy[] = ['drop_oldest', 'drop_newest']

export interface BrokerConfig {
  node: {
    /** Node name `name@host`, unique in the cluster. Default `meshmq@127.0.0.1`. */
    name: string
    /** Directory for this node's persistent state. Default `./data/<node.name>`. */
    dataDir: string
  }
  listener: {
    /** Address the MQTT TCP listener binds. Default `0.0.0.0`. */
    host: string
    /** MQTT TCP port; 0 lets the OS choose one. Default 1883. */
    port: number
  }
  log: {
    /** Lowest level written. Default `info`. */
    level: LogLevel
    /** `json` lines, `pretty` text, or `auto`: pretty when stdout is a TTY. Default `auto`. */
    format: LogFormat
  }
  mqtt: {
    /** Largest packet the server accepts, in bytes (MQTT 5 Maximum Packet Size). Default 1 MiB. */
    maxPacketSize: number
    /** Cap on the client's Keep Alive, in seconds (MQTT 5 Server Keep Alive); 0 = no cap. Default 60. */
    serverKeepAlive: number
    /** Sockets that send no CONNECT within this many milliseconds are closed. Default 10 000. */
    connectTimeoutMs: number
    /** QoS 1/2 PUBLISH the server accepts in flight from one client (MQTT 5 Receive Maximum). Default 32. */
    receiveMaximum: number
    /** QoS 1/2 messages in flight to one client, awaiting acknowledgement. Default 32. */
    maxInflight: number
    /** Messages queued per session beyond the in-flight window. Default 1000. */
    maxQueuedMessages: number
    /** Which message a full session queue discards. Default `drop_oldest`. */
    queueDropPolicy: QueueDropPolicy
    /**
     * Cap on the Session Expiry Interval, in seconds. MQTT 3.1.1 persistent sessions
     * (Clean Session 0) expire after this long. Default 7200.
     */
    maxSessionExpiry: number
    /** Topic aliases the server accepts from one client (MQTT 5 Topic Alias Maximum); 0 = none. Default 64. */
    topicAliasMaximum: number
    /** Whether retained messages are supported (MQTT 5 Retain Available). Default true. */
    retainAvailable: boolean
    /** Most levels allowed in a topic name or filter. Default 128. */
    maxTopicLevels: number
    /** Longest client identifier accepted, in UTF-8 bytes. Default 65535. */
    maxClientIdLength: number
  }
  /** Number of subscription-trie shard actors. Default 4. */
  shards: number
  sys: {
    /** Interval between `$SYS` publications, in milliseconds. Default 10 000. */
    intervalMs: number
  }
  cluster: {
    /** How peers are found: `mdns` on the local network, `static` seed list, or `manual` joins. Default `mdns`. */
    discovery: DiscoveryStrategy
    /** Cluster port. Default 4370 + the numeric suffix of the node name (`meshmq2@h` → 4372). */
    port: number
    /** Address the cluster port binds. Default the host part of the node name. */
    host: string
    /** Seed nodes, `name@host:port` or `name@host` (port by the node-name rule). Default none. */
    seeds: string[]
    /**
     * Pre-shared secret every node of the cluster must hold. The default `meshmq` is public:
     * production deployments must set their own.
     */
    secret: string
    /** A peer down for this long is removed from the cluster, in milliseconds. Default 5 minutes. */
    autocleanMs: number
    /** mDNS service name peers announce and look for. Default `_meshmq._udp.local`. */
    mdnsServiceTag: string
    /** Local endpoint `meshmq ctl` talks to. */
    control: {
      /** Default `127.0.0.1`. */
      host: string
      /** Default cluster port + 1000 (0 when the cluster port is 0). */
      port: number
    }
  }
}

/** Every field optional, at any depth; arrays are replaced whole, never merged. */
export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T

export const DEFAULT_NODE_NAME = 'meshmq@127.0.0.1'
/** Cluster port of a node whose name has no numeric suffix. */
export const BASE_CLUSTER_PORT = 4370
/** The control port is the cluster port plus this offset. */
export const CONTROL_PORT_OFFSET = 1000
export const DEFAULT_CONTROL_HOST = '127.0.0.1'
/** Largest Remaining Length an MQTT packet can encode (MQTT 5 §1.5.5). */
const MAX_REMAINING_LENGTH = 268_435_455
const MAX_PORT = 65535

/** A configuration value breaks its key's rules; `key` is the dotted config key (or `config` for the file itself). */
export class ConfigError extends Error {
  override name = 'ConfigError'
  readonly key: string

  constructor (key: string, message: string) {
    super(`${key}: ${message}`)
    this.key = key
  }
}

const NODE_NAME_PART = /^[A-Za-z0-9_.-]+$/
const HOST_PART = /^[^\s@/]+$/

/** Parse 'name@host'; throws ConfigError naming the key when invalid (name: [A-Za-z0-9_.-]+, host non-empty). */
export function parseNodeName (value: string, key = 'node.name'): { name: string, host: string } {
  const at = value.indexOf('@')
  const name = at === -1 ? value : value.slice(0, at)
  const host = at === -1 ? '' : value.slice(at + 1)
  if (at === -1 || !NODE_NAME_PART.test(name) || !HOST_PART.test(host)) {
    throw new ConfigError(key, `must be name@host with a name of letters, digits, '_', '.' or '-' and a non-empty host, got '${value}'`)
  }
  return { name, host }
}

/** 4370 + numeric suffix of the name part. */
export function clusterPortFor (nodeName: string): number {
  const { name } = parseNodeName(nodeName)
  const suffix = /(\d+)$/.exec(name)?.[1]
  return BASE_CLUSTER_PORT + (suffix === undefined ? 0 : Number.parseInt(suffix, 10))
}

/** Control endpoint of a node that runs with default cluster and control ports. */
export function controlEndpointFor (nodeName: string): { host: string, port: number } {
  return { host: DEFAULT_CONTROL_HOST, port: clusterPortFor(nodeName) + CONTROL_PORT_OFFSET }
}

/** A cluster peer to contact: its node name and cluster address. */
export interface SeedAddress { node: string, host: string, port: number }

/**
 * Parse a seed `name@host:port` or `name@host` (port by the node-name rule); an IPv6 host is
 * written in brackets when a port follows (`n@[::1]:4372`).
 */
export function parseSeed (value: string, key = 'cluster.seeds'): SeedAddress {
  const at = value.indexOf('@')
  if (at === -1) throw new ConfigError(key, `seed must be name@host or name@host:port, got '${value}'`)
  const rest = value.slice(at + 1)
  let host = rest
  let portText: string | undefined
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(rest)
  if (bracketed !== null) {
    host = bracketed[1] ?? ''
    portText = bracketed[2]
  } else if (rest.split(':').length === 2) {
    const colon = rest.indexOf(':')
    host = rest.slice(0, colon)
    portText = rest.slice(colon + 1)
  }
  const node = `${value.slice(0, at)}@${host}`
  parseNodeName(node, key)
  const port = portText === undefined
    ? clusterPortFor(node)
    : /^\d+$/.test(portText) ? Number.parseInt(portText, 10) : Number.NaN
  if (!(port >= 1 && port <= MAX_PORT)) {
    throw new ConfigError(key, `seed '${value}' has an invalid port '${portText ?? port}'; expected 1 to ${MAX_PORT}`)
  }
  return { node, host, port }
}

/** Rules for one leaf key: checks a typed value and parses the text of an environment variable. */
interface Field {
  /** A phrase describing what is wrong with `value`, or undefined when it is acceptable. */
  problem: (value: unknown) => string | undefined
  /** The typed value of an environment variable's text, before `problem` checks it. */
  fromText: (text: string) => unknown
}

type Schema<T> = {
  [K in keyof T]-?: T[K] extends readonly unknown[] | string | number | boolean ? Field : Schema<T[K]>
}

function integer (min: number, max: number): Field {
  return {
    problem: value => Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max
      ? undefined
      : `must be an integer between ${min} and ${max}`,
    fromText: text => /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : text
  }
}

const boolean: Field = {
  problem: value => typeof value === 'boolean' ? undefined : 'must be true or false',
  fromText: text => text.trim() === 'true' ? true : text.trim() === 'false' ? false : text
}

function oneOf (values: readonly string[]): Field {
  return {
    problem: value => typeof value === 'string' && values.includes(value)
      ? undefined
      : `must be one of ${values.join(', ')}`,
    fromText: text => text.trim()
  }
}

function text (check?: (value: string) => string | undefined): Field {
  return {
    problem: value => {
      if (typeof value !== 'string' || value.length === 0) return 'must be a non-empty string'
      return check?.(value)
    },
    fromText: value => value
  }
}

function list (check: (item: string) => string | undefined): Field {
  return {
    problem: value => {
      if (!Array.isArray(value) || !value.every(item => typeof item === 'string')) return 'must be a list of strings'
      for (const item of value as string[]) {
        const problem = check(item)
        if (problem !== undefined) return problem
      }
      return undefined
    },
    fromText: value => value.split(',').map(item => item.trim()).filter(item => item.length > 0)
  }
}

/** The problem phrase of a ConfigError thrown by `parse`, or undefined when it succeeds. */
function problemOf (parse: () => unknown): string | undefined {
  try {
    parse()
    return undefined
  } catch (err) {
    if (err instanceof ConfigError) return err.message.slice(err.key.length + 2)
    throw err
  }
}

const port = integer(0, MAX_PORT)

const SCHEMA: Schema<BrokerConfig> = {
  node: {
    name: text(value => problemOf(() => parseNodeName(value))),
    dataDir: text()
  },
  listener: { host: text(), port },
  log: { level: oneOf(LOG_LEVELS), format: oneOf(LOG_FORMATS) },
  mqtt: {
    maxPacketSize: integer(1, MAX_REMAINING_LENGTH),
    serverKeepAlive: integer(0, 65535),
    connectTimeoutMs: integer(1, 3_600_000),
    receiveMaximum: integer(1, 65535),
    maxInflight: integer(1, 65535),
    maxQueuedMessages: integer(1, 10_000_000),
    queueDropPolicy: oneOf(QUEUE_DROP_POLICIES),
    maxSessionExpiry: integer(0, 4_294_967_295),
    topicAliasMaximum: integer(0, 65535),
    retainAvailable: boolean,
    maxTopicLevels: integer(1, 65535),
    // A server must accept client identifiers of 1 to 23 bytes [MQTT-3.1.3-5].
    maxClientIdLength: integer(23, 65535)
  },
  shards: integer(1, 1024),
  sys: { intervalMs: integer(100, 86_400_000) },
  cluster: {
    discovery: oneOf(DISCOVERY_STRATEGIES),
    port,
    host: text(),
    seeds: list(item => problemOf(() => parseSeed(item))),
    secret: text(),
    autocleanMs: integer(1000, 30 * 86_400_000),
    mdnsServiceTag: text(),
    control: { host: text(), port }
  }
}

/** Defaults of the keys that are not derived from other keys. */
function fixedDefaults (): Omit<BrokerConfig, 'node' | 'cluster'> & {
  node: { name: string }
  cluster: Omit<BrokerConfig['cluster'], 'port' | 'host' | 'control'> & { control: { host: string } }
} {
  return {
    node: { name: DEFAULT_NODE_NAME },
    listener: { host: '0.0.0.0', port: 1883 },
    log: { level: 'info', format: 'auto' },
    mqtt: {
      maxPacketSize: 1024 * 1024,
      serverKeepAlive: 60,
      connectTimeoutMs: 10_000,
      receiveMaximum: 32,
      maxInflight: 32,
      maxQueuedMessages: 1000,
      queueDropPolicy: 'drop_oldest',
      maxSessionExpiry: 7200,
      topicAliasMaximum: 64,
      retainAvailable: true,
      maxTopicLevels: 128,
      maxClientIdLength: 65535
    },
    shards: 4,
    sys: { intervalMs: 10_000 },
    cluster: {
      discovery: 'mdns',
      seeds: [],
      secret: 'meshmq',
      autocleanMs: 5 * 60_000,
      mdnsServiceTag: '_meshmq._udp.local',
      control: { host: DEFAULT_CONTROL_HOST }
    }
  }
}

export function defaultConfig (): BrokerConfig {
  return resolve({})
}

type Tree = Record<string, unknown>

function isTree (value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isField (spec: unknown): spec is Field {
  return isTree(spec) && typeof spec.problem === 'function'
}

/**
 * Check a partial configuration against the schema: objects where the schema nests, no unknown
 * keys, every leaf within its rules. `origin` says where the values came from, for messages.
 */
function checkPartial (input: unknown, schema: Tree, origin: string, prefix = ''): void {
  if (!isTree(input)) {
    throw new ConfigError(prefix === '' ? 'config' : prefix.slice(0, -1), `must be an object (${origin})`)
  }
  for (const [name, value] of Object.entries(input)) {
    const key = prefix + name
    const spec = Object.hasOwn(schema, name) ? schema[name] : undefined
    if (spec === undefined) throw new ConfigError(key, `unknown key (${origin})`)
    if (value === undefined) continue
    if (isField(spec)) {
      const problem = spec.problem(value)
      if (problem !== undefined) throw new ConfigError(key, `${problem} (${origin})`)
    } else {
      checkPartial(value, spec as Tree, origin, `${key}.`)
    }
  }
}

/** Deep merge of `top` over `base`; arrays and leaves of `top` replace those of `base`. */
function merge (base: Tree, top: Tree): Tree {
  const out: Tree = { ...base }
  for (const [name, value] of Object.entries(top)) {
    if (value === undefined) continue
    const below = out[name]
    out[name] = isTree(value) && isTree(below) ? merge(below, value) : value
  }
  return out
}

function readConfigFile (file: string): Tree {
  let source: string
  try {
    source = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError('config', `cannot read config file '${file}': ${(err as Error).message}`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(source)
  } catch (err) {
    throw new ConfigError('config', `config file '${file}' is not valid JSON: ${(err as Error).message}`)
  }
  checkPartial(parsed, SCHEMA, `in config file ${file}`)
  return parsed as Tree
}

/** `maxPacketSize` → `MAX_PACKET_SIZE`. */
function screamingSnake (camel: string): string {
  return camel.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()
}

/** Environment variables that name a key by a shorter name than the generic rule. */
const ENV_ALIASES: ReadonlyArray<{ variable: string, path: string[] }> = [
  { variable: 'MESHMQ_DISCOVERY', path: ['cluster', 'discovery'] },
  { variable: 'MESHMQ_SEEDS', path: ['cluster', 'seeds'] }
]

/** Environment variable holding the config file path when none is passed. */
export const CONFIG_FILE_ENV = 'MESHMQ_CONFIG'

function fieldAt (path: string[]): Field {
  let spec: unknown = SCHEMA
  for (const name of path) spec = isTree(spec) ? spec[name] : undefined
  if (!isField(spec)) throw new TypeError(`no config key ${path.join('.')}`)
  return spec
}

/** Every leaf of the schema with its path, in declaration order. */
function leaves (schema: Tree, path: string[] = []): Array<{ path: string[], field: Field }> {
  return Object.entries(schema).flatMap(([name, spec]) => isField(spec)
    ? [{ path: [...path, name], field: spec }]
    : leaves(spec as Tree, [...path, name]))
}

/** Each environment variable and the key it sets: the generic `MESHMQ_<SECTION>_<KEY>` of every key, then the aliases. */
const ENV_BINDINGS: ReadonlyArray<{ variable: string, path: string[], field: Field }> = [
  ...leaves(SCHEMA).map(({ path, field }) => ({ variable: `MESHMQ_${path.map(screamingSnake).join('_')}`, path, field })),
  ...ENV_ALIASES.map(({ variable, path }) => ({ variable, path, field: fieldAt(path) }))
]

function setPath (tree: Tree, path: string[], value: unknown): void {
  let node = tree
  for (const name of path.slice(0, -1)) {
    const child = node[name]
    node = isTree(child) ? child : (node[name] = {}) as Tree
  }
  node[path[path.length - 1] ?? ''] = value
}

/**
 * The configuration given by `MESHMQ_*` variables. An alias and its generic variable may both be
 * set only to the same value. Variables that name no key are ignored.
 */
function readEnvironment (env: NodeJS.ProcessEnv): Tree {
  const tree: Tree = {}
  const seen = new Map<string, { variable: string, text: string }>()
  for (const { variable, path, field } of ENV_BINDINGS) {
    const text = env[variable]
    if (text === undefined) continue
    const key = path.join('.')
    const earlier = seen.get(key)
    if (earlier !== undefined && earlier.text !== text) {
      throw new ConfigError(key, `environment variables ${earlier.variable} and ${variable} disagree`)
    }
    seen.set(key, { variable, text })
    const value = field.fromText(text)
    const problem = field.problem(value)
    if (problem !== undefined) {
      throw new ConfigError(key, `${problem} (from environment variable ${variable}='${text}')`)
    }
    setPath(tree, path, value)
  }
  return tree
}

/** Fill the defaults into a checked partial configuration, derived ones last. */
function resolve (given: DeepPartial<BrokerConfig>): BrokerConfig {
  const merged = merge(fixedDefaults() as unknown as Tree, given as Tree) as unknown as
    ReturnType<typeof fixedDefaults> & DeepPartial<BrokerConfig>
  const nodeName = merged.node.name
  const { host: nodeHost } = parseNodeName(nodeName)

  let clusterPort = merged.cluster.port
  if (clusterPort === undefined) {
    clusterPort = clusterPortFor(nodeName)
    if (clusterPort > MAX_PORT) {
      throw new ConfigError('cluster.port', `derived from node name '${nodeName}' as ${clusterPort}, above ${MAX_PORT}; set it explicitly`)
    }
  }
  let controlPort = merged.cluster.control.port
  if (controlPort === undefined) {
    controlPort = clusterPort === 0 ? 0 : clusterPort + CONTROL_PORT_OFFSET
    if (controlPort > MAX_PORT) {
      throw new ConfigError('cluster.control.port', `derived as cluster port + ${CONTROL_PORT_OFFSET} = ${controlPort}, above ${MAX_PORT}; set it explicitly`)
    }
  }
  return {
    ...merged,
    node: { name: nodeName, dataDir: merged.node.dataDir ?? `./data/${nodeName}` },
    cluster: {
      discovery: merged.cluster.discovery,
      port: clusterPort,
      host: merged.cluster.host ?? nodeHost,
      seeds: [...merged.cluster.seeds],
      secret: merged.cluster.secret,
      autocleanMs: merged.cluster.autocleanMs,
      mdnsServiceTag: merged.cluster.mdnsServiceTag,
      control: { host: merged.cluster.control.host, port: controlPort }
    }
  }
}

/**
 * Merge precedence: defaults < config file (JSON, nested like BrokerConfig) < environment
 * (`MESHMQ_*`, default `process.env`) < command-line overrides. Every key is validated (types,
 * ranges, enums); a bad value throws a ConfigError whose message names the key and where the value
 * came from, e.g. "mqtt.maxPacketSize: must be an integer between 1 and 268435455 (...)". Unknown
 * keys in the file or overrides are errors too. Derived defaults (cluster.port, cluster.host,
 * node.dataDir, cluster.control.port) are computed after merging, unless set explicitly. The
 * file defaults to `$MESHMQ_CONFIG`. `overridesOrigin` names where the overrides came from in
 * messages (default `from the command line`).
 */
export function loadConfig (options: { file?: string | undefined, env?: NodeJS.ProcessEnv, overrides?: DeepPartial<BrokerConfig>, overridesOrigin?: string }): BrokerConfig {
  const env = options.env ?? process.env
  const file = options.file ?? env[CONFIG_FILE_ENV]
  const fromFile = file === undefined || file === '' ? {} : readConfigFile(file)
  const fromEnv = readEnvironment(env)
  const overrides = options.overrides ?? {}
  checkPartial(overrides, SCHEMA, options.overridesOrigin ?? 'from the command line')
  return resolve(merge(merge(fromFile, fromEnv), overrides as Tree) as DeepPartial<BrokerConfig>)
}
