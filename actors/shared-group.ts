/**
 * One shared subscription group of one filter, as a trie shard holds it: the group's members on
 * this node, the other nodes that have members (their `$share/<group>/<filter>` routes), and what
 * the configured strategy remembers for its picks (src/core/routing/shared-dispatch.ts).
 *
 * The node where a message enters the cluster picks a node among those with members (itself
 * included), and the picked node one of its members. A node is one candidate whatever its member
 * count: this node does not know how many members the others have, and counting its own members
 * one by one against the other nodes gave its members twice the share of the others' with two
 * members per node (the bench's `cluster-shared` ran at half the rate of plain routing, bound by
 * the busiest members). With as many members on each node, every member gets an equal share.
 */
import type { Message, SharedTarget } from '../src/core/mqtt/message.js'
import { createPickState, pickCandidate, type GroupCounter, type PickState, type SharedStrategy } from '../src/core/routing/shared-dispatch.js'
import type { Subscriber } from './messages.js'

/** The outcome of a pick at the publishing node: a local member, or another node (its name). */
export type SharedCandidate = Subscriber | string

/**
 * The `round_robin_per_group` counters of one group name, one per pick level, with the number of
 * groups of that name (one per filter) that use them (dropped at zero).
 */
export interface CountedGroupCounter { publisher: GroupCounter, member: GroupCounter, users: number }

/** What every pick of a shard uses: the strategy, this node's name and the random source. */
export interface PickContext { strategy: SharedStrategy, self: string, random: () => number }

export class SharedGroup {
  /** Local members, in subscription order. */
  readonly members: Subscriber[] = []
  /** Remote nodes that have members, in the order their routes came. */
  readonly nodes: string[] = []
  /** Picks among nodes (at the node where a message enters the cluster). */
  readonly publisherPick: PickState<string> = createPickState()
  /** Picks among this node's members. */
  readonly memberPick: PickState<Subscriber> = createPickState()
  private nodeList: string[] | undefined
  /** The members whose client is connected, when some are not (undefined: all are, or none). */
  private onlineList: Subscriber[] | undefined
  /** How many members have their client connected. */
  private online = 0

  /** `target`: the group and filter, one object for every delivery and forward of this group. */
  constructor (readonly target: SharedTarget, readonly counter: CountedGroupCounter) {}

  get empty (): boolean {
    return this.members.length === 0 && this.nodes.length === 0
  }

  /**
   * Every node with members, this one (`self`) included when it has any, in name order (so a hash
   * lands on the same node whichever node picks).
   */
  nodesWithMembers (self: string): readonly string[] {
    this.nodeList ??= (this.members.length > 0 ? [self, ...this.nodes] : [...this.nodes]).sort()
    return this.nodeList
  }

  /** Adds or replaces a member; returns whether it is new. */
  setMember (subscriber: Subscriber): boolean {
    const at = this.members.findIndex(m => m.clientId === subscriber.clientId)
    if (at >= 0) this.members[at] = subscriber
    else this.members.push(subscriber)
    this.changed()
    return at < 0
  }

  /** Removes a member; returns whether it was one. */
  removeMember (clientId: string): boolean {
    const at = this.members.findIndex(m => m.clientId === clientId)
    if (at < 0) return false
    this.members.splice(at, 1)
    this.changed()
    return true
  }

  /** Adds a remote node; returns whether it is new. */
  addNode (node: string): boolean {
    if (this.nodes.includes(node)) return false
    this.nodes.push(node)
    this.changed()
    return true
  }

  /** Removes a remote node; returns whether it was one. */
  removeNode (node: string): boolean {
    const at = this.nodes.indexOf(node)
    if (at < 0) return false
    this.nodes.splice(at, 1)
    this.changed()
    return true
  }

  private changed (): void {
    this.nodeList = undefined
    const online = this.members.filter(m => m.offline !== true)
    this.online = online.length
    this.onlineList = online.length > 0 && online.length < this.members.length ? online : undefined
  }

  /** Who a member pick chooses from: the connected members, or every member when none (or all) are connected. */
  private get pickable (): readonly Subscriber[] {
    return this.onlineList ?? this.members
  }

  /**
   * The pick where `message` enters the cluster: a local member or another node (only when
   * `forwarding`), undefined when there is none. `local` takes a connected local member when there
   * is one; every other strategy picks a node first, then, if it is this one, a member as a picked
   * node would.
   */
  pickAtEntry (ctx: PickContext, message: Message, forwarding: boolean): SharedCandidate | undefined {
    if (!forwarding || this.nodes.length === 0 || (ctx.strategy === 'local' && this.online > 0)) return this.pickMember(ctx, message)
    const node = this.pickAmong(ctx, this.nodesWithMembers(ctx.self), this.publisherPick, message)
    return node === ctx.self ? this.pickMember(ctx, message) : node
  }

  /** The pick of a node another node picked: one of its members (a connected one if any), undefined when it has none. */
  pickMember (ctx: PickContext, message: Message): Subscriber | undefined {
    const members = this.pickable
    if (members.length === 0) return undefined
    return pickCandidate(ctx.strategy, members, members.length, this.memberPick, this.counter.member, message, 'member', ctx.random)
  }

  /** Another node of the group, undefined when there is none. */
  pickNode (ctx: PickContext, message: Message): string | undefined {
    if (this.nodes.length === 0) return undefined
    return this.pickAmong(ctx, this.nodes, this.publisherPick, message)
  }

  /** A pick without member `departed` (whose connection dropped); undefined when no one else is left. */
  pickExcluding (ctx: PickContext, message: Message, departed: string, forwarding: boolean): SharedCandidate | undefined {
    const others = this.members.filter(m => m.clientId !== departed)
    const online = others.filter(m => m.offline !== true)
    const members = online.length > 0 ? online : others
    const nodes = forwarding ? this.nodes : []
    if (members.length === 0) return nodes.length === 0 ? undefined : this.pickAmong(ctx, nodes, this.publisherPick, message)
    if (nodes.length > 0 && ctx.strategy !== 'local') {
      const node = this.pickAmong(ctx, [ctx.self, ...nodes].sort(), this.publisherPick, message)
      if (node !== ctx.self) return node
    }
    return pickCandidate(ctx.strategy, members, members.length, createPickState<Subscriber>(), this.counter.member, message, 'member', ctx.random)
  }

  /** A node of `nodes` (none local to the pick: `local` picks at random among them). */
  private pickAmong (ctx: PickContext, nodes: readonly string[], state: PickState<string>, message: Message): string {
    return pickCandidate(ctx.strategy, nodes, 0, state, this.counter.publisher, message, 'publisher', ctx.random)
  }

  /** Whether `targets` (a forwarded message's) name this group. */
  targetedBy (targets: readonly SharedTarget[]): boolean {
    for (const target of targets) {
      if (target.group === this.target.group && target.filter === this.target.filter) return true
    }
    return false
  }
}
