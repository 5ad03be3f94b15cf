/**
 * What every configuration key is: the `BrokerConfig` type (each key documented with its default,
 * the values themselves are in `defaults.ts`) and the rules that check a value of each key.
 */
import { ConfigError } from './config-error.js'
import { DEFAULT_CLUSTER_SECRET } from './defaults.js'
import { SHARED_STRATEGIES, type SharedStrategy } from '../routing/shared-dispatch.js'
import { InvalidNodeAddressError, InvalidNodeNameError, parseNodeAddress, parseNodeName } from './node-name.js'

/** Which message a full session queue discards. */
export type QueueDropPolicy = 'drop_oldest' | 'drop_newest'
export const QUEUE_DROP_POLICIES: readonly QueueDropPolicy[] = ['drop_oldest', 'drop_newest']

/** How `meshmq ctl` reaches a node: a Unix socket in its data directory, or a loopback TCP port with a token. */
export type ControlTransport = 'unix' | 'tcp'
export const CONTROL_TRANSPORTS: readonly ControlTransport[] = ['unix', 'tcp']

export type DiscoveryStrategy = 'mdns' | 'static' | 'manual'
export const DISCOVERY_STRATEGIES: readonly DiscoveryStrategy[] = ['mdns', 'static', 'manual']

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

export type LogFormat = 'json' | 'pretty' | 'auto'
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty', 'auto']

/** Transport of an MQTT listener: plain TCP, TLS, WebSocket or WebSocket over TLS. */
export type ListenerType = 'tcp' | 'tls' | 'ws' | 'wss'
export const LISTENER_TYPES: readonly ListenerType[] = ['tcp', 'tls', 'ws', 'wss']

/** One entry of `listeners`: an MQTT listener beside the default TCP one (`listener.*`). */
export interface ListenerConfig {
  type: ListenerType
  /** Address to bind. Default `0.0.0.0`. */
  host?: string
  /** Port; 0 lets the OS choose one. */
  port: number
  /** PEM certificate chain of the server (`tls`, `wss`: required). */
  certFile?: string
  /** PEM private key of the server (`tls`, `wss`: required). */
  keyFile?: string
  /** PEM CA bundle client certificates are verified against (`tls`, `wss`). */
  caFile?: string
  /** Refuse TLS clients without a certificate signed by `caFile`. Default false. */
  requireClientCert?: boolean
  /** HTTP path of a WebSocket listener (`ws`, `wss`). Default `/mqtt`. */
  path?: string
}

/** JWT authentication: a client's password is a JWT (`auth.jwt`). */
export interface JwtAuthConfig {
  /** Shared secret of HMAC-signed tokens (HS256/384/512). */
  secret?: string
  /** File holding that shared secret (read at start and on reload). */
  secretFile?: string
  /** PEM public key (SPKI) or certificate of RSA / EC / EdDSA-signed tokens. */
  publicKeyFile?: string
  /** Algorithms accepted. Default HS256, RS256, ES256, EdDSA. */
  algorithms: string[]
  /** Claim that is the client's username. Default `sub`. */
  usernameClaim: string
  /** Required `iss`, when set. */
  issuer?: string
  /** Required `aud`, when set. */
  audience?: string
}

/** Authentication and authorization (`auth.*`). */
export interface AuthConfig {
  /**
   * Clients without a username (and without a certificate identity when that is the username)
   * may connect. Default true, so `npm start` needs no setup; a node warns at start when a
   * non-loopback listener allows them.
   */
  allowAnonymous: boolean
  /** A `mosquitto_passwd` file (`user:$7$…` PBKDF2-SHA512 or `$6$` SHA512 lines). Reloaded when it changes and on SIGHUP. */
  passwordFile?: string
  /** A mosquitto `acl_file`: `user`, `topic [read|write|readwrite|deny] FILTER`, `pattern`. Reloaded likewise. */
  aclFile?: string
  /** TLS listeners: the verified client certificate's CN is the username (mosquitto `use_identity_as_username`). Default false. */
  useIdentityAsUsername: boolean
  /** Whether clients may publish under `$SYS/`. Default false: `$SYS/#` is read-only for clients. */
  allowSysPublish: boolean
  /** Topics whose ACL decisions each client caches (the oldest evicted first; cleared when the ACL file is reloaded; 0: none). Default 256. */
  aclCacheSize: number
  /**
   * Bytes of topic text (2 per UTF-16 code unit) each client's ACL cache holds at most; the oldest
   * topics go first, a longer topic is decided each time and not cached. Default 65 536.
   */
  aclCacheBytes: number
  jwt?: JwtAuthConfig
}

