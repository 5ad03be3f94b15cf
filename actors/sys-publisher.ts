/**
 * The $SYS publisher actor: on every tick publishes the node's statistics as retained messages under
 * `$SYS/brokers/<node>/…` (as EMQX and mosquitto do), so a subscriber gets current values at once.
 * Dropped messages are also split by reason (`messages/dropped/<reason>`, each reason once it
 * occurred), and the node's delivery budget is shown (`messages/queued`, `messages/queued/bytes`,
 * `sessions/backlogged`), and `cluster/default_secret` (`true` while the node runs on the public
 * default cluster secret).
 */
import { type ActorFunc, type ActorSystemRef, type Ref } from 'nact'
import { spawnMetered } from './actor-meters.js'
import type { Message } from '../src/core/mqtt/message.js'
import { droppedByReason, metrics } from '../src/core/metrics.js'
import type { BrokerContext } from './broker-context.js'
import type { SysMsg } from './messages.js'
import { PublishBatch } from './publish-batch.js'
import { resumeOnCrash } from './supervision.js'
import { BROKER_VERSION } from '../src/core/version.js'
import { DEFAULT_CLUSTER_SECRET } from '../src/core/config/config.js'

/** The $SYS topics (relative to `$SYS/brokers/<node>/`) and how each value is read. */
export const SYS_TOPICS: ReadonlyArray<[string, (startedAt: number) => string]> = [
  ['version', () => BROKER_VERSION],
  ['uptime', startedAt => String(Math.floor((Date.now() - startedAt) / 1000))],
  ['clients/connected', () => String(metrics.clientsConnected)],
  ['sessions/count', () => String(metrics.sessions)],
  ['subscriptions/count', () => String(metrics.subscriptions)],
  ['messages/received', () => String(metrics.messagesReceived)],
  ['messages/sent', () => String(metrics.messagesSent)],
  ['messages/dropped', () => String(metrics.messagesDropped)],
  ['sessions/stalled', () => String(metrics.sessionsStalled)],
  ['subscriptions/refused', () => String(metrics.subscriptionsRefused)],
  ['subscriptions/not_authorized', () => String(metrics.subscriptionsNotAuthorized)],
  ['deliveries/not_authorized', () => String(metrics.deliveriesNotAuthorized)],
  ['sessions/handed_over', () => String(metrics.sessionsHandedOver)],
  ['sessions/taken_over', () => String(metrics.sessionsTakenOver)],
  ['sessions/discarded_for_peer', () => String(metrics.sessionsDiscardedForPeer)],
  ['sessions/takeover_failed', () => String(metrics.sessionsTakeoverFailed)],
  ['sessions/client_id_conflicts', () => String(metrics.clientIdConflictsLost)],
  ['clients/client_id_owned_by_other_user', () => String(metrics.clientIdOwnedByOtherUser)],
  ['clients/closed/outgoing_buffer_full', () => String(metrics.connectionsClosedOutgoingFull)],
  ['clients/refused/max_connections', () => String(metrics.connectionsRefusedMax)],
  ['messages/retained', () => String(metrics.messagesRetained)],
  ['messages/retained/full', () => String(metrics.retainedFull)],
  ['messages/forwarded', () => String(metrics.messagesForwarded)],
  ['messages/from_peers', () => String(metrics.messagesFromPeers)],
  ['messages/duplicates_suppressed', () => String(metrics.handoverDuplicatesSuppressed)],
  ['clients/accepted', () => String(metrics.connectionsAccepted)],
  ['clients/auth_failed', () => String(metrics.authFailed)],
  ['clients/closed/auth_expired', () => String(metrics.connectionsAuthExpired)],
  ['packets/received', () => String(metrics.packetsReceived)],
  ['packets/sent', () => String(metrics.packetsSent)],
  ['wills/published_for_down_nodes', () => String(metrics.willsPublishedForDownNodes)],
  ['bytes/received', () => String(metrics.bytesReceived)],
  ['bytes/sent', () => String(metrics.bytesSent)]
]

export function spawnSysPublisher (broker: BrokerContext): Ref<SysMsg> {
  const log = broker.log.child({ actor: 'sys_publisher' })
  const prefix = `$SYS/brokers/${broker.node}/`
  const startedAt = Date.now()
  const batch = new PublishBatch(broker, false, true)

  const add = (topic: string, value: string): void => {
    const message: Message = {
      topic: prefix + topic,
      payload: Buffer.from(value),
      qos: 0,
      retain: true,
      publisher: '$SYS',
      origin: broker.node
    }
    batch.add(message)
  }

  /** Every message is a tick: publish the current values. */
  const handle: ActorFunc<undefined, SysMsg, ActorSystemRef> = () => {
    for (const [topic, read] of SYS_TOPICS) add(topic, read(startedAt))
    for (const [reason, count] of droppedByReason) add(`messages/dropped/${reason}`, String(count))
    const budget = broker.deliveryBudget
    add('messages/queued', String(budget.heldMessages))
    add('messages/queued/bytes', String(budget.heldBytes))
    add('sessions/backlogged', String(budget.backlogged))
    // Whether anyone who can reach the cluster port could join (the public default secret).
    add('cluster/default_secret', String(broker.config.cluster.secret === DEFAULT_CLUSTER_SECRET))
    const store = broker.durable
    if (store !== undefined) {
      const stats = store.stats()
      add('store/commits', String(stats.commits))
      add('store/writes', String(stats.writes))
      add('store/bytes', String(stats.bytes))
      add('store/failures', String(stats.failures))
      add('store/cancelled', String(stats.cancelled))
      add('store/waiting_bytes', String(stats.waitingBytes))
      add('store/writable', String(store.failure === undefined))
    }
    batch.flush()
    return undefined
  }

  return spawnMetered('sys_publisher', broker.system, handle, 'sys-publisher', { onCrash: resumeOnCrash<SysMsg>(log) })
}
