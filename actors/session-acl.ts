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
const NO_CLIENT: ClientAuthorizer = { allows: () => false }

export class SessionAcl {
  /** The authorizer of the last client attached. */
  authorizer: ClientAuthorizer = NO_CLIENT
  /**
   * The authorizer deliveries are checked with; undefined when it allows every read, and before
   * the first attach (what arrives then waits in the queue and is checked at the attach).
   */
  private reads: ClientAuthorizer | undefined

  /** `session`: told each refusal and each delivery withheld (it leaves the session). */
  constructor (private readonly authorization: Authorization, private readonly session: AclEffects) {}

  /** A delivery the client may not read: counted, logged, and it leaves the session. */
  private withheld (delivery: Delivery): void {
    this.session.notAuthorized('read', delivery.message.topic)
    this.session.settled(delivery)
  }

  /**
   * A client attached with `identity`: its authorizer applies from now on, and what the session
   * holds for it (queue, PUBLISH not acknowledged) is checked again (call it while the queue's
   * bytes are in `budget`).
   */
  attach (identity: ClientIdentity, state: SessionState, budget: QueueBudget): void {
    this.authorizer = this.authorization.forClient(identity)
    this.reads = readsEverything(this.authorizer) ? undefined : this.authorizer
    if (this.reads !== undefined) withholdUnreadable(state, this.reads, budget, delivery => { this.withheld(delivery) })
  }

  /** The deliveries the client may read (the others are counted and logged). */
  readable (deliveries: Delivery[]): Delivery[] {
    return this.reads === undefined ? deliveries : readableDeliveries(deliveries, this.reads, delivery => { this.withheld(delivery) })
  }

  /** Whether the client may publish its will now; a refused will is counted and logged. */
  willAllowed (will: WillMessage): boolean {
    if (this.authorizer.allows('publish', will.message.topic)) return true
    this.session.notAuthorized('will', will.message.topic)
    return false
  }

  /** The will the cluster may publish for this client should this node die: none when the ACL refuses it. */
  replicable (will: WillMessage | undefined): WillMessage | undefined {
    return will !== undefined && this.authorizer.allows('publish', will.message.topic) ? will : undefined
  }
}
