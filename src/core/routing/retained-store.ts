/**
 * Retained messages by topic (§3.3.1.3), indexed as a tree of topic levels so that a subscription's
 * filter finds its retained messages by walking the tree, not by scanning every topic. Bounded in
 * count and bytes: at the bound a new topic is not stored. Every walk uses an explicit stack, so a
 * topic with very many levels cannot overflow the call stack.
 */
import type { Message } from '../mqtt/message.js'

/** Index cost counted for each level of a topic, on top of its bytes (a tree node and its map entry). */
export const LEVEL_OVERHEAD_BYTES = 96

/** The store's bounds (the `mqtt.maxRetainedMessages` and `mqtt.maxRetainedBytes` keys). */
export interface RetainedLimits {
  maxMessages: number
  maxBytes: number
}

/**
 * What `put` did: stored a new topic, replaced a topic's message, cleared a topic (empty payload,
 * or nothing to clear), or refused the message at the bound (`full`). A replacement that does not
 * fit the byte bound is refused and the topic's older message removed, so no stale message stays.
 */
export type PutOutcome = 'stored' | 'replaced' | 'cleared' | 'full'

/** Bytes a retained message is counted for: topic, payload, properties and one index node per level. */
export function retainedSize (message: Message): number {
  let bytes = Buffer.byteLength(message.topic) + message.payload.length
  let levels = 1
  for (let i = message.topic.indexOf('/'); i >= 0; i = message.topic.indexOf('/', i + 1)) levels++
  bytes += levels * LEVEL_OVERHEAD_BYTES
  const p = message.properties
  if (p !== undefined) {
    if (p.contentType !== undefined) bytes += Buffer.byteLength(p.contentType)
    if (p.responseTopic !== undefined) bytes += Buffer.byteLength(p.responseTopic)
    if (p.correlationData !== undefined) bytes += p.correlationData.length
    if (p.userProperties !== undefined) {
      for (const [key, value] of p.userProperties) bytes += Buffer.byteLength(key) + Buffer.byteLength(value)
    }
  }
  return bytes
}

class Level {
  /** Created on first child: most levels are leaves. */
  children: Map<string, Level> | undefined
  message: Message | undefined
  /** Bytes `message` counts towards the bound; 0 for an unbounded one. */
  size = 0
  /** Whether `message` counts towards the bounds. */
  bounded = false

  constructor (readonly parent: Level | undefined, readonly name: string) {}

  child (name: string): Level | undefined {
    return this.children?.get(name)
  }
}

/** One frame of a walk: a node and the index of the filter level it is matched against. */
interface Frame { node: Level, depth: number }

/** At the bound, expired messages still counted are purged at most once per this many ms. */
const PURGE_INTERVAL_MS = 1000

export class RetainedStore {
  private readonly root = new Level(undefined, '')
  /** Messages and bytes counting towards the bounds. */
  private boundedCount = 0
  private byteCount = 0
  private unboundedCount = 0
  /** Stored messages with a Message Expiry Interval: expired ones are removed lazily, by walks. */
  private expiring = 0
  private lastPurgeAt = -Infinity

  constructor (private readonly limits: RetainedLimits) {}

  /** Every stored message. */
  get size (): number { return this.boundedCount + this.unboundedCount }

  /** Bytes the messages counting towards the bounds are counted for (see `retainedSize`). */
  get bytes (): number { return this.byteCount }

  /**
   * Stores or replaces the message of its topic; an empty payload clears it [MQTT-3.3.1-6,
   * MQTT-3.3.1-7]. A new topic past `maxMessages`, or a message past `maxBytes`, is refused once
   * expired messages have been purged (at most once per second). With `bounded` false the message
   * is stored outside the bounds: for a fixed set of the node's own topics (`$SYS`).
   */
  put (message: Message, now: number, bounded = true): PutOutcome {
    const outcome = this.tryPut(message, bounded)
    if (outcome !== 'full' || this.expiring === 0 || now - this.lastPurgeAt < PURGE_INTERVAL_MS) return outcome
    this.lastPurgeAt = now
    const purge = new Walk([], this.root, this.removeMessage, -1)
    while (!purge.done) purge.next(now, Number.MAX_SAFE_INTEGER)
    return this.tryPut(message, bounded)
  }

  private tryPut (message: Message, bounded: boolean): PutOutcome {
    const existing = this.find(message.topic)
    if (message.payload.length === 0) {
      if (existing !== undefined) this.removeMessage(existing)
      return 'cleared'
    }
    const size = bounded ? retainedSize(message) : 0
    if (existing?.message !== undefined) {
      const otherBytes = this.byteCount - existing.size
      const otherCount = this.boundedCount - (existing.bounded ? 1 : 0)
      if (bounded && (otherBytes + size > this.limits.maxBytes || otherCount >= this.limits.maxMessages)) {
        this.removeMessage(existing)
        return 'full'
      }
      this.unaccount(existing)
      this.account(existing, message, size, bounded)
      return 'replaced'
    }
    if (bounded && (this.boundedCount >= this.limits.maxMessages || this.byteCount + size > this.limits.maxBytes)) return 'full'
    let node = this.root
    for (const name of message.topic.split('/')) {
      let child = node.child(name)
      if (child === undefined) {
        child = new Level(node, name)
        node.children ??= new Map()
        node.children.set(name, child)
      }
      node = child
    }
    this.account(node, message, size, bounded)
    return 'stored'
  }

