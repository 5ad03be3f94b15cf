/**
 * The single-node scenarios: what each one runs, and which figures of a run go into the table.
 */
import type { PeerSockets } from './brokers.js'
import type { BrokerAddress, PublisherSpec, SubscriberSpec, ThroughputResult, ThroughputWorkload, TopicRotation } from './workload.js'
import { buildWildcardMix } from './wildcard-mix.js'

export type ScenarioId = 'fan-in' | 'pairs-qos0' | 'pairs-qos1' | 'paced-qos0' | 'paced-qos1' | 'fan-out' | 'wildcard' | 'wildcard-mixed' | 'subscribe-mixed' | 'idle-5k' | 'idle-19k' | 'tls-connects' | 'tls-qos0'

/** One figure of a scenario, shown as one table row. */
export interface Metric {
  key: string
  label: string
  higherIsBetter: boolean
  /** Decimal places in the table. */
  digits: number
  /** Whether a saturated generator could have held this figure back (not so for memory). */
  generatorSensitive: boolean
}

/** What every scenario builder needs from the command line. */
export interface LoadSettings {
  seconds: number
  payloadBytes: number
  maxMessages: number
  window: number
  inflight: number
  pacedRate: number
}

export interface ThroughputScenario {
  kind: 'throughput'
  id: ScenarioId
  title: string
  metrics: Metric[]
  /** Socket setting of the peer brokers: Nagle on for throughput, TCP_NODELAY for latency. */
  peerSockets: PeerSockets
  /** The floor runs it too, relaying (bench/bare-socket-server.ts): the latency rows. */
  floor?: boolean
  build: (settings: LoadSettings, publishTo: BrokerAddress, subscribeTo: BrokerAddress) => ThroughputWorkload
  figures: (result: ThroughputResult) => Record<string, number>
}

export interface IdleScenario {
  kind: 'idle'
  id: ScenarioId
  title: string
  metrics: Metric[]
  connections: number
}

/**
 * The same load once over plain TCP and once over TLS on one broker process (its plain and its TLS
 * listener): the figures of both and their ratio.
 */
export interface TlsScenario {
  kind: 'tls'
  id: ScenarioId
  title: string
  metrics: Metric[]
  load:
  | { kind: 'connects', connections: number }
  | { kind: 'throughput', build: (settings: LoadSettings, address: BrokerAddress) => ThroughputWorkload }
}

export type Scenario = ThroughputScenario | IdleScenario | TlsScenario

/** Connections each TLS connect run opens (a full handshake each), plain and TLS. */
export const TLS_CONNECTIONS = 5_000

const PAIRS = 10
const WILDCARD_FILTERS = 10_000
/** The mixed wildcard workload: subscriber clients (100 filters each) and publishers. */
export const MIX_CLIENTS = 100
export const MIX_PUBLISHERS = 10
/** Seeds the publishers' topic draws, so every run and broker gets the same sequence. */
const MIX_SEED = 12
const ROUTE_TIMEOUT_MS = 10_000
/** Left out of the figures at the start of each run; at most a fifth of the run. */
const WARMUP_SECONDS = 1

const MSG_PER_SECOND: Metric = { key: 'msgPerSecond', label: 'msg/s delivered', higherIsBetter: true, digits: 0, generatorSensitive: true }
const throughputFigures = (result: ThroughputResult): Record<string, number> => ({ msgPerSecond: result.deliveredPerSecond })

/** The rows of a TLS scenario: the figure over plain TCP, over TLS, and TLS ÷ plain. */
function transportMetrics (label: string): Metric[] {
  return [
    { key: 'plain', label: `plain TCP: ${label}`, higherIsBetter: true, digits: 0, generatorSensitive: true },
    { key: 'tls', label: `TLS: ${label}`, higherIsBetter: true, digits: 0, generatorSensitive: true },
    { key: 'tlsToPlain', label: 'TLS ÷ plain', higherIsBetter: true, digits: 2, generatorSensitive: true }
  ]
}

const fixedTopic = (topic: string): TopicRotation => ({ prefix: topic, first: 0, count: 1, digits: 0, suffix: '' })

