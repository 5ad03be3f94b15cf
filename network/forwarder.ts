/**
 * The data plane: one `ForwardLink` per peer node for sending, one `ForwardReceiver` for all
 * inbound forward streams, and the sequence counter their frames share. With a journal, the QoS
 * 1/2 messages queued on the links are kept there (`forward-journal.ts`) and `restore()` puts them
 * back at start.
 */
import type { Stream, StreamHandler } from '@libp2p/interface'
import type { CreditWindow, InboundPressure } from './forward-credit.js'
import { ForwardDrops, type OnForwardDrop } from './forward-drops.js'
import { ForwardFrameEncoder } from './forward-frames.js'
import type { ForwardJournal, JournaledMessage } from './forward-journal.js'
import { ForwardLink, type ForwardResult } from './forward-link.js'
import { ForwardReceiver } from './forward-receiver.js'
import type { ClusterLogger } from './logger.js'
import type { ForwardStats, LinkBacklog } from './stats.js'
import type { Message } from '../src/core/mqtt/message.js'

export interface ForwarderInit {
  localName: string
  incarnation: () => number
  /** Opens a forward stream to a connected member. */
  openStream: (node: string, signal: AbortSignal) => Promise<Stream>
  nodeOfPeer: (peerId: string) => string | undefined
  deliver: (from: string, messages: Message[]) => void
  onRoutes: (from: string, control: Uint8Array) => void
  onUnresponsive: (node: string, silentMs: number) => void
  /** Told of every message dropped, per reason. */
  onDropped: OnForwardDrop
  /** Credit granted to each inbound stream. */
  window: CreditWindow
  /** Inbound forwards wait while this node is pressured. */
  pressure: InboundPressure
  /** Calls back once the node has taken in what it was handed (credit waits for it). */
  settle: (done: () => void) => void
  maxQueuedBytesPerPeer: number
  maxQueuedMessagesPerPeer: number
  heartbeatIntervalMs: number
  peerTimeoutMs: number
  openTimeoutMs: number
  stats: ForwardStats
  logger: ClusterLogger
  /** Keeps the QoS 1/2 messages queued on the links; default none. */
  journal?: ForwardJournal
}

export class Forwarder {
  private readonly links = new Map<string, ForwardLink>()
  private readonly drops = new Map<string, ForwardDrops>()
  private readonly receiver: ForwardReceiver
  private readonly encoder = new ForwardFrameEncoder()
  private seq = 0

  constructor (private readonly init: ForwarderInit) {
    this.receiver = new ForwardReceiver({
      localName: init.localName,
      nodeOfPeer: init.nodeOfPeer,
      deliver: init.deliver,
      onRoutes: init.onRoutes,
      encoder: this.encoder,
      window: init.window,
      pressure: init.pressure,
      settle: init.settle,
      stats: init.stats,
      dropsOf: (node) => this.dropsOf(node),
      logger: init.logger
    })
  }

  /** Stream handler for `FORWARD_PROTOCOL`. */
  get handler (): StreamHandler {
    return this.receiver.handle
  }

  /** Queues messages for a member (created on demand; QoS 0 is dropped while it is down). */
  forward (node: string, messages: readonly Message[]): ForwardResult {
    return this.linkOf(node).send(messages)
  }

  /** Queues messages the journal kept before a restart for `node`, ahead of anything new. */
  restore (node: string, entries: readonly JournaledMessage[]): void {
    this.linkOf(node).restore(entries)
  }

  /** Pushes a route announcement (an encoded control message) to a member that is up. */
  sendRoutes (node: string, control: Uint8Array): void {
    this.links.get(node)?.sendRoutes(this.encoder.routes(control))
  }

  peerUp (node: string): void {
    this.linkOf(node).peerUp((signal) => this.init.openStream(node, signal))
  }

  peerDown (node: string): void {
    this.links.get(node)?.peerDown()
  }

  /** The node left or was removed: drop what is queued for it and its delivery state. */
  remove (node: string): void {
    const link = this.links.get(node)
    this.links.delete(node)
    link?.close('node removed')
    this.receiver.forget(node)
    this.drops.get(node)?.flush()
    this.drops.delete(node)
  }

  /**
   * Closes every link and inbound stream (this node leaves or stops); `keepJournal` when it stops,
   * so what was queued is resent after the next start.
   */
  closeAll (reason: string, keepJournal = false): void {
    for (const link of this.links.values()) link.close(reason, keepJournal)
    this.links.clear()
    for (const drops of this.drops.values()) drops.flush()
    this.receiver.closeAll(reason)
  }

  backlog (): Record<string, LinkBacklog> {
    const result: Record<string, LinkBacklog> = {}
    for (const [node, link] of this.links) result[node] = link.backlog()
    return result
  }

  /** Resolves once everything queued for `node` is acknowledged (or its link closed). */
  async whenDelivered (node: string, signal: AbortSignal): Promise<void> {
    await this.links.get(node)?.whenIdle(signal)
  }

  /** Waits, up to `signal`, for connected links to drain. */
  async drain (signal: AbortSignal): Promise<void> {
    const connected = [...this.links.values()].filter(link => link.connected)
    await Promise.allSettled(connected.map(async link => { await link.whenIdle(signal) }))
  }

  /** Drop accounting of `node`, created on first use. */
  dropsOf (node: string): ForwardDrops {
    let drops = this.drops.get(node)
    if (drops === undefined) {
      drops = new ForwardDrops(node, this.init.stats, this.init.logger, this.init.onDropped)
      this.drops.set(node, drops)
    }
    return drops
  }

  private linkOf (node: string): ForwardLink {
    let link = this.links.get(node)
    if (link === undefined) {
      link = new ForwardLink({
        peer: node,
        localName: this.init.localName,
        incarnation: this.init.incarnation,
        nextSeq: () => ++this.seq,
        encoder: this.encoder,
        stats: this.init.stats,
        drops: this.dropsOf(node),
        logger: this.init.logger,
        maxQueuedBytes: this.init.maxQueuedBytesPerPeer,
        maxQueuedMessages: this.init.maxQueuedMessagesPerPeer,
        heartbeatIntervalMs: this.init.heartbeatIntervalMs,
        peerTimeoutMs: this.init.peerTimeoutMs,
        openTimeoutMs: this.init.openTimeoutMs,
        onUnresponsive: this.init.onUnresponsive,
        ...(this.init.journal === undefined ? {} : { journal: this.init.journal })
      })
      this.links.set(node, link)
    }
    return link
  }
}
