/**
 * What a session may send its client under the ACL: each message is checked with `read` for the
 * client's identity as it is delivered (from this node's publishers, from other nodes, retained on
 * subscribe), and what a session holds when a client attaches (its queue, PUBLISH not yet
 * acknowledged) is checked again for the new connection's identity, which may differ (mosquitto
 * does the same: a reconnect may bring another username).
 */
import type { ClientAuthorizer } from '../auth/identity.js'
import type { Delivery, SessionState } from './session-state.js'
import { released, type QueueBudget } from './queue.js'

/** Told each message withheld from the client. */
export type Withheld = (delivery: Delivery) => void

/** The deliveries the client may read; the same array when it may read them all. */
export function readableDeliveries (deliveries: Delivery[], authorizer: ClientAuthorizer, withheld: Withheld): Delivery[] {
  let kept: Delivery[] | undefined
  for (let i = 0; i < deliveries.length; i++) {
    const delivery = deliveries[i]!
    if (authorizer.allows('read', delivery.message.topic)) {
      kept?.push(delivery)
    } else {
      kept ??= deliveries.slice(0, i)
      withheld(delivery)
    }
  }
  return kept ?? deliveries
}

/**
 * Takes out of the session what the client may not read: queued messages (their bytes released)
 * and PUBLISH in flight not yet acknowledged (a PUBREL pending means the client has the message).
 */
export function withholdUnreadable (state: SessionState, authorizer: ClientAuthorizer, budget: QueueBudget, withheld: Withheld): void {
  if (state.queue.length > 0) {
    const kept: Delivery[] = []
    for (const delivery of state.queue) {
      if (authorizer.allows('read', delivery.message.topic)) {
        kept.push(delivery)
      } else {
        released(state, delivery, budget)
        withheld(delivery)
      }
    }
    if (kept.length !== state.queue.length) state.queue = kept
  }
  const inflight = state.inflight
  if (inflight === undefined) return
  for (const [packetId, entry] of inflight) {
    if (entry.phase === 'publish' && !authorizer.allows('read', entry.delivery.message.topic)) {
      inflight.delete(packetId)
      withheld(entry.delivery)
    }
  }
}
