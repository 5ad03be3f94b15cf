/**
 * Connects the cluster network (network/) to the broker's actors: the route table's local route
 * changes are replicated, remote route events are applied through the route table actor, the
 * trie shards forward to remote nodes through it, and messages forwarded by peers are delivered
 * to local subscribers only (one hop, never forwarded again, except a shared-subscription copy
 * whose members here are gone: see trie-shard.ts); the node's delivery budget meters
 * them (peers get no credit while it is under pressure), and every message the network drops is
 * counted per reason in the metrics. It also serves `meshmq ctl`.
 *
 * With persistence (`persistence.mode` other than off), the QoS 1/2 messages queued for peers are
 * kept in the store (cluster-forward-journal.ts) and queued again when the node starts, and the
 * acks this node sends its peers for what they forwarded wait for the group commit: a peer
 * releases a message only once it is durable here.
 */
import { type Ref } from 'nact'
import { dispatch, query } from '../actors/actor-meters.js'
import { createClusterNetwork, type ClusterNetwork } from '../network/cluster.js'
import type { InboundPressure } from '../network/forward-credit.js'
import type { ClusterLogger } from '../network/logger.js'
import { clusterTunablesOf, type BrokerConfig } from './core/config/config.js'
import type { ClusterStatus } from './core/cluster-status.js'
import type { Logger } from './core/log.js'
import type { RouteReplicator } from '../actors/route-table.js'
import type { RouteDump, ShardStats } from '../actors/messages.js'
import type { RemoteForwarder } from '../actors/trie-shard.js'
import type { BrokerContext } from '../actors/broker-context.js'
import { PublishBatch } from '../actors/publish-batch.js'
import { countDropped, metrics } from './core/metrics.js'
import type { Message } from './core/mqtt/message.js'
import type { ClusterAdmin } from './control-server.js'
import { ClusterForwardJournal, type RestoredForward } from './cluster-forward-journal.js'
import type { GroupCommit } from './store/group-commit.js'

/** What the bridge needs of the node's store: its one writer, for the forward journal and the acks to peers. */
export interface ClusterPersistence {
  commit: Pick<GroupCommit, 'putNew' | 'del' | 'appended' | 'afterDurable'>
  /** A fresh record sequence number (shared with the delivery records). */
  nextSeq: () => number
  /** The messages queued for other nodes read back at start (`f/` records). */
  forwards: readonly RestoredForward[]
}

/** Bound on the shard queries of `settle` (a shard that does not answer in time: see `settle`). */
const SETTLE_QUERY_TIMEOUT_MS = 1_000

/**
 * The network layer names the peer of an event `node`, which is also this node's base log field:
 * rename it to `peer` so a line never carries the key twice.
 */
function peerFieldLogger (log: Logger): ClusterLogger {
  const rename = (fields: Record<string, unknown>): Record<string, unknown> => {
    if (!('node' in fields)) return fields
    const { node, ...rest } = fields
    return { peer: node, ...rest }
  }
  return {
    info: (fields, msg) => log.info(rename(fields), msg),
    warn: (fields, msg) => log.warn(rename(fields), msg),
    debug: (fields, msg) => log.debug(rename(fields), msg),
    error: (fields, msg) => log.error(rename(fields), msg)
  }
}

export class ClusterBridge implements RouteReplicator, RemoteForwarder, ClusterAdmin {
  readonly network: ClusterNetwork
  private broker: BrokerContext | undefined
  private inbound: PublishBatch | undefined
  private readonly log: Logger
  private readonly persistence: ClusterPersistence | undefined
  private readonly journal: ClusterForwardJournal | undefined
  /** What the journal gives back to the links at start (then forgotten). */
  private forwards: readonly RestoredForward[]
  private stopping = false

  /**
   * `pressure`: the node's delivery budget; while it is pressured, peers hold their forwards back.
   * `persistence`: the node's store, when it keeps one.
   */
  constructor (config: BrokerConfig, log: Logger, pressure?: InboundPressure, persistence?: ClusterPersistence) {
    this.log = log.child({ actor: 'cluster' })
    this.persistence = persistence
    this.forwards = persistence?.forwards ?? []
    this.journal = persistence === undefined || config.persistence.mode === 'off'
      ? undefined
      : new ClusterForwardJournal(persistence.commit, persistence.nextSeq, this.log)
    this.network = createClusterNetwork({
      ...clusterTunablesOf(config.cluster),
      name: config.node.name,
      dataDir: config.node.dataDir,
      listenHost: config.cluster.host,
      port: config.cluster.port,
      seeds: config.cluster.seeds,
      logger: peerFieldLogger(this.log),
      settle: (done) => { this.settle(done) },
      ...(pressure === undefined ? {} : { pressure }),
      ...(this.journal === undefined ? {} : { journal: this.journal })
    })
    this.network.addEventListener('messages-dropped', e => { countDropped(e.detail.reason, e.detail.count) })
  }