/**
 * The cluster network's tunables: the `cluster.*` keys of the broker config and, with the same
 * names, the optional fields of `createClusterNetwork()`'s init.
 */
export interface ClusterTunables {
  /** How peers are found: `mdns` on the local network, `static` seed list, or `manual` joins. Default `mdns`. */
  discovery: DiscoveryStrategy
  /**
   * Pre-shared secret every node of the cluster must hold. The default `meshmq` is public: a node
   * started with it logs `cluster_default_secret`, and production deployments must set their own.
   */
  secret: string
  /** mDNS service name peers announce and look for. Default `_meshmq._udp.local`. */
  mdnsServiceTag: string
  /** Interval between mDNS queries, in milliseconds. Default 10 000. */
  mdnsIntervalMs: number
  /** A peer down for this long is removed with its routes (EMQX `cluster.autoclean`), in milliseconds. Default 5 minutes. */
  autocleanMs: number
  /** Interval of the route digest each node gossips (it repairs lost route changes), in milliseconds. Default 5000. */
  digestIntervalMs: number
  /** Local route changes are announced at most once per this many milliseconds (the first after a pause at once). Default 5. */
  routeFlushMs: number
  /** A forward link with nothing to send pings its peer this often, in milliseconds. Default 1000. */
  heartbeatIntervalMs: number
  /**
   * A peer that sends nothing (not even an ack) on its forward link for this long is disconnected
   * and marked down, in milliseconds; above `heartbeatIntervalMs`. Default 5000.
   */
  peerTimeoutMs: number
  /** Bound on each request to a peer (hello, route snapshot, leave notice), in milliseconds. Default 5000. */
  requestTimeoutMs: number
  /** Bound on one dial attempt, in milliseconds. Default 5000. */
  dialTimeoutMs: number
  /** First delay of the backoff that redials lost peers and seeds, in milliseconds. Default 250. */
  redialMinMs: number
  /** Largest delay of that backoff, in milliseconds; at least `redialMinMs`. Default 5000. */
  redialMaxMs: number
  /**
   * Bytes queued per peer (unsent plus unacknowledged) before new forwarded messages for it are
   * dropped and counted. Default 64 MiB.
   */
  maxQueuedBytesPerPeer: number
  /**
   * Messages queued per peer (unsent plus unacknowledged) before new forwarded messages for it are
   * dropped and counted. Default 250 000.
   */
  maxQueuedMessagesPerPeer: number
  /**
   * Entries of one other node's replicated set this node holds (its routes; the client ids it holds
   * sessions for): past it further ones are not held, counted and logged (`replica_full`), and
   * messages for routes not held do not go to that node. Default 1 000 000.
   */
  maxReplicatedEntriesPerPeer: number
  /** Bytes of entry text (2 per UTF-16 code unit) of one other node's replicated set held, as above. Default 128 MiB. */
  maxReplicatedBytesPerPeer: number
  /**
   * Flow control: QoS 1/2 messages all peers together may send this node beyond what it has taken
   * in (each inbound forward stream gets an equal share, at least 8; none is granted while the
   * node's session queues are under pressure). Default 256.
   */
  forwardWindowMessages: number
  /** Flow control: bytes all peers together may send this node beyond what it has taken in (shared likewise, at least 64 KiB each). Default 2 MiB. */
  forwardWindowBytes: number
  /** Inbound connections accepted per second from one host (libp2p rate limit). Default 100. */
  inboundConnectionThreshold: number
  /** On stop, how long connected peers get to acknowledge the messages forwarded to them, in milliseconds. Default 2000. */
  stopDrainMs: number
}

