/**
 * Wills cluster-wide: the wills of a node's clients are published by the other nodes when that
 * node dies. A client's will is published by its own node when its connection drops (the
 * session's rule); this covers the node itself going away.
 *
 * - Each node replicates the wills of its clients (a connected client's, or one waiting for its
 *   delay) to every running member: pushed as they change (`wills.push`, in order per member) and
 *   pulled whole, in pages, when the member comes up (`wills.pull`). A push that arrives while a
 *   pull runs wins over the pulled copy of that client.
 * - A member down for `cluster.willGraceMs` (killed, stopped, or unreachable), or back with a new
 *   incarnation (restarted: its clients are gone), has its wills published by one node: the
 *   running node with the lowest name, which every node computes alike; the others discard them.
 *   A will's delay counts from when the member was seen down. A member back with the same
 *   incarnation within the grace (a partition healed) has nothing published.
 * - Trade-off: a node cut off by a partition for longer than the grace is alive, but its clients'
 *   wills are published on the other side, and it publishes the other side's (each side sees the
 *   other down). Over a kill, each will is published exactly once cluster-wide.
 * - Bound: `cluster.maxReplicatedWills` wills of other nodes held in all, and
 *   `cluster.maxReplicatedWillBytes` of them; past either a new one is not held, and counted
 *   (`will_replica_full`) and logged (`will_not_held`, throttled). A will a peer sends that cannot
 *   be read is dropped alone (`will_refused`).
 */
import type { ClusterNetwork } from '../network/cluster.js'
import type { BrokerContext, WillReplicator } from '../actors/broker-context.js'
import { PublishBatch } from '../actors/publish-batch.js'
import { ClusterPusher } from './cluster-push.js'
import { PagedSnapshots, pullPages } from './cluster-paged-sync.js'
import { decodeWillChanges, encodeWillChunk, fitsSyncFrame, type WillChange } from './cluster-sync-codec.js'
import { encodedSizeBound } from './core/wire/message-codec.js'
import type { CancelTimer, Clock } from './core/clock.js'
import type { Logger } from './core/log.js'
import { ThrottledLogEvent } from './core/log-throttle.js'
import { countDropped, metrics } from './core/metrics.js'
import { willMessage } from './core/channel/session-lifecycle.js'
import type { WillMessage } from './core/session/session-state.js'

export const WILLS_PUSH_SERVICE = 'wills.push'
export const WILLS_PULL_SERVICE = 'wills.pull'

export interface ClusterWillsSettings {
  willGraceMs: number
  maxReplicatedWills: number
  maxReplicatedWillBytes: number
}

/** Bytes a held will is counted for: its message's encoded size bound and its client id. */
function willBytes (clientId: string, will: WillMessage): number {
  return encodedSizeBound(will.message) + 3 * clientId.length
}

/** Wills by client id and the bytes they are counted for. */
class WillSet {
  readonly wills = new Map<string, WillMessage>()
  bytes = 0

  get size (): number { return this.wills.size }

  set (clientId: string, will: WillMessage): void {
    this.delete(clientId)
    this.wills.set(clientId, will)
    this.bytes += willBytes(clientId, will)
  }

  delete (clientId: string): void {
    const old = this.wills.get(clientId)
    if (old === undefined) return
    this.wills.delete(clientId)
    this.bytes -= willBytes(clientId, old)
  }
}

/** The wills of one other node's clients, as this node holds them. */
interface MemberWills {
  wills: WillSet
  /** The set a pull is filling, counted against the bounds too. */
  pulled: WillSet | undefined
  /** When the member was seen down (undefined while up). */
  downAt: number | undefined
  cancelGrace: CancelTimer | undefined
  /** While a pull runs: the clients a push changed meanwhile (their pushed state wins). */
  touched: Set<string> | undefined
  pullAgain: boolean
}

export class ClusterWills implements WillReplicator {
  private readonly local = new Map<string, WillMessage>()
  private readonly members = new Map<string, MemberWills>()
  private readonly pusher: ClusterPusher<WillChange>
  private readonly pages: PagedSnapshots<WillChange>
  /** Delayed wills of down members this node will publish. */
  private readonly delayed = new Set<CancelTimer>()
  private broker: BrokerContext | undefined
  private readonly log: Logger
  private readonly notHeldLog: ThrottledLogEvent

