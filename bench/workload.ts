/**
 * What the harness asks a load generator process to do, and what the generator reports back.
 * The harness writes one workload as a JSON line on the generator's stdin; the generator prints
 * `RESULT <json>` on stdout (and `READY <json>` first for workloads the harness steps through).
 */
import type { RestartBuildWorkload, RestartCheckWorkload } from './restart-workload.js'
import type { TopicSet } from './wildcard-mix.js'

export type QoS = 0 | 1

export interface BrokerAddress {
  host: string
  port: number
  /** Connect with TLS, trusting this CA (a PEM file); plain TCP when absent. */
  tls?: { caFile: string }
}

/**
 * The topics one publisher cycles through: message `seq` goes to
 * `prefix + pad(first + seq % count, digits) + suffix`. With `digits` 0 the topic is `prefix + suffix`
 * (and `count` must be 1). Fixed width keeps every packet of a publisher the same size.
 */
export interface TopicRotation {
  prefix: string
  first: number
  count: number
  digits: number
  suffix: string
}

export interface PublisherSpec {
  /** The topics it cycles through; null: topics drawn from the workload's `topicSet`. */
  topics: TopicRotation | null
  /** The node it connects to, when not the workload's `publishTo`. */
  address?: BrokerAddress
}

export interface SubscriberSpec {
  filters: string[]
  /**
   * Indexes (into `publishers`) of the publishers whose every message this subscriber must receive.
   * Empty with a `topicSet`: there, the subscriber receives the messages on the topics it owns.
   */
  expects: number[]
  /** The node it connects to, when not the workload's `subscribeTo`. */
  address?: BrokerAddress
}

/**
 * Publishers whose `topics` is null send each message to a topic drawn uniformly at random from
 * `topics` (a PRNG seeded with `seed` and the publisher index), and exactly the subscriber
 * `owners[t]` must receive it, on that topic.
 */
export interface SeededTopicSet extends TopicSet {
  seed: number
}

/** N publishers and M subscribers, paced or flat out, bounded in messages and time. */
export interface ThroughputWorkload {
  kind: 'throughput'
  publishTo: BrokerAddress
  subscribeTo: BrokerAddress
  qos: QoS
  payloadBytes: number
  seconds: number
  /** The first part of `seconds` that the rate and latency figures leave out (JIT and buffer warm-up). */
  warmupSeconds: number
  /** Total messages over all publishers; the run stops at this count or at `seconds`, whichever is first. */
  maxMessages: number
  /** Total publish rate over all publishers in msg/s; null publishes as fast as the windows allow. */
  ratePerSecond: number | null
  /** Most messages a publisher may be ahead of the slowest subscriber that expects its messages. */
  window: number
  /** Most QoS 1 PUBLISHes a publisher may have without PUBACK. */
  inflight: number
  publishers: PublisherSpec[]
  subscribers: SubscriberSpec[]
  /** Bound on the wait until a probe from every publisher reached every subscriber that expects it. */
  routeTimeoutMs: number
  /** Subscribers connect with clean session 0, so the broker records each QoS 1 delivery to them (as persistent). */
  persistentSubscribers?: boolean
  /** Where publishers with null `topics` publish, and who receives what. */
  topicSet?: SeededTopicSet
  /**
   * Connect and subscribe only (`subscribe-only.ts`): the subscribers' filters in a fresh broker,
   * then twice more by new clients once those before left; nothing is published.
   */
  subscribeOnly?: boolean
}

/** Latency from publish to delivery of the messages sent after the warm-up. */
export interface LatencySummary {
  count: number
  p50Ms: number
  p99Ms: number
  maxMs: number
}

export interface ThroughputResult {
  kind: 'throughput'
  published: number
  /** Deliveries owed: each message times the subscribers that expect its publisher. */
  expected: number
  /** Distinct messages received, summed over subscribers. */
  delivered: number
  lost: number
  duplicated: number
  outOfOrder: number
  /**
   * Messages a subscriber received from a publisher it does not expect, or with an unreadable
   * payload; with a topic set, also messages on a topic the subscriber does not own or on another
   * topic than the one published to.
   */
  unexpected: number
  /** QoS 1 PUBLISHes still without PUBACK when the run ended. */
  unacked: number
  /** From the end of the warm-up (or the first publish, for runs shorter than it) to the last delivery. */
  durationMs: number
  /** The same window in epoch milliseconds, and the deliveries within it, to relate broker CPU to. */
  measuredFromEpochMs: number
  measuredToEpochMs: number
  measuredDeliveries: number
  deliveredPerSecond: number
  /** Distinct messages each subscriber received, in `subscribers` order. */
  perSubscriber: number[]
  latency: LatencySummary
  connectMs: number
  /** Share of one core the generator process used while measuring (0…1); near 1 the generator may be the limit. */
  generatorBusy: number
  subscribeMs: number
  /** `subscribeOnly`: the third round's subscribe time (the same filters, new clients, the code warm). */
  warmSubscribeMs?: number
  routesReadyMs: number
  /** Connection errors and unexpected closes seen during the run. */
  errors: string[]
}

