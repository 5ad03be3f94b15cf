/**
 * Every default of the broker and of the cluster network, in one place (like js-libp2p's
 * `constants.ts`). The config (`loadConfig`) and `createClusterNetwork()` both fall back to these;
 * `schema.ts` documents each key.
 */
import type { BrokerConfig, ClusterRetainedWillsConfig, ClusterTunables } from './schema.js'

/** Node name used when none is given. */
export const DEFAULT_NODE_NAME = 'meshmq@127.0.0.1'
/** Cluster port of a node whose name has no numeric suffix (the EMQX rule adds the suffix). */
export const DEFAULT_CLUSTER_PORT_BASE = 4370
/** The control port is the cluster port plus this offset. */
export const CONTROL_PORT_OFFSET = 1000
export const DEFAULT_CONTROL_HOST = '127.0.0.1'
/**
 * Used when no secret is configured, like EMQX's default cookie: it keeps unrelated clusters out
 * but is public, so a node running with it logs `cluster_default_secret`.
 */
export const DEFAULT_CLUSTER_SECRET = 'meshmq'
/** What to set instead of the public default secret; carried by the `cluster_default_secret` warning. */
export const DEFAULT_SECRET_ADVICE = 'for production set the cluster secret (MESHMQ_CLUSTER_SECRET, or --secret-file FILE / cluster.secretFile) to the same private value on every node'

/** Defaults of the cluster network's tunables (`cluster.*` keys, `createClusterNetwork()` init). */
export const CLUSTER_DEFAULTS: Readonly<ClusterTunables> = Object.freeze({
  discovery: 'mdns',
  secret: DEFAULT_CLUSTER_SECRET,
  mdnsServiceTag: '_meshmq._udp.local',
  mdnsIntervalMs: 10_000,
  autocleanMs: 5 * 60_000,
  digestIntervalMs: 5_000,
  routeFlushMs: 5,
  heartbeatIntervalMs: 1_000,
  peerTimeoutMs: 5_000,
  requestTimeoutMs: 5_000,
  dialTimeoutMs: 5_000,
  redialMinMs: 250,
  redialMaxMs: 5_000,
  maxQueuedBytesPerPeer: 64 * 1024 * 1024,
  maxQueuedMessagesPerPeer: 250_000,
  maxReplicatedEntriesPerPeer: 1_000_000,
  maxReplicatedBytesPerPeer: 128 * 1024 * 1024,
  forwardWindowMessages: 256,
  forwardWindowBytes: 2 * 1024 * 1024,
  inboundConnectionThreshold: 100,
  stopDrainMs: 2_000
})

/** The keys of the cluster network's tunables. */
export const CLUSTER_TUNABLE_KEYS = Object.keys(CLUSTER_DEFAULTS) as ReadonlyArray<keyof ClusterTunables>

/** The defaults that do not depend on other keys (the rest are derived by `loadConfig`). */
export type FixedDefaults = Omit<BrokerConfig, 'node' | 'cluster'> & {
  node: Pick<BrokerConfig['node'], 'name'>
  cluster: ClusterTunables & ClusterRetainedWillsConfig & Pick<BrokerConfig['cluster'], 'seeds' | 'takeover' | 'requireSecret'> & { control: Pick<BrokerConfig['cluster']['control'], 'host' | 'transport'> }
}

/** Defaults of `auth.jwt` keys a `jwt` section leaves out. */
export const JWT_DEFAULTS = Object.freeze({ algorithms: ['HS256', 'RS256', 'ES256', 'EdDSA'] as readonly string[], usernameClaim: 'sub' })

/** The HTTP management API's address (EMQX's dashboard port). */
export const DEFAULT_HTTP_HOST = '127.0.0.1'
export const DEFAULT_HTTP_PORT = 18083

/** Path of a WebSocket listener that sets none. */
export const DEFAULT_WEBSOCKET_PATH = '/mqtt'

/** A fresh copy of the fixed defaults. */
export function fixedDefaults (): FixedDefaults {
  return {
    node: { name: DEFAULT_NODE_NAME },
    listener: { enabled: true, host: '0.0.0.0', port: 1883, tcpKeepAliveMs: 60_000 },
    listeners: [],
    auth: {
      allowAnonymous: true,
      useIdentityAsUsername: false,
      allowSysPublish: false,
      aclCacheSize: 256,
      aclCacheBytes: 64 * 1024
    },
    log: { level: 'info', format: 'auto' },
    mqtt: {
      maxPacketSize: 1024 * 1024,
      serverKeepAlive: 60,
      connectTimeoutMs: 10_000,
      receiveMaximum: 32,
      maxInflight: 32,
      maxQueuedMessages: 1000,
      queueDropPolicy: 'drop_oldest',
      sharedSubscriptionStrategy: 'round_robin',
      maxQueuedBytes: 16 * 1024 * 1024,
      maxNodeQueuedBytes: 256 * 1024 * 1024,
      backlogStallTimeoutMs: 10_000,
      outgoingHighWaterBytes: 8 * 1024 * 1024,
      maxOutgoingBytes: 8 * 1024 * 1024,
      maxConnections: 1_000_000,
      maxSubscriptionsPerClient: 10_000,
      maxSessionExpiry: 7200,
      topicAliasMaximum: 64,
      retainAvailable: true,
      maxTopicLevels: 128,
      maxClientIdLength: 1024,
      maxIdleWithoutKeepaliveMs: 0,
      maxRetainedMessages: 100_000,
      maxRetainedBytes: 256 * 1024 * 1024
    },
    persistence: { mode: 'batch', batchMs: 2, commitBytes: 4 * 1024 * 1024, retryMs: 1000 },
    shards: 4,
    routing: { matchCacheTopics: 65_536, matchCacheBytes: 8 * 1024 * 1024 },
    sys: { intervalMs: 10_000 },
    cluster: {
      ...CLUSTER_DEFAULTS,
      requireSecret: false,
      retainedTombstoneMs: 24 * 3_600_000,
      maxRetainedTombstones: 100_000,
      willGraceMs: 10_000,
      maxReplicatedWills: 1_000_000,
      maxReplicatedWillBytes: 256 * 1024 * 1024,
      seeds: [],
      takeover: { timeoutMs: 3_000, handoverMs: 2_000 },
      control: { transport: 'unix', host: DEFAULT_CONTROL_HOST }
    },
    http: {
      enabled: true,
      host: DEFAULT_HTTP_HOST,
      port: DEFAULT_HTTP_PORT,
      // The dashboard's log stream (src/core/log-tap.ts, src/http/log-stream.ts).
      logTailLines: 1000,
      logTailBytes: 1024 * 1024,
      logStreams: 8,
      logStreamQueueLines: 1000,
      logStreamQueueBytes: 512 * 1024
    }
  }
}

/** The cluster network's tunables out of a cluster config section. */
export function clusterTunablesOf (cluster: ClusterTunables): ClusterTunables {
  const tunables: Record<string, unknown> = {}
  for (const key of CLUSTER_TUNABLE_KEYS) tunables[key] = cluster[key]
  return tunables as unknown as ClusterTunables
}