  constructor (private readonly network: ClusterNetwork, log: Logger, private readonly clock: Clock, private readonly settings: ClusterWillsSettings) {
    this.log = log.child({ actor: 'cluster_wills' })
    this.notHeldLog = new ThrottledLogEvent(line => { this.log.warn(line, 'will_not_held') })
    const node = network.name
    this.pusher = new ClusterPusher(network, WILLS_PUSH_SERVICE, (items, from) => encodeWillChunk(items, from, node), (member, err) => {
      // The member is repaired by a pull of the whole set.
      this.log.debug({ peer: member, err }, 'wills_push_missed')
      if (this.network.isRunning(member)) this.pull(member)
    })
    this.pages = new PagedSnapshots<WillChange>(async () => await Promise.resolve([...this.local].map(([clientId, will]) => ({ clientId, will }))),
      (items, from) => encodeWillChunk(items, from, node))
  }

  /** Wires the network; call once the broker's actors exist, before the network starts. */
  attach (broker: BrokerContext): void {
    this.broker = broker
    const net = this.network
    net.serve(WILLS_PUSH_SERVICE, (from, payload) => {
      this.applyPush(from, this.decode(payload, from))
      return new Uint8Array(0)
    })
    net.serve(WILLS_PULL_SERVICE, async (_from, payload) => await this.pages.serve(payload))
    net.addEventListener('node-up', e => { this.memberUp(e.detail.node, e.detail.restarted) })
    net.addEventListener('node-down', e => { this.memberDown(e.detail.node) })
    net.addEventListener('node-left', e => { this.memberGone(e.detail.node, e.detail.forced) })
    net.addEventListener('node-cleaned', e => { this.memberGone(e.detail.node, false) })
    net.addEventListener('left', () => {
      this.pusher.clear()
      for (const node of [...this.members.keys()]) this.memberGone(node, false)
    })
  }

  stop (): void {
    this.pusher.clear()
    for (const member of this.members.values()) member.cancelGrace?.()
    for (const cancel of this.delayed) cancel()
    this.delayed.clear()
    this.notHeldLog.flush()
  }

  willChanged (clientId: string, will: WillMessage | undefined): void {
    // A will too large for a sync frame (above 48 MiB) stays with its own node only.
    const replicated = will !== undefined && fitsSyncFrame(will.message) ? will : undefined
    if (replicated === undefined && !this.local.has(clientId)) return
    if (replicated === undefined) this.local.delete(clientId)
    else this.local.set(clientId, replicated)
    this.pusher.add([{ clientId, will: replicated }])
  }

  /** A peer's wills; one whose message this node cannot accept is dropped alone (counted, logged). */
  private decode (bytes: Uint8Array, from: string): WillChange[] {
    return decodeWillChanges(bytes, from, (clientId, reason) => {
      countDropped('will_refused')
      this.notHeldLog.add({ count: 1 }, { reason: 'malformed', detail: reason, peer: from, clientid: clientId.slice(0, 256) })
    })
  }

  /** Wills of other nodes held, in all, and their bytes. */
  private held (): { count: number, bytes: number } {
    let count = 0
    let bytes = 0
    for (const member of this.members.values()) {
      for (const set of [member.wills, member.pulled]) {
        count += set?.size ?? 0
        bytes += set?.bytes ?? 0
      }
    }
    return { count, bytes }
  }

  private member (node: string): MemberWills {
    let member = this.members.get(node)
    if (member === undefined) {
      member = { wills: new WillSet(), pulled: undefined, downAt: undefined, cancelGrace: undefined, touched: undefined, pullAgain: false }
      this.members.set(node, member)
    }
    return member
  }

  /** Sets or clears a client's will in `wills`; a new one past the bound is not held (counted, logged). */
  private hold (node: string, wills: WillSet, change: WillChange): void {
    wills.delete(change.clientId)
    if (change.will === undefined) return
    const { maxReplicatedWills, maxReplicatedWillBytes } = this.settings
    const held = this.held()
    if (held.count >= maxReplicatedWills || held.bytes + willBytes(change.clientId, change.will) > maxReplicatedWillBytes) {
      countDropped('will_replica_full')
      this.notHeldLog.add({ count: 1 }, { reason: 'full', peer: node, max_replicated_wills: maxReplicatedWills, max_replicated_will_bytes: maxReplicatedWillBytes })
      return
    }
    wills.set(change.clientId, change.will)
  }

