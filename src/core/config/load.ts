/**
 * `loadConfig`: merges defaults < config file (JSON) < environment (`MESHMQ_*`) < command-line
 * flags, checks every key against the schema, and computes the derived defaults.
 */
import { readFileSync } from 'node:fs'
import { ConfigError } from './config-error.js'
import { CONTROL_PORT_OFFSET, DEFAULT_CLUSTER_PORT_BASE, DEFAULT_HTTP_PORT, JWT_DEFAULTS, fixedDefaults, type FixedDefaults } from './defaults.js'
import { chooseNodeName, type ChosenNodeName, type InterfaceMap } from './default-node-name.js'
import { clusterPortFor, InvalidNodeNameError, parseNodeName } from './node-name.js'
import { checkRelations, MAX_PORT, SCHEMA, type BrokerConfig, type DeepPartial, type Field, type JwtAuthConfig } from './schema.js'

/** Environment variable holding the config file path when none is passed. */
export const CONFIG_FILE_ENV = 'MESHMQ_CONFIG'

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

/** The environment variable of a config key by the generic rule: `cluster.peerTimeoutMs` → `MESHMQ_CLUSTER_PEER_TIMEOUT_MS`. */
export function environmentVariableOf (key: string): string {
  return `MESHMQ_${key.split('.').map(screamingSnake).join('_')}`
}

/** Every config key, dotted, in declaration order. */
export function configKeys (): string[] {
  return leaves(SCHEMA as unknown as Tree).map(({ path }) => path.join('.'))
}

/** Each environment variable and the key it sets: the generic `MESHMQ_<SECTION>_<KEY>` of every key, then the aliases. */
const ENV_BINDINGS: ReadonlyArray<{ variable: string, path: string[], field: Field }> = [
  ...leaves(SCHEMA as unknown as Tree).map(({ path, field }) => ({ variable: environmentVariableOf(path.join('.')), path, field })),
  ...ENV_ALIASES.map(({ variable, path }) => ({ variable, path, field: fieldAt(path) }))
]