  /** Wires network events to the actors; call once the actors exist, before `start()`. */
  attach (broker: BrokerContext): void {
    this.broker = broker
    this.inbound = new PublishBatch(broker, true)
    const { routeTable } = broker
    const net = this.network
    net.addEventListener('routes-replaced', e => dispatch(routeTable, { type: 'remote_routes_replaced', node: e.detail.node, filters: e.detail.filters }))
    net.addEventListener('routes-changed', e => dispatch(routeTable, { type: 'remote_routes_changed', node: e.detail.node, added: e.detail.added, removed: e.detail.removed }))
    net.addEventListener('node-left', e => dispatch(routeTable, { type: 'remote_node_removed', node: e.detail.node }))
    net.addEventListener('node-cleaned', e => dispatch(routeTable, { type: 'remote_node_removed', node: e.detail.node }))
    net.addEventListener('left', () => dispatch(routeTable, { type: 'remote_nodes_cleared' }))
    net.addEventListener('message', e => {
      const batch = this.inbound!
      metrics.messagesFromPeers += e.detail.messages.length
      for (const message of e.detail.messages) batch.add(message)
      batch.flush()
    })
  }

  /**
   * Calls `done` once the broker has taken in what peers forwarded so far: every trie shard has
   * routed it (a stats query is answered in mailbox order, after the batches sent before it) and
   * the sessions have had their turn to queue it, so the delivery budget's pressure shows it; with
   * persistence, once what the shards recorded for it (deliveries to persistent sessions) is
   * committed too, so the ack the network then sends covers only what is durable here. A shard that
   * does not answer within its bound: without persistence the settle goes on; with it, it asks
   * again (the network keeps the link up meanwhile).
   */
  private settle (done: () => void): void {
    const shards = this.broker?.shards ?? []
    void Promise.allSettled(shards.map(async shard => await query(shard, (replyTo: Ref<ShardStats>) => ({ type: 'stats', replyTo }), SETTLE_QUERY_TIMEOUT_MS)))
      .then((answers) => {
        const commit = this.persistence?.commit
        if (commit === undefined) {
          setImmediate(done)
        } else if (answers.some(answer => answer.status === 'rejected')) {
          // A shard too busy to answer in time has not routed everything yet: ask again.
          if (!this.stopping) this.settle(done)
        } else {
          commit.afterDurable(commit.appended, () => { setImmediate(done) })
        }
      })
  }

  /** Queues again what the journal kept for peers at the last run, then starts the network. */
  async start (): Promise<void> {
    if (this.journal !== undefined) this.journal.restore(this.forwards, this.network)
    this.forwards = []
    await this.network.start()
  }
  async stop (): Promise<void> {
    this.stopping = true
    await this.network.stop()
  }

  addLocalRoute (filter: string): void { this.network.addLocalRoute(filter) }
  removeLocalRoute (filter: string): void { this.network.removeLocalRoute(filter) }

  forward (node: string, messages: Message[]): void {
    // Drops are counted from the network's 'messages-dropped' events.
    metrics.messagesForwarded += this.network.forward(node, messages).queued
  }

  async status (): Promise<ClusterStatus> { return await Promise.resolve(this.network.status()) }

  /**
   * `cluster join`: when this node leaves its cluster for another, each cluster-wide part drops
   * what it holds of the old one on the network's 'left' event (routes here, retained messages and
   * wills in their own wiring) and syncs from the new one; a join that leaves nothing (the node is
   * a member already, or the address names this node) changes nothing.
   */
  async join (node: string): Promise<void> {
    await this.network.join(node, { signal: AbortSignal.timeout(30_000) })
  }

  async routes (): Promise<RouteDump> {
    if (this.broker === undefined) return []
    return await query(this.broker.routeTable, (replyTo: Ref<RouteDump>) => ({ type: 'dump', replyTo }), 5000)
  }

  async leave (): Promise<void> { await this.network.leave() }
  async forceLeave (node: string, requestedBy: string): Promise<void> { await this.network.forceLeave(node, { requestedBy }) }
  usesDefaultSecret (): boolean { return this.network.usesDefaultSecret }
}
