/**
 * Frames of the forward stream (`FORWARD_PROTOCOL`), each sent with a varint length prefix:
 *
 *   sender → receiver   open     {sender, senderIncarnation, receiver}   first frame of a stream
 *                       messages {firstSeq, count, reliable,             a batch of forwarded messages
 *                                 seqStep × (count - 1), message…}
 *                       routes   {control}                               a route delta of the sender (a
 *                                                                        `control-codec.ts` message, unnumbered)
 *                       ping     {}                                      liveness on an idle or paused link
 *   receiver → sender   ack      {seq, creditMessages, creditBytes}      everything up to seq handled (delivered,
 *                                                                        or refused and reported first), and
 *                                                                        more credit (0 and 0 for none)
 *                       refused  {count, (seq, reason)…}                 messages the receiver refused, each alone
 *
 * Every message has a sequence number: the first is `firstSeq` and each further one is the
 * previous plus its `seqStep` (≥ 1; 1 unless the batch carries resends). Sequence numbers belong
 * to the sender's incarnation and only grow, across streams and peers. The numbers are all in the
 * header, so a receiver knows every message's number even when it cannot read a message; messages
 * are encoded by `message-codec.ts` (length-prefixed, one string table per batch).
 *
 * Credit (flow control): the sender writes a messages frame only within the credit the receiver
 * granted on this stream: each frame uses its size in bytes (length prefix included) of the byte
 * credit and its `reliable` count (QoS 1/2 messages) of the message credit. See `forward-credit.ts`.
 */
import { MalformedFrameError } from './errors.js'
import { MessageBatchReader, MessageBatchWriter, RefusedMessage } from '../src/core/wire/message-codec.js'
import { BinaryReader, BinaryWriter, varintLength } from '../src/core/wire/binary.js'
import type { Message } from '../src/core/mqtt/message.js'

const KIND_OPEN = 1
const KIND_MESSAGES = 2
const KIND_ACK = 3
const KIND_PING = 4
const KIND_ROUTES = 5
const KIND_REFUSED = 6

/** A message the receiver refused, reported to the sender. */
export interface Refusal {
  seq: number
  reason: string
}

export type ForwardFrame =
  | { kind: 'open', sender: string, senderIncarnation: number, receiver: string }
  | MessagesFrame
  | { kind: 'ack', seq: number, creditMessages: number, creditBytes: number }
  | { kind: 'refused', refusals: Refusal[] }
  | { kind: 'routes', control: Uint8Array }
  | { kind: 'ping' }

/**
 * A batch as read: one entry per sequence number, the message or why it was refused (a message
 * the reader could not get to is refused too), and the credit the frame used.
 */
export interface MessagesFrame {
  kind: 'messages'
  seqs: number[]
  messages: Array<Message | RefusedMessage>
  /** QoS 1/2 messages the sender counted: the message credit the frame used. */
  reliable: number
}

/** Bytes a frame whose body is `bodyLength` long takes on the wire (its byte credit). */
export function frameBytes (bodyLength: number): number {
  return bodyLength + varintLength(bodyLength)
}

/** Encodes frames; reuses one growable scratch buffer, so results are copies. */
export class ForwardFrameEncoder {
  private readonly writer = new BinaryWriter(64 * 1024)
  private readonly batch = new MessageBatchWriter()

  open (sender: string, senderIncarnation: number, receiver: string): Uint8Array {
    return this.writer.resetFrame().u8(KIND_OPEN).string(sender).varint(senderIncarnation).string(receiver).finishFrame()
  }

  /**
   * One batch of messages from node `sender`; `seqs` are their (increasing) sequence numbers.
   * The frame holds them in order.
   */
  messages (sender: string, seqs: readonly number[], messages: readonly Message[]): Uint8Array {
    const count = messages.length
    if (count === 0 || seqs.length !== count) throw new RangeError(`a batch needs one sequence number per message (${seqs.length} for ${count})`)
    let reliable = 0
    for (const message of messages) if (message.qos !== 0) reliable++
    const writer = this.writer.resetFrame().u8(KIND_MESSAGES)
    let previous = seqs[0] as number
    writer.varint(previous).varint(count).varint(reliable)
    for (let i = 1; i < count; i++) {
      const seq = seqs[i] as number
      if (seq <= previous) throw new RangeError(`sequence numbers must grow within a batch (${seq} after ${previous})`)
      writer.varint(seq - previous)
      previous = seq
    }
    const batch = this.batch
    batch.reset(sender)
    for (const message of messages) batch.write(writer, message)
    return writer.finishFrame()
  }

