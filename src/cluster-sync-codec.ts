/**
 * Binary payloads of the cluster-wide retained and will services (carried opaque by the network's
 * service channel, `network/service-channel.ts`). Messages use the forward stream's message codec
 * (`src/core/wire/message-codec.ts`); payloads are copied out of the frame, since they are kept.
 *
 *   retained entries   count, then per entry: string topic, varint wall, varint logical,
 *                      string node, bool has message, [message]
 *   wills              count, then per will: string client id, bool set, [varint delay,
 *                      bool has expiry, [varint expiry], message]
 *   digest             varint count, varint hi, varint lo
 *   page request       varint snapshot id (0: take a new snapshot), varint offset
 *   page               varint snapshot id, varint total, varint next offset, bytes items
 */
import { MessageBatchReader, MessageBatchWriter, RefusedMessage, encodedSizeBound } from './core/wire/message-codec.js'
import { MalformedFrameError } from '../network/errors.js'
import { BinaryReader, BinaryWriter } from './core/wire/binary.js'
import type { Message } from './core/mqtt/message.js'
import type { RetainedEntry } from './core/routing/retained-replica.js'
import type { RetainedDigest } from './core/routing/retained-versions.js'
import type { WillMessage } from './core/session/session-state.js'

/** A page or push is cut once it holds this many bytes (a single larger item still goes alone). */
export const SYNC_CHUNK_BYTES = 1024 * 1024
/** Items per page or push at most. */
export const SYNC_CHUNK_ITEMS = 16_384
/** An item whose message is larger than this is not replicated (a frame is at most 64 MiB). */
export const MAX_SYNC_ITEM_BYTES = 48 * 1024 * 1024

/** A will change of one client: set (`will`) or cleared. */
export interface WillChange {
  clientId: string
  will: WillMessage | undefined
}

/** Whether a message fits in one sync frame. */
export function fitsSyncFrame (message: Message): boolean {
  return encodedSizeBound(message) <= MAX_SYNC_ITEM_BYTES
}

/** Told of an item whose message this node cannot accept (see `RefusedMessage`); the item is skipped, the rest read on. */
export type OnRefused = (item: string, reason: string) => void

function readMessage (reader: BinaryReader, messages: MessageBatchReader, item: string, onRefused: OnRefused): Message | undefined {
  const message = messages.read(reader)
  if (message instanceof RefusedMessage) {
    onRefused(item, message.reason)
    return undefined
  }
  // Kept for long (the retained store, a will replica): never a view into the frame.
  if (message.qos === 0) message.payload = Buffer.from(message.payload)
  return message
}

/**
 * Encodes items from `from` while the chunk is under `SYNC_CHUNK_BYTES` and `SYNC_CHUNK_ITEMS`
 * (at least one); returns the bytes and the index after the last item taken.
 */
function encodeChunk<T> (items: readonly T[], from: number, sender: string, write: (writer: BinaryWriter, messages: MessageBatchWriter, item: T) => void): { bytes: Uint8Array, next: number } {
  const body = new BinaryWriter()
  const messages = new MessageBatchWriter()
  messages.reset(sender)
  let next = from
  while (next < items.length && next - from < SYNC_CHUNK_ITEMS && (next === from || body.length < SYNC_CHUNK_BYTES)) {
    write(body, messages, items[next]!)
    next++
  }
  return { bytes: new BinaryWriter(body.length + 8).varint(next - from).raw(body.finish()).finish(), next }
}

export function encodeRetainedChunk (entries: readonly RetainedEntry[], from: number, sender: string): { bytes: Uint8Array, next: number } {
  return encodeChunk(entries, from, sender, (writer, messages, entry) => {
    writer.string(entry.topic).varint(entry.stamp.wall).varint(entry.stamp.logical).string(entry.stamp.node)
    writer.bool(entry.message !== undefined)
    if (entry.message !== undefined) messages.write(writer, entry.message)
  })
}