  private applyPush (from: string, changes: WillChange[]): void {
    const member = this.member(from)
    for (const change of changes) {
      member.touched?.add(change.clientId)
      this.hold(from, member.wills, change)
    }
  }

  private memberUp (node: string, restarted: boolean): void {
    const member = this.member(node)
    member.cancelGrace?.()
    member.cancelGrace = undefined
    // Restarted: the clients it had are gone, their wills are due now.
    if (restarted) this.publishFor(node, member, 'restarted')
    member.downAt = undefined
    this.pull(node)
  }

  private memberDown (node: string): void {
    const member = this.member(node)
    member.downAt ??= this.clock.now()
    member.cancelGrace?.()
    member.cancelGrace = this.clock.schedule(this.settings.willGraceMs, () => {
      member.cancelGrace = undefined
      if (!this.network.isRunning(node)) this.publishFor(node, member, 'down')
    })
  }

  /** A member left or was removed: a forced removal of a member that is down publishes its wills, else they are dropped. */
  private memberGone (node: string, forced: boolean): void {
    const member = this.members.get(node)
    if (member === undefined) return
    member.cancelGrace?.()
    if (forced && member.downAt !== undefined) this.publishFor(node, member, 'removed')
    this.members.delete(node)
  }

  /** Pulls `node`'s whole will set, replacing what is held (clients pushed meanwhile keep their pushed state). */
  private pull (node: string): void {
    const member = this.member(node)
    if (member.touched !== undefined) {
      member.pullAgain = true
      return
    }
    const touched = member.touched = new Set<string>()
    const pulled = member.pulled = new WillSet()
    void pullPages(this.network, node, WILLS_PULL_SERVICE, async (items) => {
      for (const change of this.decode(items, node)) {
        if (!touched.has(change.clientId)) this.hold(node, pulled, change)
      }
      await Promise.resolve()
    }).then(count => {
      for (const clientId of touched) {
        const will = member.wills.wills.get(clientId)
        if (will === undefined) pulled.delete(clientId)
        else pulled.set(clientId, will)
      }
      member.wills = pulled
      this.log.debug({ peer: node, wills: count }, 'wills_sync')
    }, (err: unknown) => {
      this.log.warn({ peer: node, err }, 'wills_sync_failed')
    }).finally(() => {
      member.touched = undefined
      member.pulled = undefined
      if (member.pullAgain && this.network.isRunning(node) && this.members.get(node) === member) {
        member.pullAgain = false
        this.pull(node)
      }
    })
  }

  /**
   * `node`'s clients are gone: the running node with the lowest name publishes their wills (each
   * after what is left of its delay since `node` was seen down); every other node discards them.
   */
  private publishFor (node: string, member: MemberWills, reason: 'down' | 'restarted' | 'removed'): void {
    const wills = member.wills.wills
    member.wills = new WillSet()
    if (wills.size === 0) return
    // `node` itself may be up again (restarted): it is not a candidate, it no longer has them.
    const publisher = [this.network.name, ...this.network.runningMembers()].filter(name => name !== node).sort()[0]
    if (publisher !== this.network.name) {
      this.log.info({ peer: node, reason, wills: wills.size, publisher }, 'wills_left_to_peer')
      return
    }
    const now = this.clock.now()
    const downAt = member.downAt ?? now
    this.log.info({ peer: node, reason, wills: wills.size }, 'wills_publishing')
    const due: Array<[string, WillMessage]> = []
    for (const [clientId, will] of wills) {
      const waitMs = will.delay * 1000 - (now - downAt)
      if (waitMs <= 0) {
        due.push([clientId, will])
        continue
      }
      const cancel = this.clock.schedule(waitMs, () => {
        this.delayed.delete(cancel)
        this.publish(node, [[clientId, will]])
      })
      this.delayed.add(cancel)
    }
    this.publish(node, due)
  }

  private publish (node: string, wills: Array<[string, WillMessage]>): void {
    const broker = this.broker
    if (broker === undefined || wills.length === 0) return
    const batch = new PublishBatch(broker)
    const now = this.clock.now()
    for (const [clientId, will] of wills) {
      const message = willMessage(will, now)
      batch.add(message)
      metrics.willsPublishedForDownNodes++
      this.log.info({ peer: node, clientid: clientId, topic: message.topic }, 'will_published')
    }
    batch.flush()
  }
}
