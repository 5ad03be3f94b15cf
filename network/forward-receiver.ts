/**
 * The receiving side of forwarding: accepts forward streams, delivers each message once to the
 * local broker, refuses alone a message it cannot accept, and acks cumulatively (on the next turn
 * after QoS 1/2 messages, a refusal or a credit top-up that is due, otherwise within
 * `QOS0_ACK_DELAY_MS`, which keeps the sender hearing from this end); route announcements on the
 * stream go to `onRoutes`.
 *
 * Flow control (`forward-credit.ts`): each stream starts with its share of the node's window, and
 * the ack after a delivery, sent once the node has taken the messages in (`settle`), tops the
 * sender up again unless this node is under pressure; on relief every stream is topped up. Acks,
 * refusals and the answers to pings go out whatever the pressure, so a paused link is not taken
 * for a dead one.
 *
 * An ack covers only what the settle before it covered: what was delivered before the settle
 * started (with a persistent store, `settle` also waits until that is committed, so the sender
 * releases only what is durable here). What arrives during a settle waits for the next one. A
 * settle slower than `SETTLE_TIMEOUT_MS` does not hold the sender's ears: the stream gets an ack
 * of what was acked already, without credit, every `SETTLE_TIMEOUT_MS` until it completes.
 *
 * Poison safety: a message that cannot be accepted (QoS 3, an invalid topic, a field this node
 * does not know, or one it could not get to in a broken batch) is refused alone: reported to the
 * sender in a `refused` frame before the ack that covers it, counted and logged as
 * `malformed_from_peer`; the rest of the frame is delivered. Only a frame that cannot be read at
 * all (its kind or header) ends the stream, after an ack of everything delivered before it, so the
 * sender finds the culprit first in line (see `MAX_FORWARD_ATTEMPTS`).
 *
 * Per sender node it keeps the sender's incarnation and the highest sequence number delivered;
 * a message at or below it is a resend of something already handled and is dropped. A sender with
 * a newer incarnation (it restarted, or rejoined) starts afresh: its sequence numbers restart and
 * everything it sends is new here, its journal's resends included (at least once: what this node
 * delivered but had not acked before the sender's kill -9 is delivered again). A receiver that
 * restarts starts afresh too, so the unacked messages a sender resends to it are delivered again. Only the
 * newest stream of a sender is read: a new one supersedes (aborts) the old, so a late frame of a
 * dead stream cannot overtake a resend. Received messages are never forwarded again.
 */
import type { Connection, Stream } from '@libp2p/interface'
import { MAX_FORWARD_FRAME_BYTES, QOS0_ACK_DELAY_MS } from './constants.js'
import { ForwardStreamClosedError, MalformedFrameError, UnexpectedSenderError } from './errors.js'
import { ReceiveCredit, streamShare, type CreditWindow, type InboundPressure } from './forward-credit.js'
import type { ForwardDrops } from './forward-drops.js'
import { decodeForwardFrame, frameBytes, type ForwardFrame, type ForwardFrameEncoder, type MessagesFrame, type Refusal } from './forward-frames.js'
import { RefusedMessage } from '../src/core/wire/message-codec.js'
import { abortQuietly, readFrames } from './stream-io.js'
import type { ClusterLogger } from './logger.js'
import type { ForwardStats } from './stats.js'
import type { Message } from '../src/core/mqtt/message.js'

/** A settle slower than this sends the streams waiting for it an ack of what they had (see `settle`). */
const SETTLE_TIMEOUT_MS = 1_000
/** How long the ack before closing a stream on an unreadable frame may take to go out. */
const FAREWELL_ACK_MS = 1_000
/** How long the stream closed on an unreadable frame waits for the settle before its farewell ack. */
const FAREWELL_SETTLE_MS = 5_000

export interface ForwardReceiverInit {
  localName: string
  /** The member name behind a connected peer id, once its hello succeeded. */
  nodeOfPeer: (peerId: string) => string | undefined
  /** Hands received messages to the local broker; must not throw. */
  deliver: (from: string, messages: Message[]) => void
  /** Handles a route announcement (an encoded control message) of the sender; must not throw. */
  onRoutes: (from: string, control: Uint8Array) => void
  encoder: ForwardFrameEncoder
  /** The node's credit window, shared by its inbound streams. */
  window: CreditWindow
  /** While pressured, no credit is granted. */
  pressure: InboundPressure
  /**
   * Calls `done` once the node has taken in everything `deliver` was given so far (its pressure
   * then reflects it); acks wait for it, so credit is topped up only for what the node has seen.
   */
  settle: (done: () => void) => void
  stats: ForwardStats
  /** Drop accounting of a peer (shared with the link sending to it). */
  dropsOf: (node: string) => ForwardDrops
  logger: ClusterLogger
}

