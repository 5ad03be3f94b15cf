/**
 * The sending side of forwarding to one peer node: one long-lived forward stream
 * (`FORWARD_PROTOCOL`), reopened when lost, fed from an `OutboundQueue`.
 *
 * - Messages are queued as they are (at most `maxQueuedMessages` and `maxQueuedBytes`; beyond,
 *   dropped as `overflow`) and encoded when written: each write is one batch frame of up to
 *   `FORWARD_MAX_WRITE_BYTES` (one `send()` per batch, not per message), numbered from a sequence
 *   shared by all links, while the stream buffers less than the high-water mark and within the
 *   credit the peer granted (`forward-credit.ts`): a peer under pressure stops the messages here.
 * - QoS 1/2 messages stay queued until the peer acks them; when the stream is lost they are resent
 *   first on the next one (within credit too), and the receiver drops what it already delivered.
 *   A message the peer refuses is dropped (`rejected_by_peer`); one that was first unacked on
 *   `MAX_FORWARD_ATTEMPTS` lost streams in a row too (`undeliverable`). QoS 0 messages are sent
 *   once; while the peer is down they are dropped (`node_down`): the one place that decides it, so
 *   callers hand every message to `forward()` whatever the peer's state. Every drop is counted and
 *   logged by `ForwardDrops`.
 * - With a `journal` (`forward-journal.ts`), each QoS 1/2 message queued is kept there as it is
 *   queued, and settled as it leaves the queue (acked or dropped); a link closed because this node
 *   stops leaves the records, and `restore()` queues them again at the next start.
 * - Route deltas of this node (`sendRoutes`) share the stream, written ahead of messages and at
 *   once when nothing else is being written; they are not acked: one lost with a stream shows as
 *   a sequence gap at the peer, which then fetches a snapshot, and while the peer is down they
 *   are dropped (it fetches a snapshot when back).
 * - An idle link, or one waiting for credit, pings; a peer that sends nothing (acks included) for
 *   `peerTimeoutMs` is reported through `onUnresponsive`, so a silent partition is noticed without
 *   waiting for TCP. The receiver acks pings whatever its pressure, so a paused link stays up. The
 *   same holds without a stream: a peer that is up but on which no forward stream opens (or each
 *   closes at once) for `peerTimeoutMs` after it came up or was last heard is reported too, rather
 *   than staying up with its messages held.
 */
import type { Stream } from '@libp2p/interface'
import { Backoff } from './backoff.js'
import {
  FORWARD_MAX_WRITE_BYTES, FORWARD_REOPEN_MAX_MS, FORWARD_REOPEN_MIN_MS, FORWARD_WRITE_HIGH_WATER_MARK, MAX_FORWARD_ATTEMPTS,
  MAX_FORWARD_FRAME_BYTES, MAX_FORWARD_MESSAGE_BYTES
} from './constants.js'
import { ForwardStreamClosedError, PeerUnresponsiveError } from './errors.js'
import { SendCredit } from './forward-credit.js'
import type { ForwardDrops } from './forward-drops.js'
import type { ForwardJournal, JournaledMessage } from './forward-journal.js'
import { decodeForwardFrame, type ForwardFrameEncoder, type Refusal } from './forward-frames.js'
import type { ClusterLogger } from './logger.js'
import { encodedSizeBound } from '../src/core/wire/message-codec.js'
import { OutboundQueue } from './outbound-queue.js'
import { abortReason } from './abort.js'
import { abortQuietly, readFrames, waitWritable } from './stream-io.js'
import type { ForwardStats, LinkBacklog } from './stats.js'
import type { Message } from '../src/core/mqtt/message.js'

/** Opens a new forward stream to the peer. */
export type OpenForwardStream = (signal: AbortSignal) => Promise<Stream>