/** Cluster-wide retained messages and wills (the broker's, not the network's, keys of `cluster.*`). */
export interface ClusterRetainedWillsConfig {
  /**
   * A retained-message clear (tombstone) is kept this long, in milliseconds, so it wins against an
   * older copy of the message arriving after a partition heals. Default 24 hours.
   */
  retainedTombstoneMs: number
  /** Tombstones kept at most (the oldest go first past it). Default 100 000. */
  maxRetainedTombstones: number
  /**
   * A node down for this long (killed, or unreachable) has the wills of its clients published by
   * the running node with the lowest name, in milliseconds. Default 10 000.
   */
  willGraceMs: number
  /** Wills of other nodes' clients this node holds, in all (past it new ones are not held, counted). Default 1 000 000. */
  maxReplicatedWills: number
  /** Bytes of those wills (message and client id) this node holds, in all; likewise. Default 256 MiB. */
  maxReplicatedWillBytes: number
}

export interface ClusterConfig extends ClusterTunables, ClusterRetainedWillsConfig {
  /** Refuse to start on the public default secret (set it in production). Default false. */
  requireSecret: boolean
  /** File holding the cluster secret (trailing newline ignored); instead of `secret`. */
  secretFile?: string
  /** Cluster port. Default 4370 + the numeric suffix of the node name (`meshmq2@h` → 4372). */
  port: number
  /** Address the cluster port binds. Default the host part of the node name. */
  host: string
  /** Seed nodes, `name@host:port` or `name@host` (port by the node-name rule). Default none. */
  seeds: string[]
  /** A client id connecting on one node while another holds its session (issue 9). */
  takeover: {
    /**
     * Bound on asking the node that holds the session to hand it over (or discard it), in
     * milliseconds; past it (that node is down or unreachable) the session starts fresh. Default 3000.
     */
    timeoutMs: number
    /**
     * After handing a session over, the old node keeps its subscriptions this long and forwards
     * what they still receive to the new node (routes take a moment to move), in milliseconds. Default 2000.
     */
    handoverMs: number
  }
  /** Local endpoint `meshmq ctl` talks to. */
  control: {
    /**
     * `unix`: a socket only the node's user can open (mode 0600), `socketPath`. `tcp`: the loopback
     * port `host:port`, every request carrying the token the node writes to `<dataDir>/ctl.token`
     * (mode 0600, new at each start). Default `unix`.
     */
    transport: ControlTransport
    /** Path of the Unix socket (at most 107 bytes, absolute). Default `<node.dataDir>/ctl.sock`. */
    socketPath?: string
    /** TCP transport: address to bind. Default `127.0.0.1`. */
    host: string
    /** TCP transport: port. Default cluster port + 1000 (0 when the cluster port is 0). */
    port: number
  }
}

/**
 * How acknowledged messages are kept (README, Persistence): `off` keeps everything in memory (the
 * in-memory store: nothing survives the process); `none` writes the store without fsync (a crash
 * of the process loses nothing, a power loss may); `batch` commits writes in groups every
 * `batchMs` with fsync, and a PUBACK/PUBREC/PUBCOMP leaves only when what it acknowledges is on
 * disk; `sync` commits as soon as the previous commit is done (no window), fsync before every ack.
 */
export const PERSISTENCE_MODES = ['off', 'none', 'batch', 'sync'] as const
export type PersistenceMode = typeof PERSISTENCE_MODES[number]

export interface PersistenceConfig {
  /** `off`, `none`, `batch` or `sync` (see PERSISTENCE_MODES). Default `batch`. */
  mode: PersistenceMode
  /** `batch`: how long writes gather before one commit, in milliseconds. Default 2. */
  batchMs: number
  /**
   * Bytes of writes waiting that start a commit before `batchMs` is over. What waits is bounded by
   * what it records (client in-flight windows, session queues, the node's queue budget). Default 4 MiB.
   */
  commitBytes: number
  /** After a failed write (disk full), how long before it is tried again, in milliseconds. Default 1000. */
  retryMs: number
}