  /** Sets a node's message and counts it. */
  private account (node: Level, message: Message, size: number, bounded: boolean): void {
    node.message = message
    node.size = size
    node.bounded = bounded
    if (bounded) this.boundedCount++
    else this.unboundedCount++
    this.byteCount += size
    if (message.expiresAt !== undefined) this.expiring++
  }

  /** Uncounts a node's message and clears it. */
  private unaccount (node: Level): void {
    const message = node.message
    if (message === undefined) return
    if (node.bounded) this.boundedCount--
    else this.unboundedCount--
    this.byteCount -= node.size
    if (message.expiresAt !== undefined) this.expiring--
    node.message = undefined
    node.size = 0
    node.bounded = false
  }

  get (topic: string): Message | undefined {
    return this.find(topic)?.message
  }

  /**
   * Retained messages whose topic matches the filter; expired ones are removed and skipped.
   * First-level wildcards do not match topics starting with '$' [MQTT-4.7.2-1].
   */
  match (filter: string, now: number): Message[] {
    const cursor = this.cursor(filter)
    const out: Message[] = []
    while (!cursor.done) out.push(...cursor.next(now, 4096))
    return out
  }

  /** A walk over the messages matching `filter` that can be taken a slice at a time. */
  cursor (filter: string): RetainedCursor {
    return new Walk(filter.split('/'), this.root, this.removeMessage)
  }

  /** Removes a node's message and prunes the levels it leaves without messages or children. */
  private readonly removeMessage = (node: Level): void => {
    if (node.message === undefined) return
    this.unaccount(node)
    let current = node
    while (current.parent !== undefined && current.message === undefined && (current.children?.size ?? 0) === 0) {
      const parent = current.parent
      parent.children?.delete(current.name)
      if (parent.children?.size === 0) parent.children = undefined
      current = parent
    }
  }

  private find (topic: string): Level | undefined {
    let node: Level | undefined = this.root
    for (const name of topic.split('/')) {
      node = node.child(name)
      if (node === undefined) return undefined
    }
    return node
  }
}

/**
 * A resumable walk over the retained messages matching one filter. Between slices the store may
 * change: a message replaced is seen in its new version, one removed is skipped, and a topic
 * stored after the walk passed its place is not seen.
 */
export interface RetainedCursor {
  /** Whether every matching message was returned. */
  readonly done: boolean
  /** Up to `limit` more matching messages, fewer only when the walk is done; expired ones are removed and skipped. */
  next: (now: number, limit: number) => Message[]
}

/** The cursor's walk: depth-first in insertion order, on an explicit stack. */
class Walk implements RetainedCursor {
  /** Frames left to visit, the next on top; depth `-1` marks a node under a '#' (it and all below match). */
  private readonly stack: Frame[]

  /** `startDepth` -1 walks every message, '$' topics included. */
  constructor (private readonly levels: string[], root: Level, private readonly remove: (node: Level) => void, startDepth = 0) {
    this.stack = [{ node: root, depth: startDepth }]
  }

  get done (): boolean { return this.stack.length === 0 }

  next (now: number, limit: number): Message[] {
    const out: Message[] = []
    const { levels, stack } = this
    let frame: Frame | undefined
    while (out.length < limit && (frame = stack.pop()) !== undefined) {
      const { node, depth } = frame
      if (depth === -1 || depth === levels.length) {
        this.take(node, now, out)
        if (depth === -1) this.pushChildren(node, -1, false)
        continue
      }
      const level = levels[depth]!
      if (level === '#') {
        // 'a/#' matches 'a' itself and everything below it [MQTT-4.7.1-2].
        this.take(node, now, out)
        this.pushChildren(node, -1, depth === 0)
      } else if (level === '+') {
        this.pushChildren(node, depth + 1, depth === 0)
      } else {
        const child = node.child(level)
        if (child !== undefined) stack.push({ node: child, depth: depth + 1 })
      }
    }
    return out
  }

  /** Pushes the children in reverse, so they are visited in insertion order. */
  private pushChildren (node: Level, depth: number, skipDollar: boolean): void {
    if (node.children === undefined) return
    const children = [...node.children.values()]
    for (let i = children.length - 1; i >= 0; i--) {
      const child = children[i]!
      if (skipDollar && child.name.startsWith('$')) continue
      this.stack.push({ node: child, depth })
    }
  }

  private take (node: Level, now: number, out: Message[]): void {
    const message = node.message
    if (message === undefined) return
    if (message.expiresAt !== undefined && message.expiresAt <= now) this.remove(node)
    else out.push(message)
  }
}
