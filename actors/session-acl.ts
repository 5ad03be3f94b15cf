/**
 * A session's side of the ACL: the authorizer of its client, taken from the identity of each
 * connection that attaches (a reconnect, a takeover on this node or from another node may bring
 * another identity), and the checks the session makes with it: `read` on each message delivered,
 * `publish` on its will. The packet handlers ask it for PUBLISH and SUBSCRIBE. Without an ACL
 * file every read is allowed and deliveries are not looked at.
 */
import type { Authorization, ClientAuthorizer, ClientIdentity } from '../src/core/auth/identity.js'
import { readsEverything } from '../src/core/auth/acl.js'
import type { QueueBudget } from '../src/core/session/queue.js'
import { readableDeliveries, withholdUnreadable } from '../src/core/session/readable.js'
import type { Delivery, SessionState, WillMessage } from '../src/core/session/session-state.js'
import type { RefusedAccess } from './session-warnings.js'

/** What the session does when the ACL withholds or refuses something. */
export interface AclEffects {
  notAuthorized: (access: RefusedAccess, topic: string) => void
  settled: (delivery: Delivery) => void
}

/** Before any client attached: nothing is allowed (no packet handler runs then). */
export const NO_CLIENT: ClientAuthorizer = { allows: () => false }

/**
 * What a session holds of its ACL, as two fields of its own (no object per session): set by
 * `attachAcl`, read by the checks below. It is told each refusal and each delivery withheld.
 */
export interface AclHolder extends AclEffects {
  /** The authorizer of the last client attached; `NO_CLIENT` before the first. */
  authorizer: ClientAuthorizer
  /**
   * The authorizer deliveries are checked with; undefined when it allows every read, and before
   * the first attach (what arrives then waits in the queue and is checked at the attach).
   */
  reads: ClientAuthorizer | undefined
}

/** A delivery the client may not read: counted, logged, and it leaves the session. */
function withheld (holder: AclHolder, delivery: Delivery): void {
  holder.notAuthorized('read', delivery.message.topic)
  holder.settled(delivery)
}

/**
 * A client attached with `identity`: its authorizer applies from now on, and what the session
 * holds for it (queue, PUBLISH not acknowledged) is checked again (call it while the queue's
 * bytes are in `budget`).
 */
export function attachAcl (holder: AclHolder, authorization: Authorization, identity: ClientIdentity, state: SessionState, budget: QueueBudget): void {
  const authorizer = authorization.forClient(identity)
  const reads = readsEverything(authorizer) ? undefined : authorizer
  holder.authorizer = authorizer
  holder.reads = reads
  if (reads !== undefined) withholdUnreadable(state, reads, budget, delivery => { withheld(holder, delivery) })
}

/** The deliveries the client may read (the others are counted and logged). */
export function readableBy (holder: AclHolder, deliveries: Delivery[]): Delivery[] {
  const reads = holder.reads
  return reads === undefined ? deliveries : readableDeliveries(deliveries, reads, delivery => { withheld(holder, delivery) })
}

/** Whether the client may publish its will now; a refused will is counted and logged. */
export function willAllowed (holder: AclHolder, will: WillMessage): boolean {
  if (holder.authorizer.allows('publish', will.message.topic)) return true
  holder.notAuthorized('will', will.message.topic)
  return false
}

/** The will the cluster may publish for this client should this node die: none when the ACL refuses it. */
export function replicableWill (holder: AclHolder, will: WillMessage | undefined): WillMessage | undefined {
  return will !== undefined && holder.authorizer.allows('publish', will.message.topic) ? will : undefined
}
