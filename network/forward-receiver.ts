/**
 * The receiving side of forwarding: accepts forward streams, delivers each message once to the
 * local broker and acks cumulatively (on the next turn after QoS 1/2 messages, otherwise within
 * `QOS0_ACK_DELAY_MS`, which keeps the sender hearing from this end); route announcements on the
 * stream go to `onRoutes`.
 *
 * Per sender node it keeps the sender's incarnation and the highest sequence number delivered;
 * a frame at or below it is a resend of something already delivered and is dropped. Only the
 * newest stream of a sender is read: a new one supersedes (aborts) the old, so a late frame of a
 * dead stream cannot overtake a resend. Received messages are never forwarded again.
 */
import type { Connection, Stream } from '@libp2p/interface'
import { MAX_FORWARD_FRAME_BYTES, QOS0_ACK_DELAY_MS } from './constants.js'
import { ForwardStreamClosedError, MalformedFrameError, UnexpectedSenderError } from './errors.js'
import { decodeForwardFrame, type ForwardFrameEncoder } from './forward-frames.js'
import { abortQuietly, readFrames } from './stream-io.js'
import type { ClusterLogger } from './logger.js'
import type { ForwardStats } from './stats.js'
import type { Message } from '../src/core/mqtt/message.js'

export interface ForwardReceiverInit {
  localName: string
  /** The member name behind a connected peer id, once its hello succeeded. */
  nodeOfPeer: (peerId: string) => string | undefined
  /** Hands received messages to the local broker; must not throw. */
  deliver: (from: string, messages: Message[]) => void
  /** Handles a route announcement (an encoded control message) of the sender; must not throw. */
  onRoutes: (from: string, control: Uint8Array) => void
  encoder: ForwardFrameEncoder
  stats: ForwardStats
  logger: ClusterLogger
}

interface SenderState {
  incarnation: number
  /** Highest sequence number delivered from this incarnation. */
  delivered: number
  stream: Stream | undefined
}

export class ForwardReceiver {
  private readonly senders = new Map<string, SenderState>()

  constructor (private readonly init: ForwardReceiverInit) {}

  /** The libp2p stream handler for `FORWARD_PROTOCOL`. */
  readonly handle = (stream: Stream, connection: Connection): void => {
    let sender: string | undefined
    let ackImmediate: NodeJS.Immediate | undefined
    let ackTimer: NodeJS.Timeout | undefined
    const sendAck = (): void => {
      clearImmediate(ackImmediate)
      clearTimeout(ackTimer)
      ackImmediate = undefined
      ackTimer = undefined
      const state = sender === undefined ? undefined : this.senders.get(sender)
      if (state?.stream !== stream || stream.status !== 'open') return
      try {
        stream.send(this.init.encoder.ack(state.delivered))
      } catch (err) {
        abortQuietly(stream, err instanceof Error ? err : new Error(String(err)))
      }
    }
    // An ack releases the sender's QoS 1/2 messages, so it goes on the next turn. Frames of QoS 0
    // messages only need one now and then, to show the sender this end is alive: acking every
    // read cost both nodes a frame (yamux, noise, a write) per batch for nothing.
    const scheduleAck = (urgent: boolean): void => {
      if (ackImmediate !== undefined) return
      if (urgent) ackImmediate = setImmediate(sendAck)
      else ackTimer ??= setTimeout(sendAck, QOS0_ACK_DELAY_MS).unref()
    }
    readFrames(stream, MAX_FORWARD_FRAME_BYTES, (frames) => {
      let messages: Message[] | undefined
      let urgent = false
      for (const body of frames) {
        const frame = decodeForwardFrame(body, sender)
        if (sender === undefined) {
          if (frame.kind !== 'open') throw new MalformedFrameError(`forward stream starts with ${frame.kind}, not open`)
          sender = this.accept(stream, connection, frame.sender, frame.senderIncarnation, frame.receiver)
          continue
        }
        const state = this.senders.get(sender)
        if (state?.stream !== stream) throw new ForwardStreamClosedError(sender, 'superseded by a newer stream')
        if (frame.kind === 'messages') {
          const { seqs, messages: batch } = frame
          for (let i = 0; i < batch.length && !urgent; i++) urgent = (batch[i] as Message).qos > 0
          if ((seqs[0] as number) > state.delivered && messages === undefined) {
            messages = batch
          } else {
            for (let i = 0; i < batch.length; i++) {
              if ((seqs[i] as number) <= state.delivered) this.init.stats.duplicates++
              else (messages ??= []).push(batch[i] as Message)
            }
          }
          state.delivered = Math.max(state.delivered, seqs[seqs.length - 1] as number)
        } else if (frame.kind === 'routes') {
          this.init.onRoutes(sender, frame.control)
        } else if (frame.kind !== 'ping') {
          throw new MalformedFrameError(`unexpected ${frame.kind} frame from a sender`)
        }
      }
      if (sender !== undefined && messages !== undefined) {
        this.init.stats.received += messages.length
        this.deliver(sender, messages)
      }
      if (sender !== undefined) scheduleAck(urgent)
    })
    stream.addEventListener('close', () => {
      clearImmediate(ackImmediate)
      clearTimeout(ackTimer)
      if (sender === undefined) return
      const state = this.senders.get(sender)
      if (state?.stream === stream) state.stream = undefined
    })
  }

  /** Forgets a node that left or was removed, closing its stream. */
  forget (node: string): void {
    const state = this.senders.get(node)
    if (state === undefined) return
    this.senders.delete(node)
    if (state.stream !== undefined) abortQuietly(state.stream, new ForwardStreamClosedError(node, 'node removed'))
  }

  /** Closes every inbound stream (this node stops or leaves); delivery state is kept. */
  closeAll (reason: string): void {
    for (const [node, state] of this.senders) {
      if (state.stream !== undefined) abortQuietly(state.stream, new ForwardStreamClosedError(node, reason))
      state.stream = undefined
    }
  }

  private accept (stream: Stream, connection: Connection, sender: string, incarnation: number, receiver: string): string {
    if (receiver !== this.init.localName) throw new UnexpectedSenderError(sender, `addressed to ${receiver}`)
    const actual = this.init.nodeOfPeer(connection.remotePeer.toString())
    if (actual !== sender) throw new UnexpectedSenderError(sender, `the connection belongs to ${actual ?? 'no member that is up'}`)
    let state = this.senders.get(sender)
    if (state === undefined || incarnation > state.incarnation) {
      if (state?.stream !== undefined) abortQuietly(state.stream, new ForwardStreamClosedError(sender, 'sender restarted'))
      state = { incarnation, delivered: 0, stream: undefined }
      this.senders.set(sender, state)
    } else if (incarnation < state.incarnation) {
      throw new UnexpectedSenderError(sender, `incarnation ${incarnation} is older than ${state.incarnation}`)
    }
    if (state.stream !== undefined && state.stream !== stream) {
      abortQuietly(state.stream, new ForwardStreamClosedError(sender, 'superseded by a newer stream'))
    }
    state.stream = stream
    return sender
  }

  private deliver (sender: string, messages: Message[]): void {
    try {
      this.init.deliver(sender, messages)
    } catch (err) {
      this.init.logger.error({ node: sender, count: messages.length, err }, 'forward_deliver_failed')
    }
  }
}