/** Throws MalformedFrameError when the frame cannot be read; an entry whose message is refused is skipped. */
export function decodeRetainedEntries (bytes: Uint8Array, sender: string, onRefused: OnRefused): RetainedEntry[] {
  const reader = new BinaryReader(bytes)
  const messages = new MessageBatchReader(sender)
  const count = reader.count()
  const entries: RetainedEntry[] = []
  for (let i = 0; i < count; i++) {
    const topic = reader.string()
    const stamp = { wall: reader.varint(), logical: reader.varint(), node: reader.string() }
    const entry: RetainedEntry = { topic, stamp }
    if (reader.bool()) {
      const message = readMessage(reader, messages, topic, onRefused)
      if (message === undefined) continue
      if (message.topic !== topic) throw new MalformedFrameError(`retained entry ${topic} carries a message of ${message.topic}`)
      entry.message = message
    }
    entries.push(entry)
  }
  reader.expectEnd()
  return entries
}

export function encodeWillChunk (changes: readonly WillChange[], from: number, sender: string): { bytes: Uint8Array, next: number } {
  return encodeChunk(changes, from, sender, (writer, messages, { clientId, will }) => {
    writer.string(clientId).bool(will !== undefined)
    if (will === undefined) return
    writer.varint(will.delay).bool(will.expiryInterval !== undefined)
    if (will.expiryInterval !== undefined) writer.varint(will.expiryInterval)
    messages.write(writer, will.message)
  })
}

/** Throws MalformedFrameError when the frame cannot be read; a will whose message is refused is skipped. */
export function decodeWillChanges (bytes: Uint8Array, sender: string, onRefused: OnRefused): WillChange[] {
  const reader = new BinaryReader(bytes)
  const messages = new MessageBatchReader(sender)
  const count = reader.count()
  const changes: WillChange[] = []
  for (let i = 0; i < count; i++) {
    const clientId = reader.string()
    if (!reader.bool()) {
      changes.push({ clientId, will: undefined })
      continue
    }
    const delay = reader.varint()
    const expiryInterval = reader.bool() ? reader.varint() : undefined
    const message = readMessage(reader, messages, clientId, onRefused)
    if (message === undefined) continue
    const will: WillMessage = { message, delay }
    if (expiryInterval !== undefined) will.expiryInterval = expiryInterval
    changes.push({ clientId, will })
  }
  reader.expectEnd()
  return changes
}

export function encodeDigest (digest: RetainedDigest): Uint8Array {
  return new BinaryWriter(24).varint(digest.count).varint(digest.hi).varint(digest.lo).finish()
}

export function decodeDigest (bytes: Uint8Array): RetainedDigest {
  const reader = new BinaryReader(bytes)
  const digest = { count: reader.varint(), hi: reader.varint(), lo: reader.varint() }
  reader.expectEnd()
  return digest
}

export interface PageRequest { snapshot: number, offset: number }
export interface Page { snapshot: number, total: number, next: number, items: Uint8Array }

export function encodePageRequest (request: PageRequest): Uint8Array {
  return new BinaryWriter(16).varint(request.snapshot).varint(request.offset).finish()
}

export function decodePageRequest (bytes: Uint8Array): PageRequest {
  const reader = new BinaryReader(bytes)
  const request = { snapshot: reader.varint(), offset: reader.varint() }
  reader.expectEnd()
  return request
}

export function encodePage (page: Page): Uint8Array {
  return new BinaryWriter(page.items.length + 32).varint(page.snapshot).varint(page.total).varint(page.next).bytes(page.items).finish()
}

export function decodePage (bytes: Uint8Array): Page {
  const reader = new BinaryReader(bytes)
  const page = { snapshot: reader.varint(), total: reader.varint(), next: reader.varint(), items: reader.bytesView() }
  reader.expectEnd()
  if (page.next > page.total) throw new MalformedFrameError(`page ends at ${page.next} of ${page.total}`)
  return page
}
