/**
 * A session read back from the node's store at start (see session-record.ts for what is kept):
 * its subscriptions made again in the trie shards (so its routes are announced again), its queue
 * and QoS 2 flows in flight restored, and the session waiting for its client as after a
 * disconnect. A session that was connected when the node went down counts as disconnected at the
 * restart: its expiry runs from then, and its will, when the node publishes it (`publishWill`: it
 * was standalone; in a cluster the other nodes publish a restarted node's wills, cluster-wills.ts),
 * after its delay [MQTT-3.1.3-9]. One past its expiry ends at once (publishing a will it holds).
 */
import type { SessionLifecycle } from '../src/core/channel/session-lifecycle.js'
import type { RestoredSession } from '../src/core/store/durable.js'
import { createSessionState, type SessionState, type SubscriptionOptions } from '../src/core/session/session-state.js'
import { deliveryBytes, type QueueBudget } from '../src/core/session/queue.js'
import type { SessionRecord } from './session-record.js'
import type { ClientIdentity } from '../src/core/auth/identity.js'

/** What a restore needs of the session actor. */
export interface RestorableSession {
  state: SessionState
  owner: string | undefined
  /** Its record in the node's store, made now if the session had none (undefined without a store). */
  storedRecord: () => SessionRecord | undefined
  readonly budget: QueueBudget
  readonly now: () => number
  /** Takes the identity of the client the record names (its ACL checks the will and the messages). */
  restoreIdentity: (identity: ClientIdentity | undefined) => void
  /** Marks the subscriptions to come as durable (see the session's `syncDurable`). */
  syncDurable: () => void
  subscribe: (filter: string, options: SubscriptionOptions) => void
  awaitReturn: (next: Extract<SessionLifecycle, { kind: 'disconnected' }>) => void
  /** Ends the session now (publishing a pending will). */
  end: () => void
}

export function restoreSession (session: RestorableSession, restored: RestoredSession, publishWill: boolean): void {
  const { record, subscriptions, awaitingRel, queue, inflight } = restored
  const now = session.now()
  const state = createSessionState(record.clientId, record.createdAt)
  state.expiryInterval = record.expiryInterval
  if (awaitingRel.length > 0) state.awaitingRel = new Set(awaitingRel)
  if (inflight.length > 0) {
    state.inflight = new Map(inflight.map(entry => [entry.packetId, entry]))
    state.nextPacketId = Math.max(...inflight.map(entry => entry.packetId)) % 65535 + 1
  }
  state.queue = queue
  state.queuedBytes = queue.reduce((sum, delivery) => sum + deliveryBytes(delivery), 0)
  session.budget.hold(state.queuedBytes)
  session.state = state
  session.owner = record.owner
  session.restoreIdentity(record.identity)
  session.syncDurable()
  for (const [filter, options] of subscriptions) session.subscribe(filter, options)
  session.storedRecord()?.restored()
  let pendingWill: Extract<SessionLifecycle, { kind: 'disconnected' }>['pendingWill']
  if (record.will !== undefined) {
    if (record.willDueAt !== undefined) pendingWill = { will: record.will, dueAt: record.willDueAt }
    else if (record.expiresAt === undefined && publishWill) pendingWill = { will: record.will, dueAt: now + record.will.delay * 1000 }
  }
  const expiresAt = record.expiresAt ?? now + record.expiryInterval * 1000
  session.awaitReturn({ kind: 'disconnected', expiresAt, pendingWill })
  // It expired while the node was down [MQTT-3.1.2-23]: it ends now, its will due with it (§3.1.3.2.2).
  if (expiresAt <= now) session.end()
}