/** The HTTP management API and Prometheus endpoint (`http.*`, README "HTTP API and metrics"). */
export interface HttpConfig {
  /** Whether the node serves the HTTP API and `/metrics`. Default true (`startNode`: only when its config has an `http` section). */
  enabled: boolean
  /** Address to bind. Default `127.0.0.1`; any other address needs `token` or `tokenFile`. */
  host: string
  /** Port; 0 lets the OS choose one. Default 18083. */
  port: number
  /** Bearer token every request must carry (`Authorization: Bearer …`); optional on loopback. */
  token?: string
  /** File holding that token (trailing newline ignored); instead of `token`. */
  tokenFile?: string
  /** Log lines the tap keeps for a newcomer to the log stream (`/api/v1/logs/stream`). Default 1000. */
  logTailLines: number
  /** Bytes of those lines. Default 1 MiB. */
  logTailBytes: number
  /** Log streams open at once; one more is refused (503). Default 8. */
  logStreams: number
  /** Lines a log stream holds while its reader is slow; more are dropped and counted (a `gap` event). Default 1000. */
  logStreamQueueLines: number
  /** Bytes of those lines. Default 512 KiB. */
  logStreamQueueBytes: number
}

export interface BrokerConfig {
  node: {
    /**
     * Node name `name@host`, unique in the cluster. Default (`meshmq start`): the name the data
     * directory records, else `meshmq@<primary IPv4>`, or `meshmq@127.0.0.1` with manual
     * discovery or no other address (`default-node-name.ts`); elsewhere `meshmq@127.0.0.1`.
     */
    name: string
    /** Directory for this node's persistent state. Default `./data/<node.name>`. */
    dataDir: string
  }
  listener: {
    /** Whether the default MQTT TCP listener runs (set false to serve only `listeners`). Default true. */
    enabled: boolean
    /** Address the MQTT TCP listener binds. Default `0.0.0.0`. */
    host: string
    /** MQTT TCP port; 0 lets the OS choose one. Default 1883. */
    port: number
    /**
     * TCP keepalive on client sockets: the first probe after this many milliseconds of silence, so
     * a peer gone without a FIN or RST is found; 0 = off, else at least 1000. Default 60 000.
     */
    tcpKeepAliveMs: number
  }
  /** MQTT listeners beside the default TCP one: TLS, WebSocket, secure WebSocket, more TCP. Default none. */
  listeners: ListenerConfig[]
  auth: AuthConfig
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
     * How a shared subscription's member is picked, cluster-wide (see README "Shared
     * subscriptions"): `random`, `round_robin`, `round_robin_per_group`, `sticky`,
     * `hash_clientid`, `hash_topic` or `local`. Default `round_robin`.
     */
    sharedSubscriptionStrategy: SharedStrategy
    /** Bytes queued per session beyond the in-flight window; the drop policy applies past it. Default 16 MiB. */
    maxQueuedBytes: number
    /**
     * Bytes all session queues of the node hold together (a message queued for N sessions counts N
     * times); past it the drop policy applies (reason `node_queue_full`). While the queues of
     * connected clients hold more than half of it, the node holds back what other nodes forward to
     * it. Default 256 MiB.
     */
    maxNodeQueuedBytes: number
    /**
     * A session whose queue passed its high-water mark (half its limits) holds back what other nodes
     * forward to this node; if it does not drain to its low-water mark (a quarter) within this many
     * milliseconds it is stalled and stops holding them back. Default 10 000.
     */
    backlogStallTimeoutMs: number
    /**
     * Above this many bytes buffered for a client's socket the client is a slow consumer: QoS 0 is
     * dropped and QoS 1/2 wait in the session queue. Default 8 MiB.
     */
    outgoingHighWaterBytes: number
    /**
     * Bytes of other packets (acks, SUBACK, …) a slow consumer's connection may buffer beyond
     * `outgoingHighWaterBytes` before it is closed (v5: DISCONNECT 0x97 Quota exceeded). Default 8 MiB.
     */
    maxOutgoingBytes: number
    /**
     * Client connections the node holds open at once, all MQTT listeners together (those still
     * before CONNECT included). One more is closed as it is accepted, counted and logged
     * (`connection_refused`). Default 1 000 000.
     */
    maxConnections: number
    /** Subscriptions one client may hold; further filters get SUBACK 0x97 (v5) / 0x80 (v3.1.1). Default 10 000. */
    maxSubscriptionsPerClient: number
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
    /** Longest client identifier accepted, in UTF-8 bytes. Default 1024. */
    maxClientIdLength: number
    /**
     * A client with keepalive 0 that sends nothing for this many milliseconds is disconnected;
     * 0 = never (TCP keepalive still finds dead peers). Default 0.
     */
    maxIdleWithoutKeepaliveMs: number
    /** Retained messages the node stores; at the bound a new retained topic is not stored. Default 100 000. */
    maxRetainedMessages: number
    /** Bytes of retained messages (topic, payload, properties) the node stores. Default 256 MiB. */
    maxRetainedBytes: number
  }
  persistence: PersistenceConfig
  /** Number of subscription-trie shard actors. Default 4. */
  shards: number
  routing: {
    /** Topics whose match results each trie shard caches (a power of two is used). Default 65 536. */
    matchCacheTopics: number
    /** Bytes the match cache of each trie shard holds at most. Default 8 MiB. */
    matchCacheBytes: number
  }
  sys: {
    /** Interval between `$SYS` publications, in milliseconds. Default 10 000. */
    intervalMs: number
  }
  cluster: ClusterConfig
  http: HttpConfig
}