export interface ForwardLinkInit {
  /** The peer node's name. */
  peer: string
  localName: string
  /** This node's current incarnation (it changes on `join()`). */
  incarnation: () => number
  /** Next frame sequence number; shared by every link of this node. */
  nextSeq: () => number
  encoder: ForwardFrameEncoder
  stats: ForwardStats
  /** Drop accounting of this peer (shared with the receiving side). */
  drops: ForwardDrops
  logger: ClusterLogger
  maxQueuedBytes: number
  maxQueuedMessages: number
  heartbeatIntervalMs: number
  peerTimeoutMs: number
  openTimeoutMs: number
  onUnresponsive: (peer: string, silentMs: number) => void
  /** Keeps the QoS 1/2 messages queued; default none. */
  journal?: ForwardJournal
  now?: () => number
}

/** What `forward()` did with a batch. */
export interface ForwardResult {
  queued: number
  dropped: number
}

type LinkState = 'down' | 'connecting' | 'open' | 'closed'

export class ForwardLink {
  private readonly queue: OutboundQueue
  private readonly now: () => number
  private readonly reopenBackoff = new Backoff({ minMs: FORWARD_REOPEN_MIN_MS, maxMs: FORWARD_REOPEN_MAX_MS })
  private state: LinkState = 'down'
  private opener: OpenForwardStream | undefined
  private stream: Stream | undefined
  /** What the peer granted the current stream; none until its first ack. */
  private credit = new SendCredit()
  /** Whether the last pump stopped for want of credit (counted once per stall). */
  private stalled = false
  private pumping = false
  private pumpScheduled = false
  private reopenTimer: NodeJS.Timeout | undefined
  private heartbeatTimer: NodeJS.Timeout | undefined
  private lastHeardAt = 0
  private lastSentAt = 0
  private idleWaiters: Array<() => void> = []
  private routeFrames: Uint8Array[] = []
  private routeBytes = 0
  /** QoS 1/2 frames this peer acknowledged over the link's life. */
  private acked = 0

  constructor (private readonly init: ForwardLinkInit) {
    const journal = init.journal
    this.queue = journal === undefined
      ? new OutboundQueue(init.maxQueuedBytes, init.maxQueuedMessages)
      : new OutboundQueue(init.maxQueuedBytes, init.maxQueuedMessages, (id) => { journal.settled(init.peer, id) })
    this.now = init.now ?? Date.now
  }

  get connected (): boolean {
    return this.state === 'open'
  }

  backlog (): LinkBacklog {
    return {
      connected: this.connected,
      pending: this.queue.pendingCount,
      inflight: this.queue.inflightCount,
      bytes: this.queue.bytes,
      acked: this.acked,
      credit: { messages: this.credit.messages, bytes: this.credit.bytes }
    }
  }

  /** Queues messages for the peer; QoS 0 ones are dropped while the peer is down. */
  send (messages: readonly Message[]): ForwardResult {
    const drops = this.init.drops
    if (this.state === 'closed') {
      drops.drop('removed', messages.length)
      return { queued: 0, dropped: messages.length }
    }
    let queued = 0
    let droppedDown = 0
    let droppedOverflow = 0
    let droppedOversize = 0
    const peerDown = this.opener === undefined
    for (const message of messages) {
      if (peerDown && message.qos === 0) {
        droppedDown++
        continue
      }
      const size = encodedSizeBound(message)
      if (size > MAX_FORWARD_MESSAGE_BYTES) {
        droppedOversize++
      } else if (this.queue.fits(size)) {
        const journal = message.qos === 0 || this.init.journal === undefined ? 0 : this.init.journal.kept(this.init.peer, message)
        this.queue.enqueue(message, size, journal)
        queued++
      } else {
        droppedOverflow++
      }
    }
    const dropped = droppedDown + droppedOverflow + droppedOversize
    if (dropped > 0) {
      drops.drop('node_down', droppedDown, { qos: 0 })
      drops.drop('overflow', droppedOverflow, { queued: this.queue.count, bytes: this.queue.bytes })
      drops.drop('oversize', droppedOversize)
    }
    if (queued > 0) this.schedulePump()
    return { queued, dropped }
  }

