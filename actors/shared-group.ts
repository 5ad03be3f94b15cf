/**
 * One shared subscription group of one filter, as a trie shard holds it: the group's members on
 * this node, the other nodes that have members (their `$share/<group>/<filter>` routes), and what
 * the configured strategy remembers for its picks (src/core/routing/shared-dispatch.ts).
 */
import type { Message, SharedTarget } from '../src/core/mqtt/message.js'
import {
  createPickState, hashIndex, isHashStrategy, pickCandidate, type GroupCounter, type PickState, type SharedStrategy
} from '../src/core/routing/shared-dispatch.js'
import type { Subscriber } from './messages.js'

/** A candidate of a pick at the publishing node: a local member, or another node (its name). */
export type SharedCandidate = Subscriber | string

/** A `GroupCounter` with the number of groups of its name that use it (dropped at zero). */
export interface CountedGroupCounter extends GroupCounter { users: number }

/** What every pick of a shard uses: the strategy, this node's name and the random source. */
export interface PickContext { strategy: SharedStrategy, self: string, random: () => number }

export class SharedGroup {
  /** Local members, in subscription order. */
  readonly members: Subscriber[] = []
  /** Remote nodes that have members, in the order their routes came. */
  readonly nodes: string[] = []
  /** Picks among members and nodes (at the node where a message enters the cluster). */
  readonly publisherPick: PickState<SharedCandidate> = createPickState()
  /** Picks among members (at a node picked by another one). */
  readonly memberPick: PickState<Subscriber> = createPickState()
  private candidateList: SharedCandidate[] | undefined
  private nodeList: string[] | undefined

  /** `target`: the group and filter, one object for every delivery and forward of this group. */
  constructor (readonly target: SharedTarget, readonly counter: CountedGroupCounter) {}

  get empty (): boolean {
    return this.members.length === 0 && this.nodes.length === 0
  }

  /** Members, then nodes; rebuilt after a change (no copy while there are no remote nodes). */
  get candidates (): readonly SharedCandidate[] {
    if (this.nodes.length === 0) return this.members
    this.candidateList ??= [...this.members, ...this.nodes]
    return this.candidateList
  }

  /**
   * Every node with members, this one (`self`) included when it has any, in name order: what the
   * hashing strategies pick from, so a hash lands on the same node whichever node picks.
   */
  nodesWithMembers (self: string): readonly string[] {
    this.nodeList ??= (this.members.length > 0 ? [self, ...this.nodes] : [...this.nodes]).sort()
    return this.nodeList
  }

  /** Adds or replaces a member; returns whether it is new. */
  setMember (subscriber: Subscriber): boolean {
    this.changed()
    const at = this.members.findIndex(m => m.clientId === subscriber.clientId)
    if (at >= 0) {
      this.members[at] = subscriber
      return false
    }
    this.members.push(subscriber)
    return true
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
    this.candidateList = undefined
    this.nodeList = undefined
  }

  /**
   * The pick where `message` enters the cluster: a local member or another node (only when
   * `forwarding`), undefined when there is none. A hashing strategy picks a node first (see
   * `nodesWithMembers`), then, if it is this one, a member as a picked node would.
   */
  pickAtEntry (ctx: PickContext, message: Message, forwarding: boolean): SharedCandidate | undefined {
    const { strategy, self } = ctx
    if (forwarding && isHashStrategy(strategy) && this.nodes.length > 0) {
      const nodes = this.nodesWithMembers(self)
      const node = nodes[hashIndex(strategy, nodes.length, message, 'publisher')]!
      return node === self ? this.pickMember(ctx, message) : node
    }
    const candidates = forwarding ? this.candidates : this.members
    if (candidates.length === 0) return undefined
    return pickCandidate(strategy, candidates, this.members.length, this.publisherPick, this.counter, message, 'publisher', ctx.random)
  }

  /** The pick of a node another node picked: one of its members, undefined when it has none. */
  pickMember (ctx: PickContext, message: Message): Subscriber | undefined {
    if (this.members.length === 0) return undefined
    return pickCandidate(ctx.strategy, this.members, this.members.length, this.memberPick, this.counter, message, 'member', ctx.random)
  }

  /** Another node of the group, undefined when there is none. */
  pickNode (ctx: PickContext, message: Message): string | undefined {
    if (this.nodes.length === 0) return undefined
    return pickCandidate(ctx.strategy, this.nodes, 0, createPickState<string>(), this.counter, message, 'publisher', ctx.random)
  }

  /** A pick without member `departed` (whose connection dropped); undefined when no one else is left. */
  pickExcluding (ctx: PickContext, message: Message, departed: string, forwarding: boolean): SharedCandidate | undefined {
    const members = this.members.filter(m => m.clientId !== departed)
    const candidates: SharedCandidate[] = forwarding ? [...members, ...this.nodes] : members
    if (candidates.length === 0) return undefined
    return pickCandidate(ctx.strategy, candidates, members.length, this.publisherPick, this.counter, message, 'publisher', ctx.random)
  }

  /** Whether `targets` (a forwarded message's) name this group. */
  targetedBy (targets: readonly SharedTarget[]): boolean {
    for (const target of targets) {
      if (target.group === this.target.group && target.filter === this.target.filter) return true
    }
    return false
  }
}