function setPath (tree: Tree, path: string[], value: unknown): void {
  let node = tree
  for (const name of path.slice(0, -1)) {
    const child = node[name]
    if (isTree(child)) {
      node = child
    } else {
      const created: Tree = {}
      node[name] = created
      node = created
    }
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

/**
 * What an unnamed node needs to know about the host it runs on (`default-node-name.ts`): its
 * network interfaces (`os.networkInterfaces()`) and the node name a data directory records
 * (`node.json`; undefined when there is none). The entry point reads them; core does no such I/O.
 */
export interface HostFacts {
  interfaces: InterfaceMap
  recordedNodeName: (dataDir: string) => string | undefined
  /** Told the name chosen for a node given none, and why (for the start-up log). */
  onNameChosen?: (chosen: ChosenNodeName) => void
}

/** `node.dataDir` of a node that sets none. */
function defaultDataDir (nodeName: string): string {
  return `./data/${nodeName}`
}

/**
 * The name of a node given none in any source: the name its data directory records, else by
 * its discovery and its host's addresses.
 */
function unnamedNodeName (merged: FixedDefaults & DeepPartial<BrokerConfig>, host: HostFacts): ChosenNodeName {
  const input = { discovery: merged.cluster.discovery, interfaces: host.interfaces }
  const dataDir = merged.node.dataDir ?? defaultDataDir(chooseNodeName(input).name)
  const remembered = host.recordedNodeName(dataDir)
  if (remembered !== undefined) {
    try {
      parseNodeName(remembered)
    } catch (err) {
      if (!(err instanceof InvalidNodeNameError)) throw err
      throw new ConfigError('node.name', `not set, and the name recorded in data directory ${dataDir} is invalid: ${err.detail}`)
    }
  }
  return chooseNodeName({ ...input, remembered })
}

/** Fill the defaults into a checked partial configuration, derived ones last. */
function resolve (given: DeepPartial<BrokerConfig>, host?: HostFacts): BrokerConfig {
  const merged = merge(fixedDefaults(), given) as unknown as FixedDefaults & DeepPartial<BrokerConfig>
  let nodeName = merged.node.name
  if (given.node?.name === undefined && host !== undefined) {
    const chosen = unnamedNodeName(merged, host)
    host.onNameChosen?.(chosen)
    nodeName = chosen.name
  }
  const { host: nodeHost } = parseNodeName(nodeName)

  let clusterPort = merged.cluster.port
  if (clusterPort === undefined) {
    try {
      clusterPort = clusterPortFor(nodeName)
    } catch (err) {
      if (!(err instanceof InvalidNodeNameError)) throw err
      throw new ConfigError('cluster.port', `derived from node name '${nodeName}': ${err.detail}; set it explicitly`)
    }
  }
  let controlPort = merged.cluster.control.port
  if (controlPort === undefined) {
    controlPort = clusterPort === 0 ? 0 : clusterPort + CONTROL_PORT_OFFSET
    if (controlPort > MAX_PORT) {
      throw new ConfigError('cluster.control.port', `derived as cluster port + ${CONTROL_PORT_OFFSET} = ${controlPort}, above ${MAX_PORT}; set it explicitly`)
    }
  }
  // Several nodes on one host get HTTP ports as far apart as their cluster ports (meshmq2 → 18085).
  let httpPort = merged.http.port
  if (given.http?.port === undefined && clusterPort >= DEFAULT_CLUSTER_PORT_BASE) {
    httpPort = DEFAULT_HTTP_PORT + clusterPort - DEFAULT_CLUSTER_PORT_BASE
    if (httpPort > MAX_PORT) throw new ConfigError('http.port', `derived as ${DEFAULT_HTTP_PORT} + (cluster port ${clusterPort} - ${DEFAULT_CLUSTER_PORT_BASE}) = ${httpPort}, above ${MAX_PORT}; set it explicitly`)
  }
  // A config's jwt section may leave out the keys with defaults.
  const jwt = merged.auth.jwt as DeepPartial<JwtAuthConfig> | undefined
  const config: BrokerConfig = {
    ...merged,
    listeners: merged.listeners.map(listener => ({ ...listener })),
    auth: jwt === undefined
      ? { ...merged.auth }
      : { ...merged.auth, jwt: { ...jwt as JwtAuthConfig, algorithms: [...(jwt.algorithms ?? JWT_DEFAULTS.algorithms)], usernameClaim: jwt.usernameClaim ?? JWT_DEFAULTS.usernameClaim } },
    node: { name: nodeName, dataDir: merged.node.dataDir ?? defaultDataDir(nodeName) },
    http: { ...merged.http, port: httpPort },
    cluster: {
      ...merged.cluster,
      port: clusterPort,
      host: merged.cluster.host ?? nodeHost,
      seeds: [...merged.cluster.seeds],
      control: { ...merged.cluster.control, port: controlPort }
    }
  }
  checkRelations(config)
  return config
}

/**
 * Merge precedence: defaults < config file (JSON, nested like BrokerConfig) < environment
 * (`MESHMQ_*`, default `process.env`) < command-line overrides. Every key is validated (types,
 * ranges, enums); a bad value throws a ConfigError whose message names the key and where the value
 * came from, e.g. "mqtt.maxPacketSize: must be an integer between 1 and 268435455 (...)". Unknown
 * keys in the file or overrides are errors too. Derived defaults (cluster.port, cluster.host,
 * node.dataDir, cluster.control.port, http.port) are computed after merging, unless set explicitly. The
 * file defaults to `$MESHMQ_CONFIG`. `overridesOrigin` names where the overrides came from in
 * messages (default `from the command line`). With `host` (the `meshmq start` command), a node
 * given no name takes the one its data directory records or one from the host's address
 * (`default-node-name.ts`); without it, `DEFAULT_NODE_NAME`.
 */
export function loadConfig (options: { file?: string | undefined, env?: NodeJS.ProcessEnv, overrides?: DeepPartial<BrokerConfig>, overridesOrigin?: string, host?: HostFacts }): BrokerConfig {
  const env = options.env ?? process.env
  const file = options.file ?? env[CONFIG_FILE_ENV]
  const fromFile = file === undefined || file === '' ? {} : readConfigFile(file)
  const fromEnv = readEnvironment(env)
  const overrides = options.overrides ?? {}
  checkPartial(overrides, SCHEMA, options.overridesOrigin ?? 'from the command line')
  return resolve(merge(merge(fromFile, fromEnv), overrides), options.host)
}
