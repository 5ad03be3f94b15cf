/**
 * A session's side of persistence: what it writes to the node's store (src/core/store/durable.ts)
 * and when. A session is kept while it is persistent (Session Expiry Interval above zero) and the
 * node has a store: its record (will, expiry, identity), each subscription and its QoS 2 packet ids
 * awaiting PUBREL are written at the end of a turn that changed them, and every QoS 1/2 delivery it holds has a record
 * (the trie shard writes most as it routes them; the session those that came another way) until it
 * leaves the session. A session that stops being kept, ends or is handed to another node removes
 * its records.
 */
import type { Durable, StoredSession } from '../src/core/store/durable.js'
import type { SessionLifecycle } from '../src/core/channel/session-lifecycle.js'
import type { Delivery, InflightEntry, SessionState, SubscriptionOptions } from '../src/core/session/session-state.js'
import type { ClientIdentity } from '../src/core/auth/identity.js'

export class SessionRecord {
  private dirty = false
  /** Only the QoS 2 packet ids awaiting PUBREL changed (their own small record). */
  private relDirty = false
  /** Whether the store holds this session's records now. */
  private stored = false
  /** Subscriptions added (options) or removed (undefined) this turn, written at its end while stored. */
  private subscriptionChanges: Map<string, SubscriptionOptions | undefined> | undefined

  constructor (private readonly durable: Durable, private readonly clientId: string) {}

  /** Something the record holds changed: it is written at the end of the turn. */
  changed (): void {
    this.dirty = true
  }

  /** A subscription was added or replaced (`options`) or removed (undefined). */
  subscriptionChanged (filter: string, options: SubscriptionOptions | undefined): void {
    (this.subscriptionChanges ??= new Map()).set(filter, options)
  }

  /** An incoming QoS 2 PUBLISH or PUBREL may have changed the packet ids awaiting PUBREL. */
  relChanged (): void {
    this.relDirty = true
  }

  /** A delivery that arrived without a record (retained on subscribe, handed over, redispatched): recorded now when kept. */
  arrived (deliveries: readonly Delivery[], kept: boolean): void {
    if (!kept) return
    for (const delivery of deliveries) if (delivery.qos > 0 && delivery.storeKey === undefined) this.durable.deliveryKept(this.clientId, delivery)
  }

  /** Every message the session holds gets a record (it has just become kept). */
  keepHeld (state: SessionState): void {
    this.arrived(state.queue, true)
    for (const entry of state.inflight?.values() ?? []) {
      if (entry.delivery.storeKey === undefined) this.durable.deliveryKept(this.clientId, entry.delivery)
      if (entry.delivery.qos === 2) this.durable.deliveryInflight(this.clientId, entry)
    }
  }

  settled (delivery: Delivery): void {
    if (delivery.storeKey !== undefined) this.durable.deliverySettled(delivery)
  }

  /** A QoS 2 delivery got its packet id or went on to PUBREL: its record says so (a resend after a restart keeps the id). */
  flowChanged (entry: InflightEntry): void {
    if (entry.delivery.storeKey !== undefined) this.durable.deliveryInflight(this.clientId, entry)
  }

  /** The session's records go (it ended, was discarded or handed over): `state` says what it held. */
  removed (state: SessionState): void {
    const keyed = [...heldDeliveries(state)].filter(delivery => delivery.storeKey !== undefined)
    if (this.stored || keyed.length > 0) this.durable.sessionRemoved(this.clientId, this.stored ? state.subscriptions?.keys() ?? [] : [], keyed)
    this.stored = false
    this.dirty = false
    this.relDirty = false
    this.subscriptionChanges = undefined
  }

  /** The records read back at start are in the store (its subscriptions made again need no writing). */
  restored (): void {
    this.stored = true
    this.dirty = true
    this.subscriptionChanges = undefined
  }

  /**
   * End of a turn: writes the record if it changed and the session is kept; removes it if it
   * stopped being kept. A session that ended removed its records already; one shut down with the
   * node keeps them as they are.
   */
  endOfTurn (state: SessionState, lifecycle: SessionLifecycle, kept: boolean, owner: string | undefined, identity: ClientIdentity | undefined): void {
    const subscriptions = this.subscriptionChanges
    if (!this.dirty && !this.relDirty && subscriptions === undefined) return
    const full = this.dirty
    const rel = this.relDirty
    this.dirty = false
    this.relDirty = false
    this.subscriptionChanges = undefined
    if (lifecycle.kind !== 'connected' && lifecycle.kind !== 'disconnected') return
    if (!kept) {
      if (this.stored) this.removed(state)
      return
    }
    if (!this.stored) {
      // First written (or kept again): every part of the session.
      this.durable.sessionSaved(storedSession(state, lifecycle, owner, identity))
      for (const [filter, options] of state.subscriptions ?? []) this.durable.subscriptionSaved(this.clientId, filter, options)
      this.durable.awaitingRelSaved(this.clientId, [...state.awaitingRel ?? []])
      this.stored = true
      return
    }
    if (full) this.durable.sessionSaved(storedSession(state, lifecycle, owner, identity))
    for (const [filter, options] of subscriptions ?? []) this.durable.subscriptionSaved(this.clientId, filter, options)
    if (rel) this.durable.awaitingRelSaved(this.clientId, [...state.awaitingRel ?? []])
  }
}

/** The messages a session holds, queued and in flight. */
export function * heldDeliveries (state: SessionState): Iterable<Delivery> {
  yield * state.queue
  for (const entry of state.inflight?.values() ?? []) yield entry.delivery
}

function storedSession (state: SessionState, lifecycle: SessionLifecycle & { kind: 'connected' | 'disconnected' }, owner: string | undefined, identity: ClientIdentity | undefined): StoredSession {
  const record: StoredSession = {
    clientId: state.clientId,
    createdAt: state.createdAt,
    expiryInterval: state.expiryInterval
  }
  if (owner !== undefined) record.owner = owner
  if (identity !== undefined) record.identity = identity
  if (lifecycle.kind === 'connected') {
    if (state.will !== undefined) record.will = state.will
  } else {
    record.expiresAt = lifecycle.expiresAt
    if (lifecycle.pendingWill !== undefined) {
      record.will = lifecycle.pendingWill.will
      record.willDueAt = lifecycle.pendingWill.dueAt
    }
  }
  return record
}
