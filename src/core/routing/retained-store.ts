/**
 * Retained messages by topic (§3.3.1.3), indexed as a tree of topic levels so that a subscription's
 * filter finds its retained messages by walking the tree, not by scanning every topic.
 */
import type { Message } from '../mqtt/message.js'

interface Level {
  children: Map<string, Level>
  message?: Message | undefined
}

export class RetainedStore {
  private readonly root: Level = { children: new Map() }
  private count = 0

  get size (): number { return this.count }

  /** Stores or replaces the message of its topic; an empty payload clears it [MQTT-3.3.1-6, MQTT-3.3.1-7]. */
  put (message: Message): void {
    const levels = message.topic.split('/')
    if (message.payload.length === 0) {
      this.remove(levels)
      return
    }
    let node = this.root
    for (const level of levels) {
      let child = node.children.get(level)
      if (child === undefined) node.children.set(level, child = { children: new Map() })
      node = child
    }
    if (node.message === undefined) this.count++
    node.message = message
  }

  get (topic: string): Message | undefined {
    let node: Level | undefined = this.root
    for (const level of topic.split('/')) {
      node = node.children.get(level)
      if (node === undefined) return undefined
    }
    return node.message
  }

  /**
   * Retained messages whose topic matches the filter; expired ones are removed and skipped.
   * First-level wildcards do not match topics starting with '$' [MQTT-4.7.2-1].
   */
  match (filter: string, now: number): Message[] {
    const out: Message[] = []
    const levels = filter.split('/')
    const walk = (node: Level, depth: number): void => {
      if (depth === levels.length) {
        this.collect(node, out, now, false)
        return
      }
      const level = levels[depth]!
      if (level === '#') {
        this.collect(node, out, now, true, depth === 0)
        return
      }
      if (level === '+') {
        for (const [name, child] of node.children) {
          if (depth === 0 && name.startsWith('$')) continue
          walk(child, depth + 1)
        }
        return
      }
      const child = node.children.get(level)
      if (child !== undefined) walk(child, depth + 1)
    }
    walk(this.root, 0)
    return out
  }

  private collect (node: Level, out: Message[], now: number, deep: boolean, skipDollar = false): void {
    if (node.message !== undefined) {
      const message = node.message
      if (message.expiresAt !== undefined && message.expiresAt <= now) {
        node.message = undefined
        this.count--
      } else out.push(message)
    }
    if (!deep) return
    for (const [name, child] of node.children) {
      if (skipDollar && name.startsWith('$')) continue
      this.collect(child, out, now, true)
    }
  }

  private remove (levels: string[]): void {
    const trail: Array<[Level, string]> = []
    let node = this.root
    for (const level of levels) {
      const child = node.children.get(level)
      if (child === undefined) return
      trail.push([node, level])
      node = child
    }
    if (node.message === undefined) return
    node.message = undefined
    this.count--
    for (let i = trail.length - 1; i >= 0; i--) {
      const [parent, name] = trail[i]!
      const child = parent.children.get(name)!
      if (child.message !== undefined || child.children.size > 0) break
      parent.children.delete(name)
    }
  }
}
