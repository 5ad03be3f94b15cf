/**
 * The member table: every other node this node knows, by name, with its peer id, incarnation,
 * addresses and up/down status; tombstones of nodes that left or were force-left (so their
 * running incarnation is refused until it rejoins with a new one); and the pins that bind node
 * names to peer ids. Pure; time is passed in.
 *
 * Pins: a node name is bound to the peer id (the Noise identity of the connection) of the first
 * hello accepted under it, and that peer id to that name. A hello under a pinned name from
 * another peer id, or from a pinned peer id under another name, is refused (`name-conflict`),
 * whatever its incarnation and whether the node is up, down, left or cleaned: a node keeps its key
 * in its data directory, so its peer id never changes. A pin is released only by a force-leave
 * (the operator's decision that the name may come back under a new key) or when this node forgets
 * its cluster (`reset()`, on leave or join). Members heard of through others (`learn()`) are never
 * pinned on hearsay, and hearsay never changes a pinned name's peer id or a met member's
 * incarnation. Pins of names that are no longer members are kept up to `MAX_RETIRED_PINS`, the
 * oldest dropped first.
 */
import type { HelloRejectReason } from './errors.js'
import { isFarAhead, MAX_INCARNATION_AHEAD_MS } from './incarnation.js'

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

/** The peer id a node name is bound to, with the last incarnation seen under it. */
export interface Pin {
  peerId: string
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

/** Pins kept for names that are no longer members (left or cleaned). */
export const MAX_RETIRED_PINS = 1_024

export class MemberTable {
  private readonly members = new Map<string, Member>()
  private readonly removed = new Map<string, number>()
  private readonly pins = new Map<string, Pin>()
  private readonly pinnedNames = new Map<string, string>()
  /** Pinned names that are not members, oldest first. */
  private readonly retired = new Set<string>()

  constructor (readonly self: string) {}

  get (name: string): Member | undefined {
    return this.members.get(name)
  }

  /** The member a peer id is bound to, if it is a member that was met (up or down now). */
  nameOfPeer (peerId: string): string | undefined {
    const name = this.pinnedNames.get(peerId)
    return name !== undefined && this.members.get(name)?.everUp === true ? name : undefined
  }

  /** The pin of a name, member or not. */
  pinOf (name: string): Pin | undefined {
    return this.pins.get(name)
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

  /** Checks a hello received at `now` without changing anything. */
  check (info: MemberInfo, now: number): UpOutcome | undefined {
    if (info.name === this.self) return { kind: 'rejected', reason: 'same-name', detail: `${info.name} is this node's own name` }
    if (isFarAhead(info.incarnation, now)) {
      return {
        kind: 'rejected',
        reason: 'future-incarnation',
        detail: `incarnation ${info.incarnation} of ${info.name} is ${info.incarnation - now} ms ahead of this node's clock (limit ${MAX_INCARNATION_AHEAD_MS} ms)`
      }
    }
    if (this.isRemoved(info.name, info.incarnation)) {
      return { kind: 'rejected', reason: 'removed', detail: `${info.name} (incarnation ${info.incarnation}) left or was removed from the cluster` }
    }
    const pin = this.pins.get(info.name)
    if (pin !== undefined && pin.peerId !== info.peerId) {
      return {
        kind: 'rejected',
        reason: 'name-conflict',
        detail: `${info.name} is bound to peer ${pin.peerId}, not ${info.peerId} (a node with a new key is let back in by a force-leave of its name)`
      }
    }
    const owner = this.pinnedNames.get(info.peerId)
    if (owner !== undefined && owner !== info.name) {
      return { kind: 'rejected', reason: 'name-conflict', detail: `peer ${info.peerId} is node ${owner}, not ${info.name}` }
    }
    const known = this.members.get(info.name)
    if (known?.everUp === true && info.incarnation < known.incarnation) {
      return { kind: 'rejected', reason: 'stale-incarnation', detail: `${info.name} runs incarnation ${known.incarnation}, not ${info.incarnation}` }
    }
    return undefined
  }

  /** A hello from `info` succeeded on a live connection whose remote peer is `info.peerId`. */
  up (info: MemberInfo, now: number): UpOutcome {
    const rejection = this.check(info, now)
    if (rejection !== undefined) return rejection
    const known = this.members.get(info.name)
    this.members.set(info.name, { ...info, status: 'up', since: known?.status === 'up' ? known.since : now, everUp: true })
    this.pin(info.name, { peerId: info.peerId, incarnation: info.incarnation })
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
   * A member heard of from another node (hello member list, digest): hearsay. Adds it as down, or
   * refreshes the addresses of a down member. Never against a pin (another peer id for a pinned
   * name, or a pinned peer id under another name), never a met member's incarnation, and only
   * addresses that name the peer id (`/p2p/<peerId>`, which the dialer verifies). True if it was
   * not known.
   */
  learn (info: MemberInfo, now: number): boolean {
    if (info.name === this.self || this.isRemoved(info.name, info.incarnation) || isFarAhead(info.incarnation, now)) return false
    const pin = this.pins.get(info.name)
    if (pin !== undefined && pin.peerId !== info.peerId) return false
    const owner = this.pinnedNames.get(info.peerId)
    if (owner !== undefined && owner !== info.name) return false
    const addrs = info.addrs.filter(addr => addr.endsWith(`/p2p/${info.peerId}`))
    const known = this.members.get(info.name)
    if (known === undefined) {
      this.members.set(info.name, { ...info, addrs, status: 'down', since: now, everUp: false })
      return true
    }
    if (known.status === 'down' && info.incarnation >= known.incarnation && addrs.length > 0) {
      known.addrs = addrs
      if (!known.everUp) {
        known.peerId = info.peerId
        known.incarnation = info.incarnation
      }
    }
    return false
  }

  /**
   * Forgets a member. With `tombstone`, its incarnation up to that one is refused from now on;
   * with `releasePin` (force-leave), its name may come back under another peer id. Returns the
   * member, or undefined if it was not one (the tombstone and release still apply).
   */
  remove (name: string, tombstone: { incarnation: number } | undefined, releasePin = false): Member | undefined {
    const member = this.members.get(name)
    if (tombstone !== undefined) {
      this.removed.set(name, Math.max(tombstone.incarnation, this.removed.get(name) ?? 0))
    }
    this.members.delete(name)
    if (releasePin) this.unpin(name)
    else if (this.pins.has(name)) this.retire(name)
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

  /** Forgets everything, tombstones and pins included (this node left, or joins another cluster). */
  reset (): void {
    this.members.clear()
    this.removed.clear()
    this.pins.clear()
    this.pinnedNames.clear()
    this.retired.clear()
  }

  private pin (name: string, pin: Pin): void {
    this.pins.set(name, pin)
    this.pinnedNames.set(pin.peerId, name)
    this.retired.delete(name)
  }

  private unpin (name: string): void {
    const pin = this.pins.get(name)
    if (pin === undefined) return
    this.pins.delete(name)
    this.retired.delete(name)
    if (this.pinnedNames.get(pin.peerId) === name) this.pinnedNames.delete(pin.peerId)
  }

  private retire (name: string): void {
    this.retired.delete(name)
    this.retired.add(name)
    for (const oldest of this.retired) {
      if (this.retired.size <= MAX_RETIRED_PINS) break
      this.unpin(oldest)
    }
  }
}