  /**
   * Queues messages kept by the journal before a restart (in their order, before anything else is
   * sent); those beyond the bounds are dropped as `overflow` and settled.
   */
  restore (entries: readonly JournaledMessage[]): void {
    let overflow = 0
    for (const { id, message } of entries) {
      if (this.state !== 'closed' && this.queue.enqueue(message, encodedSizeBound(message), id)) continue
      overflow++
      this.init.journal?.settled(this.init.peer, id)
    }
    this.init.drops.drop(this.state === 'closed' ? 'removed' : 'overflow', overflow, { restored: entries.length })
    this.schedulePump()
  }

  /**
   * Queues a route frame (see `ForwardFrameEncoder.routes`) for the peer. Dropped while the peer
   * is down, and when the frames queued reach the byte bound: the peer resyncs by snapshot.
   */
  sendRoutes (frame: Uint8Array): void {
    if (this.opener === undefined || this.state === 'closed') return
    if (this.routeBytes + frame.byteLength > this.init.maxQueuedBytes) {
      this.init.logger.warn({ peer: this.init.peer, frames: this.routeFrames.length + 1 }, 'route_push_dropped')
      this.clearRoutes()
      return
    }
    this.routeFrames.push(frame)
    this.routeBytes += frame.byteLength
    // A route change is latency-bound (it gates the first delivery to a new subscriber): write it
    // now rather than on the next turn, unless a pump is already under way.
    if (this.state === 'open' && !this.pumping) void this.pump()
    else this.schedulePump()
  }

  /** The peer is up and reachable through `open`: (re)open the stream now. */
  peerUp (open: OpenForwardStream): void {
    if (this.state === 'closed') return
    // Its hello was just answered: the silence a stream that will not open is measured from here.
    if (this.opener === undefined) this.lastHeardAt = this.now()
    this.opener ??= open
    if (this.state === 'down' && this.reopenTimer === undefined) void this.openStream()
  }

  /** The peer is down: stop the stream, keep QoS 1/2 frames for later, drop QoS 0 ones. */
  peerDown (): void {
    if (this.state === 'closed') return
    this.opener = undefined
    this.state = 'down'
    this.stopTimers()
    this.dropStream(new ForwardStreamClosedError(this.init.peer, 'peer down'))
    this.clearRoutes()
    this.init.drops.drop('node_down', this.queue.dropQos0(), { qos: 0 })
  }

  /**
   * Closes the link for good (the peer left or this node stops); returns how many messages were
   * dropped. `keepJournal` (this node stops) leaves their journal records for the next start.
   */
  close (reason: string, keepJournal = false): number {
    if (this.state === 'closed') return 0
    this.state = 'closed'
    this.opener = undefined
    this.stopTimers()
    this.dropStream(new ForwardStreamClosedError(this.init.peer, reason))
    this.clearRoutes()
    const dropped = this.queue.clear(keepJournal)
    this.init.drops.drop('removed', dropped, { reason })
    this.init.drops.flush()
    this.resolveIdleWaiters()
    return dropped
  }

  /** Resolves once nothing is pending or awaiting an ack (or the link closes). */
  async whenIdle (signal: AbortSignal): Promise<void> {
    if (this.isIdle()) return
    signal.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.idleWaiters = this.idleWaiters.filter(w => w !== waiter)
        reject(abortReason(signal))
      }
      const waiter = (): void => {
        signal.removeEventListener('abort', onAbort)
        resolve()
      }
      this.idleWaiters.push(waiter)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  private async openStream (): Promise<void> {
    const open = this.opener
    if (open === undefined || this.state === 'closed') return
    this.state = 'connecting'
    let stream: Stream
    try {
      stream = await open(AbortSignal.timeout(this.init.openTimeoutMs))
    } catch (err) {
      if (this.stillOpening(open)) {
        this.state = 'down'
        this.init.logger.debug({ peer: this.init.peer, err }, 'forward_stream_open_failed')
        this.reportIfSilent()
        this.scheduleReopen()
      }
      return
    }
    if (!this.stillOpening(open)) {
      abortQuietly(stream, new ForwardStreamClosedError(this.init.peer, 'peer went down while opening'))
      return
    }
    this.stream = stream
    this.state = 'open'
    this.credit = new SendCredit()
    this.stalled = false
    this.lastHeardAt = this.now()
    readFrames(stream, MAX_FORWARD_FRAME_BYTES, (frames) => { this.onFrames(stream, frames) })
    stream.addEventListener('close', (event) => { this.onStreamClosed(stream, event.error) })
    try {
      stream.send(this.init.encoder.open(this.init.localName, this.init.incarnation(), this.init.peer))
    } catch (err) {
      this.onStreamClosed(stream, err instanceof Error ? err : new Error(String(err)))
      return
    }
    this.lastSentAt = this.now()
    this.startHeartbeat()
    this.schedulePump()
  }