/** Every field optional, at any depth; arrays are replaced whole, never merged. */
export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T

/** JWT signature algorithms `auth.jwt.algorithms` may name. */
export const JWT_ALGORITHMS: readonly string[] = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

/** Largest Remaining Length an MQTT packet can encode (MQTT 5 §1.5.5). */
const MAX_REMAINING_LENGTH = 268_435_455
export const MAX_PORT = 65535
const DAY_MS = 86_400_000

/** Rules for one leaf key: checks a typed value and parses the text of an environment variable. */
export interface Field {
  /** A phrase describing what is wrong with `value`, or undefined when it is acceptable. */
  problem: (value: unknown) => string | undefined
  /** The typed value of an environment variable's text, before `problem` checks it. */
  fromText: (text: string) => unknown
}

export type Schema<T> = {
  [K in keyof T]-?: NonNullable<T[K]> extends readonly unknown[] | string | number | boolean ? Field : Schema<NonNullable<T[K]>>
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
      for (const item of value) {
        const problem = check(item)
        if (problem !== undefined) return problem
      }
      return undefined
    },
    fromText: value => value.split(',').map(item => item.trim()).filter(item => item.length > 0)
  }
}

/** The message of the naming error `parse` throws, or undefined when it succeeds. */
function namingProblem (parse: () => unknown): string | undefined {
  try {
    parse()
    return undefined
  } catch (err) {
    if (err instanceof InvalidNodeNameError || err instanceof InvalidNodeAddressError) return err.message
    throw err
  }
}

const port = integer(0, MAX_PORT)

const LISTENER_KEYS = new Set(['type', 'host', 'port', 'certFile', 'keyFile', 'caFile', 'requireClientCert', 'path'])

/** Why one `listeners` entry is not acceptable, or undefined. */
function listenerProblem (entry: unknown, index: number): string | undefined {
  const at = `entry ${index}`
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return `${at} must be an object`
  const listener = entry as Record<string, unknown>
  for (const key of Object.keys(listener)) if (!LISTENER_KEYS.has(key)) return `${at}: unknown key ${key}`
  if (typeof listener.type !== 'string' || !LISTENER_TYPES.includes(listener.type as ListenerType)) return `${at}: type must be one of ${LISTENER_TYPES.join(', ')}`
  const portProblem = port.problem(listener.port)
  if (portProblem !== undefined) return `${at}: port ${portProblem}`
  for (const key of ['host', 'certFile', 'keyFile', 'caFile', 'path']) {
    const value = listener[key]
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) return `${at}: ${key} must be a non-empty string`
  }
  if (listener.requireClientCert !== undefined && typeof listener.requireClientCert !== 'boolean') return `${at}: requireClientCert must be true or false`
  const secure = listener.type === 'tls' || listener.type === 'wss'
  if (secure && (listener.certFile === undefined || listener.keyFile === undefined)) return `${at}: a ${listener.type} listener needs certFile and keyFile`
  if (!secure && (listener.certFile !== undefined || listener.keyFile !== undefined || listener.caFile !== undefined || listener.requireClientCert !== undefined)) return `${at}: certFile, keyFile, caFile and requireClientCert are for tls and wss listeners`
  if (listener.requireClientCert === true && listener.caFile === undefined) return `${at}: requireClientCert needs caFile`
  if (listener.path !== undefined && (listener.type === 'tcp' || listener.type === 'tls')) return `${at}: path is for ws and wss listeners`
  if (typeof listener.path === 'string' && !listener.path.startsWith('/')) return `${at}: path must start with /`
  return undefined
}