function workload (settings: LoadSettings, publishTo: BrokerAddress, subscribeTo: BrokerAddress, qos: 0 | 1, publishers: PublisherSpec[], subscribers: SubscriberSpec[], ratePerSecond: number | null): ThroughputWorkload {
  return {
    kind: 'throughput',
    publishTo,
    subscribeTo,
    qos,
    payloadBytes: settings.payloadBytes,
    seconds: settings.seconds,
    warmupSeconds: Math.min(WARMUP_SECONDS, settings.seconds / 5),
    maxMessages: ratePerSecond === null ? settings.maxMessages : Math.min(settings.maxMessages, Math.ceil(ratePerSecond * settings.seconds)),
    ratePerSecond,
    window: settings.window,
    inflight: settings.inflight,
    publishers,
    subscribers,
    routeTimeoutMs: ROUTE_TIMEOUT_MS
  }
}

/** 10 publishers on `pair/<k>`, each read by its own subscriber. */
export function pairs (settings: LoadSettings, publishTo: BrokerAddress, subscribeTo: BrokerAddress, qos: 0 | 1, ratePerSecond: number | null): ThroughputWorkload {
  const range = Array.from({ length: PAIRS }, (_, k) => k)
  return workload(settings, publishTo, subscribeTo, qos,
    range.map(k => ({ topics: fixedTopic(`pair/${k}`) })),
    range.map(k => ({ filters: [`pair/${k}`], expects: [k] })),
    ratePerSecond)
}

function fanIn (settings: LoadSettings, publishTo: BrokerAddress, subscribeTo: BrokerAddress): ThroughputWorkload {
  const range = Array.from({ length: PAIRS }, (_, p) => p)
  return workload(settings, publishTo, subscribeTo, 0,
    range.map(p => ({ topics: fixedTopic(`bench/${p}`) })),
    [{ filters: ['bench/#'], expects: range }],
    null)
}

function fanOut (settings: LoadSettings, publishTo: BrokerAddress, subscribeTo: BrokerAddress): ThroughputWorkload {
  return workload(settings, publishTo, subscribeTo, 0,
    [{ topics: fixedTopic('fanout') }],
    Array.from({ length: PAIRS }, () => ({ filters: ['fanout'], expects: [0] })),
    null)
}

/**
 * 10k distinct filters `w/<i>/+` (1000 per subscriber); publisher k cycles through the topics
 * `w/<i>/x` of subscriber k's filters, so every publish matches exactly one subscription.
 */
function wildcard (settings: LoadSettings, publishTo: BrokerAddress, subscribeTo: BrokerAddress): ThroughputWorkload {
  const perPair = WILDCARD_FILTERS / PAIRS
  const digits = String(WILDCARD_FILTERS - 1).length
  const range = Array.from({ length: PAIRS }, (_, k) => k)
  return workload(settings, publishTo, subscribeTo, 0,
    range.map(k => ({ topics: { prefix: 'w/', first: k * perPair, count: perPair, digits, suffix: '/x' } })),
    range.map(k => ({
      filters: Array.from({ length: perPair }, (_, j) => `w/${String(k * perPair + j).padStart(digits, '0')}/+`),
      expects: [k]
    })),
    null)
}

/**
 * The mixed wildcard workload (`wildcard-mix.ts`) with every client on `subscribeTo` and every
 * publisher on `publishTo`, unless `publisherAddress`/`subscriberAddress` place them per index.
 */
export function wildcardMixed (settings: LoadSettings, publishTo: BrokerAddress, subscribeTo: BrokerAddress, publisherAddress?: (p: number) => BrokerAddress, subscriberAddress?: (c: number) => BrokerAddress): ThroughputWorkload {
  const mix = buildWildcardMix(MIX_CLIENTS)
  const publishers: PublisherSpec[] = Array.from({ length: MIX_PUBLISHERS }, (_, p) => publisherAddress === undefined ? { topics: null } : { topics: null, address: publisherAddress(p) })
  const subscribers: SubscriberSpec[] = mix.filters.map((filters, c) => subscriberAddress === undefined ? { filters, expects: [] } : { filters, expects: [], address: subscriberAddress(c) })
  return { ...workload(settings, publishTo, subscribeTo, 0, publishers, subscribers, null), topicSet: { topics: mix.topics, owners: mix.owners, seed: MIX_SEED } }
}

const SUBSCRIBE_10K: Metric = { key: 'subscribeMs', label: 'subscribe 10k filters, ms', higherIsBetter: false, digits: 0, generatorSensitive: true }
const wildcardFigures = (result: ThroughputResult): Record<string, number> => ({ msgPerSecond: result.deliveredPerSecond, subscribeMs: result.subscribeMs })

