/**
 * Frames of the forward stream (`/meshmq/forward/1`), each sent with a varint length prefix:
 *
 *   sender → receiver   open {sender, senderIncarnation, receiver}   first frame of a stream
 *                       data {seq, message}                          one forwarded message
 *                       ping {}                                      liveness on an idle link
 *   receiver → sender   ack  {seq}                                   everything up to seq delivered
 *
 * Sequence numbers belong to the sender's incarnation and only grow, across streams and peers.
 */
import { MalformedFrameError } from './errors.js'
import { readMessage, writeMessage } from './message-codec.js'
import { BinaryReader, BinaryWriter } from './wire.js'
import type { Message } from '../src/protocol/message.js'

const KIND_OPEN = 1
const KIND_DATA = 2
const KIND_ACK = 3
const KIND_PING = 4

export type ForwardFrame =
  | { kind: 'open', sender: string, senderIncarnation: number, receiver: string }
  | { kind: 'data', seq: number, message: Message }
  | { kind: 'ack', seq: number }
  | { kind: 'ping' }

/** Encodes frames; reuses one growable scratch buffer, so results are copies. */
export class ForwardFrameEncoder {
  private readonly writer = new BinaryWriter(64 * 1024)

  open (sender: string, senderIncarnation: number, receiver: string): Uint8Array {
    return this.writer.resetFrame().u8(KIND_OPEN).string(sender).varint(senderIncarnation).string(receiver).finishFrame()
  }

  data (seq: number, message: Message): Uint8Array {
    const writer = this.writer.resetFrame().u8(KIND_DATA).varint(seq)
    writeMessage(writer, message)
    return writer.finishFrame()
  }

  ack (seq: number): Uint8Array {
    return this.writer.resetFrame().u8(KIND_ACK).varint(seq).finishFrame()
  }

  ping (): Uint8Array {
    return this.writer.resetFrame().u8(KIND_PING).finishFrame()
  }
}

/** Decodes one frame body (without its length prefix). */
export function decodeForwardFrame (body: Uint8Array): ForwardFrame {
  const reader = new BinaryReader(body)
  const kind = reader.u8()
  let frame: ForwardFrame
  switch (kind) {
    case KIND_OPEN:
      frame = { kind: 'open', sender: reader.string(), senderIncarnation: reader.varint(), receiver: reader.string() }
      break
    case KIND_DATA:
      frame = { kind: 'data', seq: reader.varint(), message: readMessage(reader) }
      break
    case KIND_ACK:
      frame = { kind: 'ack', seq: reader.varint() }
      break
    case KIND_PING:
      frame = { kind: 'ping' }
      break
    default:
      throw new MalformedFrameError(`unknown forward frame kind ${kind}`)
  }
  reader.expectEnd()
  return frame
}
