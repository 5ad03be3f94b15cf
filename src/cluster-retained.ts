/**
 * Retained messages cluster-wide: connects the retainer's replica (last writer wins by hybrid
 * logical clock and node name, `src/core/routing/retained-replica.ts`) to the other nodes.
 *
 * - Push: each local retained write (set or clear) goes to every running member
 *   (`retained.push`, batched, `cluster-push.ts`).
 * - Pull: when a member comes up (first contact, restart, rejoin, or back after a partition),
 *   this node pulls the member's whole set in pages (`retained.pull`, `cluster-paged-sync.ts`) and
 *   merges it, unless their digests already match; the member does the same the other way, so
 *   both hold the union, newest write per topic. Members are synced one at a time: a node that
 *   joins a cluster pulls the set from one member, the others' digests then match.
 * - Digest: every `cluster.digestIntervalMs` this node asks each member for the digest of its set
 *   (`retained.digest`) and pulls from a member whose digest differs, unless neither digest
 *   changed since the last pull from it (a set that differs for good, say one node at its bound,
 *   is not pulled over and over). A lost push is repaired this way.
 * - Join: when `cluster join` takes this node out of its cluster (the network's 'left' event,
 *   reason `join`), it drops its replicated retained messages, then pulls the new cluster's set
 *   (`dropForJoin`); a join that leaves nothing drops nothing.
 */
import { type Ref } from 'nact'
import { dispatch, query } from '../actors/actor-meters.js'
import type { ClusterNetwork } from '../network/cluster.js'
import type { RetainerMsg } from '../actors/messages.js'
import type { RetainedReplicator } from '../actors/retainer.js'
import { ClusterPusher } from './cluster-push.js'
import { PagedSnapshots, pullPages } from './cluster-paged-sync.js'
import { decodeDigest, decodeRetainedEntries, encodeDigest, encodeRetainedChunk, fitsSyncFrame } from './cluster-sync-codec.js'
import type { Logger } from './core/log.js'
import { ThrottledLogEvent } from './core/log-throttle.js'
import { countDropped } from './core/metrics.js'
import type { RetainedEntry } from './core/routing/retained-replica.js'
import { digestsEqual, type RetainedDigest } from './core/routing/retained-versions.js'

export const RETAINED_PUSH_SERVICE = 'retained.push'
export const RETAINED_PULL_SERVICE = 'retained.pull'
export const RETAINED_DIGEST_SERVICE = 'retained.digest'

/** Bound on one query to the retainer (a snapshot of 100k entries takes well under this). */
const RETAINER_QUERY_MS = 30_000

function digestKey (theirs: RetainedDigest, ours: RetainedDigest): string {
  return `${theirs.count}:${theirs.hi}:${theirs.lo}/${ours.count}:${ours.hi}:${ours.lo}`
}

export class ClusterRetained implements RetainedReplicator {
  private retainer: Ref<RetainerMsg> | undefined
  private readonly pusher: ClusterPusher<RetainedEntry>
  private readonly pages: PagedSnapshots<RetainedEntry>
  /** Members to sync with, in order; the one being synced; those to sync with again after it. */
  private readonly queue = new Set<string>()
  private syncing: string | undefined
  private readonly pullAgain = new Set<string>()
  /** Per member, their digest before the last pull from it and ours after it. */
  private readonly pulledAt = new Map<string, string>()
  private timer: NodeJS.Timeout | undefined
  private readonly log: Logger
  private readonly refusedLog: ThrottledLogEvent

  constructor (private readonly network: ClusterNetwork, log: Logger, private readonly digestIntervalMs: number) {
    this.log = log.child({ actor: 'cluster_retained' })
    this.refusedLog = new ThrottledLogEvent(line => { this.log.warn(line, 'retained_refused') })
    const node = network.name
    this.pusher = new ClusterPusher(network, RETAINED_PUSH_SERVICE, (items, from) => encodeRetainedChunk(items, from, node),
      (member, err) => {
        this.pulledAt.delete(member)
        this.log.debug({ peer: member, err }, 'retained_push_missed')
      })
    this.pages = new PagedSnapshots(async () => await this.ask(replyTo => ({ type: 'replicated_snapshot', replyTo })),
      (items, from) => encodeRetainedChunk(items, from, node))
  }

  /** Wires the retainer and the network; call once the retainer exists, before the network starts. */
  attach (retainer: Ref<RetainerMsg>): void {
    this.retainer = retainer
    const net = this.network
    net.serve(RETAINED_PUSH_SERVICE, async (from, payload) => {
      dispatch(retainer, { type: 'retain_replicated', from, entries: this.decode(payload, from) })
      // Answered once applied: a member's next push waits for it, so the retainer's mailbox holds
      // at most one push per member.
      await this.digest()
      return new Uint8Array(0)
    })
    net.serve(RETAINED_PULL_SERVICE, async (_from, payload) => await this.pages.serve(payload))
    net.serve(RETAINED_DIGEST_SERVICE, async () => encodeDigest(await this.digest()))
    net.addEventListener('node-up', e => { this.pull(e.detail.node) })
    net.addEventListener('left', e => {
      this.pusher.clear()
      this.pulledAt.clear()
      if (e.detail.reason === 'join') void this.dropForJoin()
    })
    this.timer = setInterval(() => { this.checkDigests() }, this.digestIntervalMs)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.pusher.clear()
    this.refusedLog.flush()
  }