interface SenderState {
  incarnation: number
  /** Highest sequence number handled (delivered or refused) from this incarnation. */
  delivered: number
  /** The stream read now. */
  inbound: InboundStream | undefined
}

/** One accepted forward stream: its credit and its pending ack. */
class InboundStream {
  readonly credit: ReceiveCredit
  private ackTimer: NodeJS.Timeout | undefined
  /** Waiting for the node to settle before its ack. */
  settling = false
  /** Highest sequence number the settle under way covers (handled before it started). */
  settlingUpTo = 0
  /** Highest sequence number acked on this stream. */
  acked = 0
  private refusals: Refusal[] = []
  /** Set once the stream is being closed on an unreadable frame: nothing more is read. */
  failed = false
  /** Closes the failed stream, once its farewell ack is out. */
  farewell: (() => void) | undefined

  constructor (
    readonly stream: Stream,
    readonly sender: string,
    readonly state: SenderState,
    private readonly receiver: ForwardReceiverInit,
    share: () => CreditWindow,
    private readonly settle: (stream: InboundStream) => void
  ) {
    this.credit = new ReceiveCredit(share)
  }

  get current (): boolean {
    return this.state.inbound === this
  }

  refuse (refusal: Refusal): void {
    this.refusals.push(refusal)
  }

  /**
   * Acks as soon as the node has settled when `urgent` (it releases QoS 1/2 messages, reports
   * refusals, or grants credit the sender is short of), else within `QOS0_ACK_DELAY_MS`.
   */
  scheduleAck (urgent: boolean): void {
    if (this.settling) return
    if (urgent || this.refusals.length > 0 || (!this.receiver.pressure.pressured && this.credit.due)) {
      clearTimeout(this.ackTimer)
      this.ackTimer = undefined
      this.settling = true
      this.settle(this)
    } else {
      this.ackTimer ??= setTimeout(() => { this.sendAck() }, QOS0_ACK_DELAY_MS).unref()
    }
  }

