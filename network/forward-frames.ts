/**
 * Frames of the forward stream (`FORWARD_PROTOCOL`), each sent with a varint length prefix:
 *
 *   sender → receiver   open     {sender, senderIncarnation, receiver}   first frame of a stream
 *                       messages {firstSeq, count, [seqStep, message]…}  a batch of forwarded messages
 *                       routes   {control}                               a route delta of the sender (a
 *                                                                        `control-codec.ts` message, unnumbered)
 *                       ping     {}                                      liveness on an idle link
 *   receiver → sender   ack      {seq}                                   everything up to seq delivered
 *
 * Every message has a sequence number; in a batch the first is `firstSeq` and each further one is
 * the previous plus its `seqStep` (≥ 1; 1 unless the batch carries resends). Sequence numbers
 * belong to the sender's incarnation and only grow, across streams and peers. Messages are encoded
 * by `message-codec.ts`, with one string table per batch.
 */
import { MalformedFrameError } from './errors.js'
import { MessageBatchReader, MessageBatchWriter } from './message-codec.js'
import { BinaryReader, BinaryWriter } from './wire.js'
import type { Message } from '../src/core/mqtt/message.js'

const KIND_OPEN = 1
const KIND_MESSAGES = 2
const KIND_ACK = 3
const KIND_PING = 4
const KIND_ROUTES = 5

export type ForwardFrame =
  | { kind: 'open', sender: string, senderIncarnation: number, receiver: string }
  | { kind: 'messages', seqs: number[], messages: Message[] }
  | { kind: 'ack', seq: number }
  | { kind: 'routes', control: Uint8Array }
  | { kind: 'ping' }

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
    const batch = this.batch
    batch.reset(sender)
    const writer = this.writer.resetFrame().u8(KIND_MESSAGES)
    let previous = seqs[0] as number
    writer.varint(previous).varint(count)
    for (let i = 0; i < count; i++) {
      const seq = seqs[i] as number
      if (i > 0) {
        if (seq <= previous) throw new RangeError(`sequence numbers must grow within a batch (${seq} after ${previous})`)
        writer.varint(seq - previous)
      }
      previous = seq
      batch.write(writer, messages[i] as Message)
    }
    return writer.finishFrame()
  }

  /** A route announcement of the sender, already encoded by `encodeControl()`. */
  routes (control: Uint8Array): Uint8Array {
    return this.writer.resetFrame().u8(KIND_ROUTES).raw(control).finishFrame()
  }

  ack (seq: number): Uint8Array {
    return this.writer.resetFrame().u8(KIND_ACK).varint(seq).finishFrame()
  }

  ping (): Uint8Array {
    return this.writer.resetFrame().u8(KIND_PING).finishFrame()
  }
}

/**
 * Decodes one frame body (without its length prefix). `sender` is the node the stream comes from
 * (known after its open frame); a messages frame needs it to restore origins left out.
 */
export function decodeForwardFrame (body: Uint8Array, sender?: string): ForwardFrame {
  const reader = new BinaryReader(body)
  const kind = reader.u8()
  let frame: ForwardFrame
  switch (kind) {
    case KIND_OPEN:
      frame = { kind: 'open', sender: reader.string(), senderIncarnation: reader.varint(), receiver: reader.string() }
      break
    case KIND_MESSAGES: {
      if (sender === undefined) throw new MalformedFrameError('messages before the open frame')
      frame = readMessages(reader, sender)
      break
    }
    case KIND_ACK:
      frame = { kind: 'ack', seq: reader.varint() }
      break
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

function readMessages (reader: BinaryReader, sender: string): ForwardFrame {
  let seq = reader.varint()
  const count = reader.count()
  if (count === 0) throw new MalformedFrameError('empty messages frame')
  const batch = new MessageBatchReader(sender)
  const seqs = new Array<number>(count)
  const messages = new Array<Message>(count)
  for (let i = 0; i < count; i++) {
    if (i > 0) {
      const step = reader.varint()
      if (step === 0) throw new MalformedFrameError('sequence numbers must grow within a batch')
      seq += step
    }
    seqs[i] = seq
    messages[i] = batch.read(reader)
  }
  return { kind: 'messages', seqs, messages }
}