  /** A peer's entries; one whose message this node cannot accept is dropped alone (counted, logged). */
  private decode (bytes: Uint8Array, from: string): RetainedEntry[] {
    return decodeRetainedEntries(bytes, from, (topic, reason) => {
      countDropped('retained_refused')
      this.refusedLog.add({ count: 1 }, { reason: 'malformed', detail: reason, from, topic: topic.slice(0, 256) })
    })
  }

  retainedWritten (entries: RetainedEntry[]): void {
    const replicable: RetainedEntry[] = []
    for (const entry of entries) {
      if (entry.message === undefined || fitsSyncFrame(entry.message)) replicable.push(entry)
      else countDropped('retained_oversize')
    }
    this.pusher.add(replicable)
  }

  /**
   * This node left its cluster for another (`cluster join`): drops every replicated retained
   * message (the retainer has the clear before any pull of the new cluster's set, on node-up).
   */
  private async dropForJoin (): Promise<void> {
    try {
      const dropped = await this.ask<number>(replyTo => ({ type: 'replicated_clear', replyTo }))
      this.log.info({ dropped }, 'retained_dropped_for_join')
    } catch (err) {
      this.log.warn({ err }, 'retained_drop_for_join_failed')
    }
  }

  /**
   * Syncs with `member`: queued, one member at a time, so that a node that comes up among many
   * pulls the set once; the others' digests then match and they are skipped.
   */
  private pull (member: string): void {
    if (this.syncing === member) this.pullAgain.add(member)
    else this.queue.add(member)
    if (this.syncing === undefined) void this.drain()
  }

  private async drain (): Promise<void> {
    for (let member = this.next(); member !== undefined; member = this.next()) {
      this.syncing = member
      if (this.network.isRunning(member)) {
        const startedAt = Date.now()
        try {
          const entries = await this.syncWith(member)
          if (entries !== undefined) this.log.info({ peer: member, entries, ms: Date.now() - startedAt }, 'retained_sync')
        } catch (err) {
          this.log.warn({ peer: member, err }, 'retained_sync_failed')
        }
      }
      if (this.pullAgain.delete(member)) this.queue.add(member)
    }
    this.syncing = undefined
  }

  private next (): string | undefined {
    const member = this.queue.values().next().value
    if (member !== undefined) this.queue.delete(member)
    return member
  }

  /** Pulls `member`'s set unless its digest equals this node's; the number of entries pulled, or undefined when skipped. */
  private async syncWith (member: string): Promise<number | undefined> {
    const retainer = this.retainer
    if (retainer === undefined) return undefined
    const [before, ours] = await Promise.all([this.digestOf(member), this.digest()])
    if (digestsEqual(before, ours)) {
      this.pulledAt.set(member, digestKey(before, ours))
      return undefined
    }
    const entries = await pullPages(this.network, member, RETAINED_PULL_SERVICE, async (items) => {
      dispatch(retainer, { type: 'retain_replicated', from: member, entries: this.decode(items, member) })
      // Paces the pull by the retainer: the next page is asked for once this one is applied.
      await this.digest()
    })
    // Their digest from before the snapshot: a write of theirs since then changes it, so the next
    // check pulls again rather than taking the pair for one already pulled.
    this.pulledAt.set(member, digestKey(before, await this.digest()))
    return entries
  }

  /** Pulls from each member whose digest differs from this node's, unless it did not change since the last pull. */
  private checkDigests (): void {
    if (!this.network.started) return
    for (const member of this.network.runningMembers()) {
      if (this.syncing === member || this.queue.has(member)) continue
      void Promise.all([this.digestOf(member), this.digest()]).then(([theirs, ours]) => {
        if (digestsEqual(theirs, ours) || this.pulledAt.get(member) === digestKey(theirs, ours)) return
        this.log.debug({ peer: member, theirs: theirs.count, ours: ours.count }, 'retained_digest_differs')
        this.pull(member)
      }, (err: unknown) => {
        this.log.debug({ peer: member, err }, 'retained_digest_failed')
      })
    }
  }

  private async digestOf (member: string): Promise<RetainedDigest> {
    return decodeDigest(await this.network.request(member, RETAINED_DIGEST_SERVICE, new Uint8Array(0)))
  }

  private async digest (): Promise<RetainedDigest> {
    return await this.ask(replyTo => ({ type: 'replicated_digest', replyTo }))
  }

  private async ask<T> (message: (replyTo: Ref<T>) => RetainerMsg): Promise<T> {
    if (this.retainer === undefined) throw new Error('retainer not attached')
    return await query(this.retainer, message, RETAINER_QUERY_MS)
  }
}