/** The `listeners` list (a JSON array in its environment variable). */
const listenerList: Field = {
  problem: value => {
    if (!Array.isArray(value)) return 'must be a list of listeners'
    for (const [index, entry] of value.entries()) {
      const problem = listenerProblem(entry, index)
      if (problem !== undefined) return problem
    }
    return undefined
  },
  fromText: text => {
    try {
      return JSON.parse(text) as unknown
    } catch {
      return text
    }
  }
}

/** 0 (off) or an integer between min and max. */
function offOr (min: number, max: number): Field {
  const range = integer(min, max)
  return {
    problem: value => value === 0 || range.problem(value) === undefined ? undefined : `must be 0 (off) or an integer between ${min} and ${max}`,
    fromText: range.fromText
  }
}

export const SCHEMA: Schema<BrokerConfig> = {
  node: {
    name: text(value => namingProblem(() => parseNodeName(value))),
    dataDir: text()
  },
  // TCP keepalive delays are whole seconds to the OS: below 1000 ms the OS default would stay.
  listener: { enabled: boolean, host: text(), port, tcpKeepAliveMs: offOr(1000, DAY_MS) },
  listeners: listenerList,
  auth: {
    allowAnonymous: boolean,
    passwordFile: text(),
    aclFile: text(),
    useIdentityAsUsername: boolean,
    allowSysPublish: boolean,
    aclCacheSize: integer(0, 1_000_000),
    aclCacheBytes: integer(0, 2 ** 31),
    jwt: {
      secret: text(),
      secretFile: text(),
      publicKeyFile: text(),
      algorithms: list(item => JWT_ALGORITHMS.includes(item) ? undefined : `unknown algorithm ${item} (one of ${JWT_ALGORITHMS.join(', ')})`),
      usernameClaim: text(),
      issuer: text(),
      audience: text()
    }
  },
  log: { level: oneOf(LOG_LEVELS), format: oneOf(LOG_FORMATS) },
  mqtt: {
    maxPacketSize: integer(1, MAX_REMAINING_LENGTH),
    serverKeepAlive: integer(0, 65535),
    connectTimeoutMs: integer(1, 3_600_000),
    receiveMaximum: integer(1, 65535),
    maxInflight: integer(1, 65535),
    maxQueuedMessages: integer(1, 10_000_000),
    queueDropPolicy: oneOf(QUEUE_DROP_POLICIES),
    sharedSubscriptionStrategy: oneOf(SHARED_STRATEGIES),
    maxQueuedBytes: integer(1024, 2 ** 40),
    maxNodeQueuedBytes: integer(1024, 2 ** 42),
    backlogStallTimeoutMs: integer(100, 3_600_000),
    outgoingHighWaterBytes: integer(1024, 2 ** 31),
    maxOutgoingBytes: integer(1024, 2 ** 40),
    maxConnections: integer(1, 100_000_000),
    maxSubscriptionsPerClient: integer(1, 10_000_000),
    maxSessionExpiry: integer(0, 4_294_967_295),
    topicAliasMaximum: integer(0, 65535),
    retainAvailable: boolean,
    maxTopicLevels: integer(1, 65535),
    // A server must accept client identifiers of 1 to 23 bytes [MQTT-3.1.3-5].
    maxClientIdLength: integer(23, 65535),
    maxIdleWithoutKeepaliveMs: offOr(1000, 30 * DAY_MS),
    maxRetainedMessages: integer(1, 100_000_000),
    maxRetainedBytes: integer(1024, 2 ** 40)
  },
  persistence: {
    mode: oneOf(PERSISTENCE_MODES),
    batchMs: integer(1, 10_000),
    commitBytes: integer(4096, 2 ** 30),
    retryMs: integer(10, 3_600_000)
  },
  shards: integer(1, 1024),
  routing: { matchCacheTopics: integer(0, 1 << 24), matchCacheBytes: integer(0, 2 ** 32) },
  sys: { intervalMs: integer(100, DAY_MS) },
  cluster: {
    discovery: oneOf(DISCOVERY_STRATEGIES),
    port,
    host: text(),
    seeds: list(item => namingProblem(() => parseNodeAddress(item))),
    secret: text(),
    requireSecret: boolean,
    secretFile: text(),
    autocleanMs: integer(1000, 30 * DAY_MS),
    mdnsServiceTag: text(),
    mdnsIntervalMs: integer(100, DAY_MS),
    digestIntervalMs: integer(100, DAY_MS),
    routeFlushMs: integer(0, 60_000),
    heartbeatIntervalMs: integer(50, 3_600_000),
    peerTimeoutMs: integer(500, DAY_MS),
    requestTimeoutMs: integer(100, 3_600_000),
    dialTimeoutMs: integer(100, 3_600_000),
    redialMinMs: integer(1, 3_600_000),
    redialMaxMs: integer(1, DAY_MS),
    maxQueuedBytesPerPeer: integer(64 * 1024, 2 ** 40),
    maxQueuedMessagesPerPeer: integer(1, 100_000_000),
    maxReplicatedEntriesPerPeer: integer(1, 1_000_000_000),
    maxReplicatedBytesPerPeer: integer(1024, 2 ** 40),
    forwardWindowMessages: integer(1, 1_000_000),
    forwardWindowBytes: integer(4 * 1024, 2 ** 30),
    inboundConnectionThreshold: integer(1, 1_000_000),
    stopDrainMs: integer(0, 3_600_000),
    takeover: { timeoutMs: integer(100, 3_600_000), handoverMs: integer(0, 3_600_000) },
    retainedTombstoneMs: integer(1000, 365 * DAY_MS),
    maxRetainedTombstones: integer(0, 100_000_000),
    willGraceMs: integer(0, DAY_MS),
    maxReplicatedWills: integer(0, 100_000_000),
    maxReplicatedWillBytes: integer(0, 2 ** 40),
    control: { transport: oneOf(CONTROL_TRANSPORTS), socketPath: text(), host: text(), port }
  },
  http: {
    enabled: boolean,
    host: text(),
    port,
    token: text(),
    tokenFile: text(),
    logTailLines: integer(0, 1_000_000),
    logTailBytes: integer(0, 2 ** 30),
    logStreams: integer(0, 1000),
    logStreamQueueLines: integer(1, 1_000_000),
    logStreamQueueBytes: integer(1024, 2 ** 30)
  }
}