  /** A route announcement of the sender, already encoded by `encodeControl()`. */
  routes (control: Uint8Array): Uint8Array {
    return this.writer.resetFrame().u8(KIND_ROUTES).raw(control).finishFrame()
  }

  ack (seq: number, creditMessages = 0, creditBytes = 0): Uint8Array {
    return this.writer.resetFrame().u8(KIND_ACK).varint(seq).varint(creditMessages).varint(creditBytes).finishFrame()
  }

  refused (refusals: readonly Refusal[]): Uint8Array {
    const writer = this.writer.resetFrame().u8(KIND_REFUSED).varint(refusals.length)
    for (const { seq, reason } of refusals) writer.varint(seq).string(reason)
    return writer.finishFrame()
  }

  ping (): Uint8Array {
    return this.writer.resetFrame().u8(KIND_PING).finishFrame()
  }
}

/**
 * Decodes one frame body (without its length prefix). `sender` is the node the stream comes from
 * (known after its open frame); a messages frame needs it to restore origins left out. Throws
 * MalformedFrameError when the frame itself cannot be read; a messages frame with messages that
 * cannot be accepted is read, those messages marked refused.
 */
export function decodeForwardFrame (body: Uint8Array, sender?: string): ForwardFrame {
  const reader = new BinaryReader(body)
  const kind = reader.u8()
  let frame: ForwardFrame
  switch (kind) {
    case KIND_OPEN:
      frame = { kind: 'open', sender: reader.string(), senderIncarnation: reader.varint(), receiver: reader.string() }
      break
    case KIND_MESSAGES:
      if (sender === undefined) throw new MalformedFrameError('messages before the open frame')
      return readMessages(reader, sender)
    case KIND_ACK:
      frame = { kind: 'ack', seq: reader.varint(), creditMessages: reader.varint(), creditBytes: reader.varint() }
      break
    case KIND_REFUSED: {
      const count = reader.count()
      const refusals: Refusal[] = []
      for (let i = 0; i < count; i++) refusals.push({ seq: reader.varint(), reason: reader.string() })
      frame = { kind: 'refused', refusals }
      break
    }
    case KIND_PING:
      frame = { kind: 'ping' }
      break
    case KIND_ROUTES:
      return { kind: 'routes', control: body.subarray(1) }
    default:
      throw new MalformedFrameError(`unknown forward frame kind ${kind}`)
  }
  reader.expectEnd()
  return frame
}

/** The header must read whole; a message that cannot be read makes it and the rest of the batch refused. */
function readMessages (reader: BinaryReader, sender: string): MessagesFrame {
  let seq = reader.varint()
  const count = reader.count()
  if (count === 0) throw new MalformedFrameError('empty messages frame')
  const reliable = reader.varint()
  if (reliable > count) throw new MalformedFrameError(`${reliable} reliable messages in a batch of ${count}`)
  const seqs = new Array<number>(count)
  seqs[0] = seq
  for (let i = 1; i < count; i++) {
    const step = reader.varint()
    if (step === 0) throw new MalformedFrameError('sequence numbers must grow within a batch')
    seq += step
    if (!Number.isSafeInteger(seq)) throw new MalformedFrameError('sequence number above 2^53')
    seqs[i] = seq
  }
  const batch = new MessageBatchReader(sender)
  const messages = new Array<Message | RefusedMessage>(count)
  for (let i = 0; i < count; i++) {
    try {
      messages[i] = batch.read(reader)
    } catch (err) {
      if (!(err instanceof MalformedFrameError)) throw err
      const unreadable = new RefusedMessage(`unreadable batch: ${err.message}`, 0)
      for (let j = i; j < count; j++) messages[j] = unreadable
      break
    }
  }
  return { kind: 'messages', seqs, messages, reliable }
}
