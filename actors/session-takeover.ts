/**
 * The session's side of a takeover across nodes (the client registry drives it, see
 * client-registry.ts): giving the session up when its client connected on another node, and
 * taking over a session another node gave up. The session actor lends itself through
 * `TakeoverSession`; where its deliveries go meanwhile is session-handover.ts, the snapshot and
 * its codec src/core/session/session-snapshot.ts.
 */
import { willDueOnSessionEnd, type SessionLifecycle } from '../src/core/channel/session-lifecycle.js'
import { clearQueue, type QueueBudget } from '../src/core/session/queue.js'
import { snapshotOf, stateOf, type SessionSnapshot } from '../src/core/session/session-snapshot.js'
import { createSessionState, type SessionState, type SubscriptionOptions, type WillMessage } from '../src/core/session/session-state.js'
import type { HandOver } from './messages.js'
import { SessionHandover } from './session-handover.js'

/** What the takeover needs of the session actor. */
export interface TakeoverSession {
  state: SessionState
  lifecycle: SessionLifecycle
  handover: SessionHandover | undefined
  /** The node's delivery budget as the session's queue uses it now. */
  readonly budget: QueueBudget
  readonly now: () => number
  /** Closes the client's connection, if any, as taken over (0x8E); `by` says by whom, for the log. */
  closeTakenOver: (by: Record<string, unknown>) => void
  /** Cancels the will delay and expiry timers. */
  clearTimers: () => void
  /** Ends the session now (see the session actor). */
  end: () => void
  /** Publishes a will now. */
  publishWill: (will: WillMessage, now: number) => void
  /** Whether the queue's bytes are parked in the node's budget (no client connected). */
  setParked: (parked: boolean) => void
  /** Ends the (disconnected) session after `ms`. */
  expireIn: (ms: number) => void
  subscribe: (filter: string, options: SubscriptionOptions) => void
  /** Tells the shards whether the session's shared subscriptions have a connected client. */
  sharedPresence: (online: boolean) => void
  /** Removes the session's records from the node's store (it moves to another node). */
  forgetStored: () => void
  /** Marks its subscriptions durable or not, as the session is now kept or not (see the session actor). */
  syncDurable: () => void
}

/**
 * The client connected on another node: close the connection here [MQTT-3.1.4-3] (v5 gets 0x8E
 * Session taken over), then discard the session, or hand it over and keep its subscriptions for
 * `handoverMs`, forwarding what they receive, until the routes have moved. A pending delayed will
 * is cancelled by a hand-over, as by a reconnect on one node [MQTT-3.1.3-9] (the new connection
 * brings its own), and published by a discard, as the session ends (§3.1.3.2.2).
 */
export function handOver (session: TakeoverSession, request: HandOver): void {
  // A clean start on the other node ends this session: a will waiting for its delay is due (§3.1.3.2.2).
  const dueWill = request.discard ? willDueOnSessionEnd(session.lifecycle, session.state.will) : undefined
  session.closeTakenOver({ peer: request.to })
  session.clearTimers()
  session.lifecycle = { kind: 'no_session' }
  if (request.discard) {
    if (dueWill !== undefined) session.publishWill(dueWill, session.now())
    session.end()
    request.reply({ kind: 'discarded' })
    return
  }
  // The client is gone from this node: its shared memberships here count as offline (the new node's are online).
  session.sharedPresence(false)
  const { state } = session
  const snapshot = snapshotOf(state)
  session.forgetStored()
  clearQueue(state, session.budget)
  session.setParked(true)
  session.state = { ...createSessionState(state.clientId, state.createdAt), subscriptions: state.subscriptions }
  // Not kept here any more: what its subscriptions still receive is forwarded, not recorded.
  session.syncDurable()
  session.handover = SessionHandover.handedOver(request.forward)
  session.lifecycle = { kind: 'disconnected', expiresAt: session.now() + request.handoverMs, pendingWill: undefined }
  session.expireIn(request.handoverMs)
  request.reply({ kind: 'handed_over', snapshot })
}

/**
 * Takes over a session another node handed over: its state, its queue's bytes held in this node's
 * budget, its subscriptions made here; duplicates dropped for `dedupeMs`. The `attach` that follows
 * resumes it (session present).
 */
export function importHandedOver (session: TakeoverSession, snapshot: SessionSnapshot, dedupeMs: number): void {
  const state = stateOf(snapshot)
  session.budget.hold(state.queuedBytes)
  session.state = state
  for (const [filter, options] of snapshot.subscriptions) session.subscribe(filter, options)
  session.lifecycle = { kind: 'disconnected', expiresAt: session.now(), pendingWill: undefined }
  session.handover = SessionHandover.takenOver(session.now(), dedupeMs)
}