/** Rules between keys, checked once every source is merged. */
export function checkRelations (config: BrokerConfig): void {
  const { cluster, auth } = config
  const jwt = auth.jwt
  if (jwt !== undefined && jwt.secret === undefined && jwt.secretFile === undefined && jwt.publicKeyFile === undefined) {
    throw new ConfigError('auth.jwt', 'needs secret, secretFile or publicKeyFile')
  }
  if (cluster.secretFile !== undefined && cluster.secret !== DEFAULT_CLUSTER_SECRET) {
    throw new ConfigError('cluster.secretFile', 'set either cluster.secret or cluster.secretFile, not both')
  }
  if (config.http.token !== undefined && config.http.tokenFile !== undefined) {
    throw new ConfigError('http.tokenFile', 'set either http.token or http.tokenFile, not both')
  }
  if (cluster.peerTimeoutMs <= cluster.heartbeatIntervalMs) {
    throw new ConfigError('cluster.peerTimeoutMs', `must be above cluster.heartbeatIntervalMs (${cluster.heartbeatIntervalMs}), got ${cluster.peerTimeoutMs}`)
  }
  if (cluster.redialMaxMs < cluster.redialMinMs) {
    throw new ConfigError('cluster.redialMaxMs', `must be at least cluster.redialMinMs (${cluster.redialMinMs}), got ${cluster.redialMaxMs}`)
  }
}