  /** Whether an open attempt with `open` is still the link's current one (the peer may have gone meanwhile). */
  private stillOpening (open: OpenForwardStream): boolean {
    return this.opener === open && this.state === 'connecting'
  }

  private onFrames (stream: Stream, frames: Uint8Array[]): void {
    if (stream !== this.stream) return
    this.lastHeardAt = this.now()
    let granted = false
    for (const body of frames) {
      const frame = decodeForwardFrame(body)
      if (frame.kind === 'refused') {
        this.onRefused(frame.refusals)
        continue
      }
      if (frame.kind !== 'ack') throw new ForwardStreamClosedError(this.init.peer, `unexpected ${frame.kind} frame from the receiver`)
      const acked = this.queue.ack(frame.seq)
      this.acked += acked
      this.init.stats.acked += acked
      if (frame.creditMessages > 0 || frame.creditBytes > 0) {
        this.credit.grant(frame.creditMessages, frame.creditBytes)
        granted = true
      }
    }
    this.reopenBackoff.reset()
    if (granted && this.canWriteMessages()) this.schedulePump()
    if (this.isIdle()) this.resolveIdleWaiters()
  }

  /** The peer refused these messages: each is dropped and counted (its ack follows). */
  private onRefused (refusals: Refusal[]): void {
    this.queue.refuse(refusals.map(refusal => refusal.seq))
    this.init.drops.drop('rejected_by_peer', refusals.length, { detail: refusals[refusals.length - 1]?.reason })
  }

  private onStreamClosed (stream: Stream, error: Error | undefined): void {
    if (stream !== this.stream) return
    this.stream = undefined
    this.stopTimers()
    const resend = this.rewind()
    if (this.state === 'closed') return
    this.init.logger.debug({ peer: this.init.peer, resend, err: error }, 'forward_stream_closed')
    this.state = 'down'
    if (this.opener === undefined) return
    this.reportIfSilent()
    this.scheduleReopen()
  }

  /**
   * With no stream open, a peer not heard from for the peer timeout is reported unresponsive (its
   * connections are dropped, so it goes down); the next report waits another peer timeout.
   */
  private reportIfSilent (): void {
    const now = this.now()
    const silentMs = now - this.lastHeardAt
    if (silentMs <= this.init.peerTimeoutMs) return
    this.lastHeardAt = now
    this.init.onUnresponsive(this.init.peer, silentMs)
  }

