/**
 * One shared subscription group of one filter, as a trie shard holds it: the group's members on
 * this node, the other nodes that have members (their `$share/<group>/<filter>` routes), and what
 * the configured strategy remembers for its picks (src/core/routing/shared-dispatch.ts).
 */
import type { SharedTarget } from '../src/core/mqtt/message.js'
import { createPickState, type GroupCounter, type PickState } from '../src/core/routing/shared-dispatch.js'
import type { Subscriber } from './messages.js'

/** A candidate of a pick at the publishing node: a local member, or another node (its name). */
export type SharedCandidate = Subscriber | string

/** A `GroupCounter` with the number of groups of its name that use it (dropped at zero). */
export interface CountedGroupCounter extends GroupCounter { users: number }

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

  /** Adds or replaces a member; returns whether it is new. */
  setMember (subscriber: Subscriber): boolean {
    this.candidateList = undefined
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
    this.candidateList = undefined
    return true
  }

  /** Adds a remote node; returns whether it is new. */
  addNode (node: string): boolean {
    if (this.nodes.includes(node)) return false
    this.nodes.push(node)
    this.candidateList = undefined
    return true
  }

  /** Removes a remote node; returns whether it was one. */
  removeNode (node: string): boolean {
    const at = this.nodes.indexOf(node)
    if (at < 0) return false
    this.nodes.splice(at, 1)
    this.candidateList = undefined
    return true
  }

  /** Whether `targets` (a forwarded message's) name this group. */
  targetedBy (targets: readonly SharedTarget[]): boolean {
    for (const target of targets) {
      if (target.group === this.target.group && target.filter === this.target.filter) return true
    }
    return false
  }
}
