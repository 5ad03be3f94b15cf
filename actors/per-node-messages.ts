/** The messages a trie shard forwards to other nodes, per node, and the copies it makes for shared subscriptions. */
import type { Message, SharedTarget } from '../src/core/mqtt/message.js'

/** Messages of one publish batch grouped by remote node, in order; consecutive adds for one node skip the map. */
export class PerNodeMessages {
  readonly lists = new Map<string, Message[]>()
  private lastNode: string | undefined
  private lastList: Message[] = []

  add (node: string, message: Message): void {
    if (node === this.lastNode) {
      this.lastList.push(message)
      return
    }
    let list = this.lists.get(node)
    if (list === undefined) this.lists.set(node, list = [])
    list.push(message)
    this.lastNode = node
    this.lastList = list
  }
}

/** The copy of `message` for a node picked for the shared subscriptions `targets`. */
export function annotated (message: Message, targets: SharedTarget[], redispatched: boolean): Message {
  return { ...message, shared: { targets, redispatched } }
}
