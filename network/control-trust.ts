/**
 * Members cannot speak for each other: every control message about a node is accepted only from
 * that node, identified by the peer id of the connection it came over (the Noise identity, which
 * only the holder of the node's private key can present) and the name that peer id is pinned to
 * (`member-table.ts`). The cluster secret lets a node in; it does not let it speak for another.
 *
 * | message                        | author (who alone may send it)   |
 * | ------------------------------ | -------------------------------- |
 * | delta, digest, snapshot        | the node whose set they are      |
 * | (routes or client ids)         |                                  |
 * | hello                          | the node it names                |
 * | leave                          | the node leaving                 |
 * | force-leave                    | the member named in `by`         |
 *
 * Direct streams (hello, snapshot, notices, deltas pushed on the forward stream) are checked
 * against the stream's remote peer. Gossip is unsigned (`StrictNoSign`, see `libp2p-node.ts`) and
 * relayed, so a relayer is not the author: a gossiped message is accepted only when its
 * propagation source, the direct peer it arrived from, is its author, and it is never relayed
 * (`cluster.ts` consumes it in the topic validator and ignores it; were it relayed, a forged
 * message about X sent to X alone would reach the others from X, looking authored by X).
 *
 * Why the direct-source rule rather than signing: the cluster is a full mesh (every member dials
 * every member it hears of, `membership.ts`) and gossipsub floods a node's own publications to
 * every topic peer, so every member receives a node's gossip directly from it and relaying adds
 * nothing. What a member misses is repaired anyway: every delta is also pushed directly on the
 * forward stream (first copy wins by sequence number), a digest comes again at the next interval
 * and every notice is also sent directly. The check costs a map lookup, while Ed25519 signing and
 * verifying was measured at about 0.3 ms of CPU per route change on every node, on the path that
 * gates a new subscriber's first delivery (convergence p99 must stay within 50 ms). The price: a
 * member that is not directly connected to X (not a full mesh yet, or a one-sided partition) gets
 * X's routes only once it connects to X, when it fetches X's snapshot.
 *
 * A force-leave is the operator's action, which any member may take (it is logged with who took
 * it on every node); incarnations further ahead than any genuine one are refused
 * (`incarnation.ts`).
 */
import { ThrottledLogEvent } from '../src/core/log-throttle.js'
import type { ControlMessage } from './control-codec.js'
import { isFarAhead } from './incarnation.js'
import type { ClusterLogger } from './logger.js'
import type { TrustStats } from './stats.js'

/** Why a control message was refused (the `control_refused` counters). */
export type RefusalReason =
  /** Sent by a member about another node. */
  | 'not_author'
  /** Sent by a peer that is not a member, or not yet one (no hello accepted from it). */
  | 'unknown_sender'
  /** An incarnation further ahead of this node's clock than any genuine one. */
  | 'future_incarnation'

/** Where a control message arrived. */
export type ControlChannel = 'gossip' | 'notice' | 'pushed' | 'hello' | 'snapshot'

/** The node that alone may send `message`, or undefined for messages that speak for nobody. */
export function authorOf (message: ControlMessage): string | undefined {
  switch (message.type) {
    case 'delta':
    case 'digest':
    case 'snapshot':
    case 'leave':
      return message.node
    case 'force-leave':
      return message.by
    case 'hello':
      return message.name
    default:
      return undefined
  }
}

/**
 * Why `message`, received at `now` from the member `sender` (the name its peer id is pinned to,
 * undefined if none), must be refused; undefined if it may be applied.
 */
export function refusalOf (message: ControlMessage, sender: string | undefined, now: number): RefusalReason | undefined {
  if (sender === undefined) return 'unknown_sender'
  if (authorOf(message) !== sender) return 'not_author'
  if ('incarnation' in message && isFarAhead(message.incarnation, now)) return 'future_incarnation'
  return undefined
}

/** What a refusal is about, for its log line. */
export interface RefusedControl {
  type: string
  /** The node the message speaks for. */
  about?: string
  incarnation?: number
  /** The member the sending peer is pinned to, if any. */
  sender: string | undefined
  peerId: string
  channel: ControlChannel
}

/** The log fields of a refused message. */
export function describeRefused (message: ControlMessage, sender: string | undefined, peerId: string, channel: ControlChannel): RefusedControl {
  const about = 'node' in message ? message.node : authorOf(message)
  return {
    type: message.type,
    ...(about === undefined ? {} : { about }),
    ...('incarnation' in message ? { incarnation: message.incarnation } : {}),
    sender,
    peerId,
    channel
  }
}

/**
 * Counts refused control messages per reason and logs them (`control_refused`), throttled per
 * reason: the first at once, then at most one line a second with the exact `count` it sums up and
 * the fields of the latest. At warn, but for `unknown_sender` (info), which a member's first gossip
 * can be when it overtakes its hello.
 */
export class ControlRefusals {
  private readonly logs: Record<RefusalReason, ThrottledLogEvent>

  constructor (logger: ClusterLogger, private readonly stats: TrustStats) {
    const warn = (line: Record<string, unknown>): void => { logger.warn(line, 'control_refused') }
    this.logs = {
      not_author: new ThrottledLogEvent(warn),
      future_incarnation: new ThrottledLogEvent(warn),
      unknown_sender: new ThrottledLogEvent((line) => { logger.info(line, 'control_refused') })
    }
  }

  /**
   * Why `message` from the member `sender` (via `peerId`) must be refused, counted and logged;
   * undefined if it may be applied.
   */
  screen (message: ControlMessage, sender: string | undefined, peerId: string, channel: ControlChannel, now = Date.now()): RefusalReason | undefined {
    const reason = refusalOf(message, sender, now)
    if (reason !== undefined) this.refuse(reason, describeRefused(message, sender, peerId, channel))
    return reason
  }

  /** Writes what the throttled lines hold now (the node stops). */
  flush (): void {
    for (const log of Object.values(this.logs)) log.flush()
  }

  refuse (reason: RefusalReason, what: RefusedControl): void {
    this.stats.refused[reason]++
    const { peerId, sender, ...fields } = what
    this.logs[reason].add({ count: 1 }, { reason, ...fields, sender: sender ?? 'unknown', peer_id: peerId })
  }
}
