/**
 * Accounting of every forwarded message the cluster network drops: one counter per reason in the
 * forward stats, a `messages-dropped` notice for the broker's metrics, and a throttled log line
 * whose counts are exact (`ThrottledLogEvent`).
 *
 *   node_down            QoS 0 for a peer that is down (by design)            message_dropped
 *   overflow, oversize   the peer's queue is full / the message is too large  forward_failed
 *   removed              still queued when the peer left or this node left    forward_failed
 *   unknown_node         for a node that is not a member                      (counted only)
 *   rejected_by_peer     the peer refused it (it cannot accept it)            message_dropped
 *   malformed_from_peer  a message from a peer this node refused              message_dropped
 *   undeliverable        first unacknowledged on `MAX_FORWARD_ATTEMPTS` lost  message_dropped
 *                        streams (a message the peer keeps failing on)
 */
import { ThrottledLogEvent } from '../src/core/log-throttle.js'
import type { ClusterLogger } from './logger.js'
import type { ForwardStats } from './stats.js'

export type ForwardDropReason =
  | 'node_down' | 'overflow' | 'oversize' | 'removed' | 'unknown_node' | 'rejected_by_peer' | 'malformed_from_peer' | 'undeliverable'

/** Told of every drop, with its reason and count (the broker adds them to its metrics). */
export type OnForwardDrop = (node: string, reason: ForwardDropReason, count: number) => void

const STAT_OF: Record<ForwardDropReason, keyof ForwardStats> = {
  node_down: 'droppedPeerDown',
  overflow: 'droppedOverflow',
  oversize: 'droppedOversize',
  removed: 'droppedRemoved',
  unknown_node: 'droppedUnknownNode',
  rejected_by_peer: 'rejectedByPeer',
  malformed_from_peer: 'malformedFromPeer',
  undeliverable: 'droppedUndeliverable'
}

/** The drop accounting of one peer's link (both directions). */
export class ForwardDrops {
  private readonly lines = new Map<string, ThrottledLogEvent<string>>()

  constructor (
    private readonly peer: string,
    private readonly stats: ForwardStats,
    private readonly logger: ClusterLogger,
    private readonly onDrop: OnForwardDrop
  ) {}

  /** Counts `count` drops for `reason`; `fields` describe the latest (e.g. qos, detail) in the log line. */
  drop (reason: ForwardDropReason, count: number, fields: Record<string, unknown> = {}): void {
    if (count <= 0) return
    this.stats[STAT_OF[reason]] += count
    this.onDrop(this.peer, reason, count)
    if (reason === 'unknown_node') return
    if (reason === 'overflow' || reason === 'oversize' || reason === 'removed') {
      this.line('forward_failed', ['overflow', 'oversize', 'removed'], line => { this.logger.warn(line, 'forward_failed') })
        .add({ [reason]: count }, { peer: this.peer, ...fields })
      return
    }
    this.line(`message_dropped:${reason}`, ['count'], line => { this.logger.warn(line, 'message_dropped') })
      .add({ count }, { peer: this.peer, reason, ...fields })
  }

  /** Writes every pending line (the link closes). */
  flush (): void {
    for (const line of this.lines.values()) line.flush()
  }

  private line (key: string, counters: string[], write: (line: Record<string, unknown>) => void): ThrottledLogEvent<string> {
    let line = this.lines.get(key)
    if (line === undefined) {
      line = new ThrottledLogEvent(write, { counters })
      this.lines.set(key, line)
    }
    return line
  }
}