  /**
   * Sends the refusals, then the ack of everything handled up to `upTo` with the credit top-up
   * (none under pressure), in one write.
   */
  sendAck (upTo = this.state.delivered): void {
    this.cancelAck()
    const stream = this.stream
    if (!this.current || stream.status !== 'open') return
    const encoder = this.receiver.encoder
    const grant = this.receiver.pressure.pressured ? { messages: 0, bytes: 0 } : this.credit.topUp()
    const ack = encoder.ack(upTo, grant.messages, grant.bytes)
    const frames = this.refusals.length > 0 ? Buffer.concat([encoder.refused(this.refusals), ack]) : ack
    this.refusals = []
    this.acked = Math.max(this.acked, upTo)
    try {
      stream.send(frames)
    } catch (err) {
      abortQuietly(stream, err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** While a settle is slow: an ack of what was acked already, no credit, so the sender hears from this end. */
  sendKeepalive (): void {
    const stream = this.stream
    if (!this.current || stream.status !== 'open') return
    try {
      stream.send(this.receiver.encoder.ack(this.acked, 0, 0))
    } catch (err) {
      abortQuietly(stream, err instanceof Error ? err : new Error(String(err)))
    }
  }

  cancelAck (): void {
    clearTimeout(this.ackTimer)
    this.ackTimer = undefined
    this.settling = false
  }
}

export class ForwardReceiver {
  private readonly senders = new Map<string, SenderState>()
  /** Streams whose ack waits for the settle under way, and those for the next one. */
  private settling: InboundStream[] | undefined
  private nextSettle: InboundStream[] = []

  constructor (private readonly init: ForwardReceiverInit) {
    init.pressure.onRelief(() => { this.topUpAll() })
  }

  /** The libp2p stream handler for `FORWARD_PROTOCOL`. */
  readonly handle = (stream: Stream, connection: Connection): void => {
    let inbound: InboundStream | undefined
    readFrames(stream, MAX_FORWARD_FRAME_BYTES, (frames) => {
      let messages: Message[] | undefined
      let urgent = false
      const collect = (batch: Message[]): void => { messages = messages === undefined ? batch : messages.concat(batch) }
      try {
        for (const body of frames) {
          if (inbound === undefined) {
            const frame = decodeForwardFrame(body)
            if (frame.kind !== 'open') throw new MalformedFrameError(`forward stream starts with ${frame.kind}, not open`)
            inbound = this.accept(stream, connection, frame.sender, frame.senderIncarnation, frame.receiver)
            inbound.scheduleAck(true)
            continue
          }
          if (inbound.failed) return
          if (!inbound.current) throw new ForwardStreamClosedError(inbound.sender, 'superseded by a newer stream')
          let frame: ForwardFrame
          try {
            frame = decodeForwardFrame(body, inbound.sender)
            if (frame.kind === 'messages') inbound.credit.use(frame.reliable, frameBytes(body.byteLength))
            this.checkCredit(inbound)
          } catch (err) {
            if (!(err instanceof MalformedFrameError)) throw err
            this.closeOnUnreadable(inbound, err)
            return
          }
          if (frame.kind === 'messages') {
            if (this.take(inbound, frame, collect)) urgent = true
          } else if (frame.kind === 'routes') {
            this.init.onRoutes(inbound.sender, frame.control)
          } else if (frame.kind !== 'ping') {
            throw new MalformedFrameError(`unexpected ${frame.kind} frame from a sender`)
          }
        }
      } finally {
        // What was taken is delivered even when a later frame ends the stream: it counts as handled.
        if (inbound !== undefined && messages !== undefined) this.deliver(inbound.sender, messages)
      }
      inbound?.scheduleAck(urgent)
    })
    stream.addEventListener('close', () => {
      if (inbound === undefined) return
      inbound.cancelAck()
      if (inbound.current) inbound.state.inbound = undefined
    })
  }

  /** Forgets a node that left or was removed, closing its stream. */
  forget (node: string): void {
    const state = this.senders.get(node)
    if (state === undefined) return
    this.senders.delete(node)
    if (state.inbound !== undefined) abortQuietly(state.inbound.stream, new ForwardStreamClosedError(node, 'node removed'))
  }

  /** Closes every inbound stream (this node stops or leaves); delivery state is kept. */
  closeAll (reason: string): void {
    for (const [node, state] of this.senders) {
      if (state.inbound !== undefined) abortQuietly(state.inbound.stream, new ForwardStreamClosedError(node, reason))
      state.inbound = undefined
    }
  }

  /**
   * Sorts a batch: duplicates dropped, refused messages reported and counted, the rest handed to
   * `collect`. Returns whether the sender should hear at once (QoS 1/2 or refusals).
   */
  private take (inbound: InboundStream, frame: MessagesFrame, collect: (messages: Message[]) => void): boolean {
    const { seqs, messages } = frame
    const state = inbound.state
    let urgent = false
    let accepted: Message[] | undefined
    let refused = 0
    let lastReason = ''
    const fresh = (seqs[0] as number) > state.delivered
    for (let i = 0; i < messages.length; i++) {
      const seq = seqs[i] as number
      const message = messages[i] as Message | RefusedMessage
      if (seq <= state.delivered) {
        this.init.stats.duplicates++
        continue
      }
      if (message instanceof RefusedMessage) {
        inbound.refuse({ seq, reason: message.reason })
        refused++
        lastReason = message.reason
        // Every message before it was accepted when the batch is fresh (none is a duplicate).
        accepted ??= fresh ? (messages as Message[]).slice(0, i) : []
        continue
      }
      if (message.qos > 0) urgent = true
      if (!fresh || accepted !== undefined) (accepted ??= []).push(message)
    }
    state.delivered = Math.max(state.delivered, seqs[seqs.length - 1] as number)
    if (refused > 0) this.init.dropsOf(inbound.sender).drop('malformed_from_peer', refused, { detail: lastReason })
    const batch = fresh && refused === 0 ? messages as Message[] : accepted
    if (batch !== undefined && batch.length > 0) {
      this.init.stats.received += batch.length
      collect(batch)
    }
    return urgent || refused > 0
  }

  /** A sender that writes beyond its credit (more than one frame's overdraw) breaks the protocol. */
  private checkCredit (inbound: InboundStream): void {
    const { messages, bytes } = inbound.credit.outstanding
    if (messages < 0 || bytes < -MAX_FORWARD_FRAME_BYTES) {
      throw new MalformedFrameError(`the sender wrote beyond its credit (${messages} messages, ${bytes} bytes)`)
    }
  }

  /**
   * A frame of the stream cannot be read: ack what was handled before it (so the sender resends
   * from the culprit), log, and end the stream.
   */
  private closeOnUnreadable (inbound: InboundStream, err: MalformedFrameError): void {
    inbound.failed = true
    this.init.logger.warn({ peer: inbound.sender, delivered: inbound.state.delivered, err }, 'forward_frame_unreadable')
    const stream = inbound.stream
    let closing = false
    const close = (): void => {
      if (closing) return
      closing = true
      clearTimeout(timer)
      stream.close({ signal: AbortSignal.timeout(FAREWELL_ACK_MS) }).catch(() => {}).finally(() => { abortQuietly(stream, err) })
    }
    // The farewell ack waits for a settle covering everything handled, like any ack, but not forever.
    const timer = setTimeout(close, FAREWELL_SETTLE_MS).unref()
    inbound.farewell = close
    inbound.scheduleAck(true)
  }

  /** Pressure ended: every stream gets its credit back. */
  private topUpAll (): void {
    for (const state of this.senders.values()) state.inbound?.scheduleAck(true)
  }

  /**
   * Acks `inbound` once the node has settled: what it delivered before now is taken in. One settle
   * runs at a time; streams asking meanwhile wait for the next one (their deliveries came after).
   */
  private settleFor (inbound: InboundStream): void {
    this.nextSettle.push(inbound)
    if (this.settling === undefined) this.startSettle()
  }

  private startSettle (): void {
    const streams = this.nextSettle
    this.nextSettle = []
    this.settling = streams
    for (const inbound of streams) inbound.settlingUpTo = inbound.state.delivered
    let settled = false
    // A slow settle must not silence the acks (the senders would take this node for dead), nor
    // ack what it has not covered yet.
    const keepalive = setInterval(() => {
      this.init.logger.debug({ streams: streams.length, timeout_ms: SETTLE_TIMEOUT_MS }, 'forward_settle_slow')
      for (const inbound of streams) if (inbound.settling) inbound.sendKeepalive()
    }, SETTLE_TIMEOUT_MS).unref()
    const done = (): void => {
      if (settled) return
      settled = true
      clearInterval(keepalive)
      this.settling = undefined
      for (const inbound of streams) {
        if (!inbound.settling) continue
        inbound.settling = false
        inbound.sendAck(inbound.settlingUpTo)
        if (inbound.state.delivered > inbound.settlingUpTo) {
          // Handled during the settle: the next one covers it.
          inbound.settling = true
          this.nextSettle.push(inbound)
        } else {
          inbound.farewell?.()
        }
      }
      if (this.nextSettle.length > 0) this.startSettle()
    }
    this.init.settle(done)
  }

  /** One stream's share of the node's window, among the streams read now. */
  private share (): CreditWindow {
    let streams = 0
    for (const state of this.senders.values()) if (state.inbound !== undefined) streams++
    return streamShare(this.init.window, streams)
  }

  private accept (stream: Stream, connection: Connection, sender: string, incarnation: number, receiver: string): InboundStream {
    if (receiver !== this.init.localName) throw new UnexpectedSenderError(sender, `addressed to ${receiver}`)
    const actual = this.init.nodeOfPeer(connection.remotePeer.toString())
    if (actual !== sender) throw new UnexpectedSenderError(sender, `the connection belongs to ${actual ?? 'no member that is up'}`)
    let state = this.senders.get(sender)
    if (state === undefined || incarnation > state.incarnation) {
      if (state?.inbound !== undefined) abortQuietly(state.inbound.stream, new ForwardStreamClosedError(sender, 'sender restarted'))
      state = { incarnation, delivered: 0, inbound: undefined }
      this.senders.set(sender, state)
    } else if (incarnation < state.incarnation) {
      throw new UnexpectedSenderError(sender, `incarnation ${incarnation} is older than ${state.incarnation}`)
    }
    if (state.inbound !== undefined && state.inbound.stream !== stream) {
      abortQuietly(state.inbound.stream, new ForwardStreamClosedError(sender, 'superseded by a newer stream'))
    }
    const inbound = new InboundStream(stream, sender, state, this.init, () => this.share(), (stream) => { this.settleFor(stream) })
    state.inbound = inbound
    return inbound
  }

  private deliver (sender: string, messages: Message[]): void {
    try {
      this.init.deliver(sender, messages)
    } catch (err) {
      this.init.logger.error({ node: sender, count: messages.length, err }, 'forward_deliver_failed')
    }
  }
}
