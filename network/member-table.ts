/**
 * The member table: every other node this node knows, by name, with its peer id, incarnation,
 * addresses and up/down status, plus tombstones of nodes that left or were force-left (so their
 * running incarnation is refused until it rejoins with a new one). Pure; time is passed in.
 */
import type { HelloRejectReason } from './errors.js'

export type MemberStatus = 'up' | 'down'

/** How a node presents itself (hello) or is presented by others (member lists, digests). */
export interface MemberInfo {
  name: string
  peerId: string
  /** Start time of the node's current membership (ms); a higher value means it restarted or rejoined. */
  incarnation: number
  /** Multiaddrs (with `/p2p/<peerId>`) to dial it. */
  addrs: string[]
}

export interface Member extends MemberInfo {
  status: MemberStatus
  /** When the status last changed (ms). */
  since: number
  /** Whether a connection to it was ever established (a member only heard of is down but never was up). */
  everUp: boolean
}

/** A node that left or was removed, refused while it runs the same incarnation. */
export interface Tombstone {
  name: string
  incarnation: number
}

export type UpOutcome =
  /** First connection to this node: node-up. */
  | { kind: 'joined' }
  /** The node runs a new incarnation (restart or rejoin): node-up, its routes must be resynced. */
  | { kind: 'restarted', previousIncarnation: number }
  /** A node seen down is back with the same incarnation: node-up and partition-healed. */
  | { kind: 'healed', downForMs: number }
  /** Already up (another connection or a repeated hello). */
  | { kind: 'unchanged' }
  | { kind: 'rejected', reason: HelloRejectReason, detail: string }

export class MemberTable {
  private readonly members = new Map<string, Member>()
  private readonly byPeer = new Map<string, string>()
  private readonly removed = new Map<string, number>()

  constructor (readonly self: string) {}

  get (name: string): Member | undefined {
    return this.members.get(name)
  }

  nameOfPeer (peerId: string): string | undefined {
    return this.byPeer.get(peerId)
  }

  all (): Member[] {
    return [...this.members.values()]
  }

  isUp (name: string): boolean {
    return this.members.get(name)?.status === 'up'
  }

  /** Names of the members currently up, sorted. */
  running (): string[] {
    return this.all().filter(m => m.status === 'up').map(m => m.name).sort()
  }

  /** Names of the known members currently down, sorted. */
  stopped (): string[] {
    return this.all().filter(m => m.status === 'down').map(m => m.name).sort()
  }

  /** Checks a hello without changing anything. */
  check (info: MemberInfo): UpOutcome | undefined {
    if (info.name === this.self) return { kind: 'rejected', reason: 'same-name', detail: `${info.name} is this node's own name` }
    if (this.isRemoved(info.name, info.incarnation)) {
      return { kind: 'rejected', reason: 'removed', detail: `${info.name} (incarnation ${info.incarnation}) left or was removed from the cluster` }
    }
    const known = this.members.get(info.name)
    if (known === undefined) return undefined
    if (info.incarnation < known.incarnation) {
      return { kind: 'rejected', reason: 'stale-incarnation', detail: `${info.name} runs incarnation ${known.incarnation}, not ${info.incarnation}` }
    }
    if (known.status === 'up' && info.incarnation === known.incarnation && info.peerId !== known.peerId) {
      return { kind: 'rejected', reason: 'name-conflict', detail: `${info.name} is already up as peer ${known.peerId}` }
    }
    return undefined
  }

  /** A hello from `info` succeeded on a live connection. */
  up (info: MemberInfo, now: number): UpOutcome {
    const rejection = this.check(info)
    if (rejection !== undefined) return rejection
    const known = this.members.get(info.name)
    this.store({ ...info, status: 'up', since: known?.status === 'up' ? known.since : now, everUp: true })
    if (known === undefined || !known.everUp) return { kind: 'joined' }
    if (info.incarnation > known.incarnation) return { kind: 'restarted', previousIncarnation: known.incarnation }
    if (known.status === 'down') return { kind: 'healed', downForMs: now - known.since }
    return { kind: 'unchanged' }
  }

  /** The last connection to `name` closed; true if it was up. */
  down (name: string, now: number): boolean {
    const member = this.members.get(name)
    if (member === undefined || member.status === 'down') return false
    member.status = 'down'
    member.since = now
    return true
  }

  /**
   * A member heard of from another node (hello member list, digest). Adds it as down, or refreshes
   * the address of a down member with a newer or equal incarnation. True if it was not known.
   */
  learn (info: MemberInfo, now: number): boolean {
    if (info.name === this.self || this.isRemoved(info.name, info.incarnation)) return false
    const known = this.members.get(info.name)
    if (known === undefined) {
      this.store({ ...info, status: 'down', since: now, everUp: false })
      return true
    }
    if (known.status === 'down' && info.incarnation >= known.incarnation) {
      this.store({ ...known, peerId: info.peerId, incarnation: info.incarnation, addrs: info.addrs })
    }
    return false
  }

  /** Forgets a member; with `tombstone`, its current incarnation is refused from now on. */
  remove (name: string, tombstone: { incarnation: number } | undefined): Member | undefined {
    const member = this.members.get(name)
    if (tombstone !== undefined) {
      this.removed.set(name, Math.max(tombstone.incarnation, this.removed.get(name) ?? 0))
    }
    if (member === undefined) return undefined
    this.members.delete(name)
    if (this.byPeer.get(member.peerId) === name) this.byPeer.delete(member.peerId)
    return member
  }

  isRemoved (name: string, incarnation: number): boolean {
    const removedIncarnation = this.removed.get(name)
    return removedIncarnation !== undefined && incarnation <= removedIncarnation
  }

  tombstones (): Tombstone[] {
    return [...this.removed].map(([name, incarnation]) => ({ name, incarnation }))
  }

  /** Down members whose downtime reached `autocleanMs`. */
  expired (now: number, autocleanMs: number): string[] {
    return this.all().filter(m => m.status === 'down' && now - m.since >= autocleanMs).map(m => m.name)
  }

  /** Forgets everything, tombstones included (this node left, or joins another cluster). */
  reset (): void {
    this.members.clear()
    this.byPeer.clear()
    this.removed.clear()
  }

  private store (member: Member): void {
    const previous = this.members.get(member.name)
    if (previous !== undefined && previous.peerId !== member.peerId && this.byPeer.get(previous.peerId) === member.name) {
      this.byPeer.delete(previous.peerId)
    }
    this.members.set(member.name, member)
    this.byPeer.set(member.peerId, member.name)
  }
}