  private scheduleReopen (): void {
    if (this.reopenTimer !== undefined || this.opener === undefined) return
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined
      if (this.state === 'down') void this.openStream()
    }, this.reopenBackoff.next())
  }

  private schedulePump (): void {
    if (this.pumpScheduled || this.state !== 'open') return
    this.pumpScheduled = true
    setImmediate(() => {
      this.pumpScheduled = false
      void this.pump()
    })
  }

  /**
   * Writes pending frames in coalesced batches, pausing while the stream buffers too much; messages
   * only within the peer's credit (route frames always).
   */
  private async pump (): Promise<void> {
    if (this.pumping) return
    this.pumping = true
    const stream = this.stream
    try {
      while (stream !== undefined && stream === this.stream && stream.status === 'open' && this.hasWritable()) {
        if (stream.writeBufferLength > FORWARD_WRITE_HIGH_WATER_MARK) {
          await waitWritable(stream, FORWARD_WRITE_HIGH_WATER_MARK / 4)
          continue
        }
        const routes = this.routeFrames.shift()
        if (routes !== undefined) {
          this.routeBytes -= routes.byteLength
          stream.send(routes)
          this.lastSentAt = this.now()
          continue
        }
        const credit = this.credit
        const batch = this.queue.take(Math.min(FORWARD_MAX_WRITE_BYTES, credit.bytes), credit.messages, this.init.nextSeq)
        const frame = this.init.encoder.messages(this.init.localName, batch.seqs, batch.messages)
        credit.spend(batch.reliable, frame.byteLength)
        stream.send(frame)
        this.stalled = false
        this.init.stats.sent += batch.messages.length
        this.lastSentAt = this.now()
      }
    } catch (err) {
      if (stream !== undefined) abortQuietly(stream, err instanceof Error ? err : new Error(String(err)))
    } finally {
      this.pumping = false
    }
    if (this.queue.pendingCount > 0 && !this.canWriteMessages() && !this.stalled && this.state === 'open') {
      this.stalled = true
      this.init.stats.creditStalls++
    }
    if (this.isIdle()) this.resolveIdleWaiters()
    else if (this.hasWritable()) this.schedulePump()
  }

  private hasPending (): boolean {
    return this.routeFrames.length > 0 || this.queue.pendingCount > 0
  }

  /** Whether the pump has something it may write now: a route frame, or a message within credit. */
  private hasWritable (): boolean {
    return this.routeFrames.length > 0 || this.canWriteMessages()
  }

  private canWriteMessages (): boolean {
    const qos = this.queue.nextQos
    return qos !== undefined && this.credit.allows(qos)
  }

  /** The stream is lost: unacknowledged messages go back to be resent; returns how many. */
  private rewind (): number {
    const { resend, dropped } = this.queue.rewind(MAX_FORWARD_ATTEMPTS)
    this.init.stats.resent += resend
    this.init.drops.drop('undeliverable', dropped, { attempts: MAX_FORWARD_ATTEMPTS })
    return resend
  }

  private clearRoutes (): void {
    this.routeFrames = []
    this.routeBytes = 0
  }

  private startHeartbeat (): void {
    this.heartbeatTimer = setInterval(() => { this.heartbeat() }, this.init.heartbeatIntervalMs)
    this.heartbeatTimer.unref()
  }

  private heartbeat (): void {
    const stream = this.stream
    if (stream === undefined || this.state !== 'open') return
    const now = this.now()
    const silentMs = now - this.lastHeardAt
    if (silentMs > this.init.peerTimeoutMs) {
      // Reported once: the stream's close that follows does not report it again.
      this.lastHeardAt = now
      this.init.onUnresponsive(this.init.peer, silentMs)
      abortQuietly(stream, new PeerUnresponsiveError(this.init.peer, silentMs))
      return
    }
    if (now - this.lastSentAt >= this.init.heartbeatIntervalMs && stream.writeBufferLength === 0) {
      try {
        stream.send(this.init.encoder.ping())
        this.lastSentAt = now
      } catch (err) {
        abortQuietly(stream, err instanceof Error ? err : new Error(String(err)))
      }
    }
  }

  private dropStream (reason: Error): void {
    const stream = this.stream
    if (stream === undefined) return
    this.stream = undefined
    this.rewind()
    abortQuietly(stream, reason)
  }

  private stopTimers (): void {
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer)
    if (this.reopenTimer !== undefined) clearTimeout(this.reopenTimer)
    this.heartbeatTimer = undefined
    this.reopenTimer = undefined
  }

  private isIdle (): boolean {
    return this.state === 'closed' || (!this.hasPending() && this.queue.inflightCount === 0)
  }

  private resolveIdleWaiters (): void {
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const waiter of waiters) waiter()
  }
}