export const SCENARIOS: readonly Scenario[] = [
  { kind: 'throughput', id: 'fan-in', title: 'fan-in: 10 publishers → 1 subscriber on bench/#, QoS 0', metrics: [MSG_PER_SECOND], peerSockets: 'default', build: fanIn, figures: throughputFigures },
  { kind: 'throughput', id: 'pairs-qos0', title: '10 one-to-one pairs, QoS 0', metrics: [MSG_PER_SECOND], peerSockets: 'default', build: (s, p, q) => pairs(s, p, q, 0, null), figures: throughputFigures },
  { kind: 'throughput', id: 'pairs-qos1', title: '10 one-to-one pairs, QoS 1', metrics: [MSG_PER_SECOND], peerSockets: 'default', build: (s, p, q) => pairs(s, p, q, 1, null), figures: throughputFigures },
  ...([0, 1] as const).map((qos): ThroughputScenario => ({
    kind: 'throughput',
    id: qos === 0 ? 'paced-qos0' : 'paced-qos1',
    title: `10 pairs paced, QoS ${qos} (peers with TCP_NODELAY)`,
    peerSockets: 'nodelay',
    floor: true,
    metrics: [
      { key: 'p50', label: 'p50 latency, ms', higherIsBetter: false, digits: 3, generatorSensitive: true },
      { key: 'p99', label: 'p99 latency, ms', higherIsBetter: false, digits: 3, generatorSensitive: true }
    ],
    build: (s, p, q) => pairs(s, p, q, qos, s.pacedRate),
    figures: result => ({ p50: result.latency.p50Ms, p99: result.latency.p99Ms })
  })),
  { kind: 'throughput', id: 'fan-out', title: 'fan-out: 1 publisher → 10 subscribers, QoS 0', metrics: [MSG_PER_SECOND], peerSockets: 'default', build: fanOut, figures: throughputFigures },
  {
    kind: 'throughput',
    id: 'wildcard',
    title: '10k wildcard subscriptions w/<i>/+, each publish matches one, QoS 0',
    peerSockets: 'default',
    metrics: [MSG_PER_SECOND, SUBSCRIBE_10K],
    build: wildcard,
    figures: wildcardFigures
  },
  {
    kind: 'throughput',
    id: 'wildcard-mixed',
    title: 'mixed wildcards: 10k filters (exact, +, #) on 100 clients, 26.5k random topics, each publish matches one, QoS 0',
    peerSockets: 'default',
    metrics: [MSG_PER_SECOND, SUBSCRIBE_10K],
    build: (s, p, q) => wildcardMixed(s, p, q),
    figures: wildcardFigures
  },
  {
    kind: 'throughput',
    id: 'subscribe-mixed',
    title: 'subscribe only: the mixed workload\'s 10k filters, one SUBSCRIBE of 100 per client, 100 clients at once; then twice more by new clients',
    peerSockets: 'default',
    // The relay floor answers each SUBSCRIBE with its SUBACK: what a Node process costs for it.
    floor: true,
    metrics: [
      { ...SUBSCRIBE_10K, label: 'subscribe 10k filters in a fresh broker, ms' },
      { key: 'warmSubscribeMs', label: 'the third round (warm), ms', higherIsBetter: false, digits: 0, generatorSensitive: true }
    ],
    build: (s, p, q) => ({ ...wildcardMixed(s, p, q), subscribeOnly: true }),
    figures: result => ({ subscribeMs: result.subscribeMs, warmSubscribeMs: result.warmSubscribeMs ?? Number.NaN })
  },
  {
    kind: 'tls',
    id: 'tls-connects',
    title: `${TLS_CONNECTIONS.toLocaleString('en-US')} connects (CONNECT→CONNACK, 100 at a time), plain TCP vs TLS`,
    metrics: transportMetrics('connects/s'),
    load: { kind: 'connects', connections: TLS_CONNECTIONS }
  },
  {
    kind: 'tls',
    id: 'tls-qos0',
    title: '10 one-to-one pairs, QoS 0, plain TCP vs TLS',
    metrics: transportMetrics('msg/s delivered'),
    load: { kind: 'throughput', build: (s, address) => pairs(s, address, address, 0, null) }
  },
  ...[5_000, 19_000].map((connections): IdleScenario => ({
    kind: 'idle',
    id: connections === 5_000 ? 'idle-5k' : 'idle-19k',
    title: `${connections.toLocaleString('en-US')} idle connections`,
    connections,
    metrics: [
      { key: 'connectsPerSecond', label: 'connects/s', higherIsBetter: true, digits: 0, generatorSensitive: true },
      { key: 'rssPerConnectionKb', label: 'broker RSS per connection, KB', higherIsBetter: false, digits: 2, generatorSensitive: false }
    ]
  }))
]