/** Opens many connections that then stay idle until the harness writes `close`. */
export interface IdleWorkload {
  kind: 'idle'
  connectTo: BrokerAddress
  connections: number
  /** CONNECTs awaiting CONNACK at once. */
  concurrency: number
  clientIdPrefix: string
  /** Bound on the whole connect phase and on the hold. */
  timeoutMs: number
}

export interface IdleReady {
  connected: number
  failed: number
  /** Epoch milliseconds of the first connect attempt and of the last CONNACK. */
  startedAt: number
  finishedAt: number
  firstError: string | null
  /** Share of one core this generator process used while connecting (0…1). */
  generatorBusy: number
}

/** Subscribe on one node, publish on another: time from SUBSCRIBE to the first delivery, repeated. */
export interface ConvergenceWorkload {
  kind: 'convergence'
  publishTo: BrokerAddress
  subscribeTo: BrokerAddress
  trials: number
  /** Gap between publishes of the looping publisher. */
  publishIntervalMs: number
  trialTimeoutMs: number
  topicPrefix: string
}

export interface ConvergenceResult {
  kind: 'convergence'
  samplesMs: number[]
  failures: number
  errors: string[]
}

/**
 * Holds `routes` distinct subscriptions on one node, reports READY, then on the harness's
 * `probe <host> <port>` line publishes to a sample of those topics on the given (joining) node until
 * each sample is delivered.
 */
export interface RouteSyncWorkload {
  kind: 'route-sync'
  subscribeTo: BrokerAddress
  routes: number
  connections: number
  topicPrefix: string
  samples: number
  probeIntervalMs: number
  timeoutMs: number
}

export interface RouteSyncReady {
  /** Epoch milliseconds of the first SUBSCRIBE. */
  subscribeStartedAt: number
  /** Milliseconds until every SUBACK arrived. */
  subscribeMs: number
}

export interface RouteSyncResult {
  kind: 'route-sync'
  /** Epoch milliseconds at which every sampled route delivered, or null if the timeout ran out. */
  allDeliveredAt: number | null
  delivered: number
  samples: number
  errors: string[]
}

/**
 * Delivered-once throughput: QoS 1 publishers on one node publish on the topics
 * `bench-shared/<0 .. topics-1>` in turn, and subscribers (each on its own node and filter) of
 * which exactly one must get each message: the members of one shared subscription group, or plain
 * subscribers of one topic each. Bounded by `seconds` and `maxMessages`.
 */
export interface SharedWorkload {
  kind: 'shared'
  publishTo: BrokerAddress
  subscribers: Array<{ address: BrokerAddress, filter: string }>
  topics: number
  publishers: number
  payloadBytes: number
  seconds: number
  /** The first part of `seconds` the rate leaves out (JIT warm-up of the nodes' paths). */
  warmupSeconds: number
  maxMessages: number
  /** QoS 1 PUBLISHes a publisher may have without PUBACK. */
  inflight: number
  /** Most messages all publishers together may be ahead of the deliveries (so no session queue overflows). */
  window: number
  routeTimeoutMs: number
}

export interface SharedResult {
  kind: 'shared'
  published: number
  /** Distinct messages received by some subscriber. */
  delivered: number
  /** Copies beyond the first (a group member and another, or one twice). */
  duplicated: number
  lost: number
  /** Distinct messages per second, from the end of the warm-up to the last first delivery. */
  deliveredPerSecond: number
  /** That window in epoch milliseconds, and the distinct messages delivered in it. */
  measuredFromEpochMs: number
  measuredToEpochMs: number
  measuredDeliveries: number
  perSubscriber: number[]
  errors: string[]
}

export type Workload = ThroughputWorkload | IdleWorkload | ConvergenceWorkload | RouteSyncWorkload | SharedWorkload | RestartBuildWorkload | RestartCheckWorkload

/** CPU time (user + system) this process has used, in milliseconds. */
export function cpuMs (): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}

/** Milliseconds since the epoch with sub-millisecond resolution, comparable across processes. */
export function epochNow (): number {
  return performance.timeOrigin + performance.now()
}
