/**
 * The retained-message actor: owns the retained store, replaces or clears a topic's retained
 * message as publishes arrive, and sends matching retained messages to a session when it
 * subscribes [MQTT-3.3.1-6, MQTT-3.3.1-9 .. MQTT-3.3.1-11].
 *
 * The store is bounded (`mqtt.maxRetainedMessages`, `mqtt.maxRetainedBytes`): a retained publish
 * that does not fit is still routed, only not stored; it is counted (`retainedFull`) and logged
 * (`retained_full`, throttled, with exact counts). A SUBSCRIBE's retained messages go out a slice
 * per actor turn, so one SUBSCRIBE matching many messages does not hold up the node.
 *
 * Cluster-wide (`src/core/routing/retained-replica.ts`): each local retained write (but the node's
 * own `$SYS` topics) is stamped and handed to the `RetainedReplicator`, which pushes it to the other
 * nodes; their writes come back as `retain_replicated` and are applied last-writer-wins. One refused
 * at the bound is counted as dropped (`retained_full`) and logged like a local one; one with a
 * stamp this node cannot take, or a `$SYS` topic, is counted (`retained_refused`) and logged
 * (`retained_refused`, throttled).
 *
 * With a store (`durable`), every replicated write held here (local or a peer's) is kept in it,
 * and read back at start (`restore`, through the same last-writer-wins rule); `$SYS` topics are not.
 */
import { type Ref, type ActorSystemRef, type ActorContext } from 'nact'
import { spawnMetered, dispatch } from './actor-meters.js'
import type { RetainedCursor, RetainedLimits } from '../src/core/routing/retained-store.js'
import { RetainedReplica, type RetainedEntry } from '../src/core/routing/retained-replica.js'
import type { TombstoneLimits } from '../src/core/routing/retained-versions.js'
import type { RetainedRequest } from '../src/core/channel/channel-context.js'
import type { Message } from '../src/core/mqtt/message.js'
import type { Delivery } from '../src/core/session/session-state.js'
import type { Logger } from '../src/core/log.js'
import type { Clock } from '../src/core/clock.js'
import { ThrottledLogEvent } from '../src/core/log-throttle.js'
import { countDropped, metrics } from '../src/core/metrics.js'
import { resumeOnCrash } from './supervision.js'
import type { Durable } from '../src/core/store/durable.js'
import type { RetainerMsg, SessionMsg } from './messages.js'

/** Retained messages sent per actor turn; the rest of a SUBSCRIBE's follow in later turns. */
export const RETAINED_SLICE_MESSAGES = 1000
/** Filters matched per actor turn (a SUBSCRIBE may name thousands that match nothing). */
export const RETAINED_SLICE_FILTERS = 256

/** Where the retainer hands this node's replicated writes (the cluster wiring pushes them to the peers). */
export interface RetainedReplicator {
  retainedWritten: (entries: RetainedEntry[]) => void
}

export interface RetainerOptions {
  /** This node's name: the tie-break of its writes' stamps. */
  node: string
  log: Logger
  clock: Clock
  limits: RetainedLimits
  tombstones: TombstoneLimits
  replicator?: RetainedReplicator
  /** The node's store: retained messages are kept in it. */
  durable?: Durable
}

/** Walks `cursor` to its end: the messages from `offset` on, at most `limit`, and how many it found. */
export function listRetained (cursor: RetainedCursor, now: number, offset: number, limit: number): { total: number, messages: Message[] } {
  const messages: Message[] = []
  let total = 0
  while (!cursor.done) {
    for (const message of cursor.next(now, RETAINED_SLICE_MESSAGES)) {
      if (total >= offset && messages.length < limit) messages.push(message)
      total++
    }
  }
  return { total, messages }
}

export function spawnRetainer (system: ActorSystemRef, options: RetainerOptions): Ref<RetainerMsg> {
  const { clock, limits, replicator, durable } = options
  const retainerLog = options.log.child({ actor: 'retainer' })
  const fullLog = new ThrottledLogEvent(line => { retainerLog.warn(line, 'retained_full') })
  const refusedLog = new ThrottledLogEvent(line => { retainerLog.warn(line, 'retained_refused') })

  function full (replica: RetainedReplica, topic: string, from: string | undefined): void {
    metrics.retainedFull++
    const { store } = replica
    fullLog.add({ count: 1 }, {
      topic: topic.slice(0, 256),
      ...(from === undefined ? {} : { from }),
      retained: store.size,
      retained_bytes: store.bytes,
      max_retained_messages: limits.maxMessages,
      max_retained_bytes: limits.maxBytes
    })
  }

  function retain (replica: RetainedReplica, messages: Message[], bounded: boolean): void {
    const now = clock.now()
    const written: RetainedEntry[] = []
    for (const message of messages) {
      const { outcome, entry } = replica.writeLocal(message, now, bounded)
      if (entry !== undefined) {
        written.push(entry)
        // Refused at the bound: the topic's older message is gone here too.
        durable?.retainedWritten(outcome === 'full' ? { topic: entry.topic, stamp: entry.stamp } : entry)
      }
      if (outcome === 'full') full(replica, message.topic, undefined)
    }
    metrics.messagesRetained = replica.store.size
    if (written.length > 0) replicator?.retainedWritten(written)
  }

  function retainReplicated (replica: RetainedReplica, from: string, entries: RetainedEntry[]): void {
    const now = clock.now()
    for (const entry of entries) {
      const outcome = replica.applyRemote(entry, now)
      if (outcome === 'applied') durable?.retainedWritten(replica.store.get(entry.topic) === undefined ? { topic: entry.topic, stamp: entry.stamp } : entry)
      if (outcome === 'full') {
        durable?.retainedWritten({ topic: entry.topic, stamp: entry.stamp })
        countDropped('retained_full')
        full(replica, entry.topic, from)
      } else if (outcome === 'bad_stamp' || outcome === 'bad_topic') {
        countDropped('retained_refused')
        refusedLog.add({ count: 1 }, { reason: outcome, from, topic: entry.topic.slice(0, 256), wall: entry.stamp.wall })
      }
    }
    metrics.messagesRetained = replica.store.size
  }

  /**
   * Sends one slice of the retained messages of `requests`, from index `from` (with `cursor`
   * part-way through it when set), and hands the rest to a later turn of this actor.
   */
  function sendSlice (replica: RetainedReplica, self: Ref<RetainerMsg>, session: Ref<SessionMsg>, requests: RetainedRequest[], from: number, first: RetainedCursor | undefined): void {
    const now = clock.now()
    const deliveries: Delivery[] = []
    let index = from
    let cursor = first
    let filters = 0
    while (index < requests.length && deliveries.length < RETAINED_SLICE_MESSAGES) {
      const { filter, options } = requests[index]!
      if (cursor === undefined) {
        if (filters === RETAINED_SLICE_FILTERS) break
        filters++
        cursor = replica.store.cursor(filter)
      }
      for (const message of cursor.next(now, RETAINED_SLICE_MESSAGES - deliveries.length)) {
        // Retained messages sent on subscribe carry RETAIN=1 [MQTT-3.3.1-8].
        const delivery: Delivery = { message, qos: options.qos < message.qos ? options.qos : message.qos, retain: true }
        if (options.subscriptionId !== undefined) delivery.subscriptionIds = [options.subscriptionId]
        deliveries.push(delivery)
      }
      if (!cursor.done) break
      cursor = undefined
      index++
    }
    if (deliveries.length > 0) dispatch(session, { type: 'deliver', deliveries })
    if (index === requests.length) return
    dispatch(self, cursor === undefined
      ? { type: 'send_retained_rest', requests, from: index, session }
      : { type: 'send_retained_rest', requests, from: index, cursor, session })
  }

  function handle (replica: RetainedReplica, msg: RetainerMsg, ctx: ActorContext<RetainerMsg, ActorSystemRef>): RetainedReplica {
    switch (msg.type) {
      case 'retain':
        retain(replica, msg.messages, msg.unbounded !== true)
        break
      case 'send_retained':
        // Nothing retained: no filter to walk (a burst of SUBSCRIBEs costs no lookups).
        if (replica.store.size > 0) sendSlice(replica, ctx.self, msg.session, msg.requests, 0, undefined)
        break
      case 'send_retained_rest':
        sendSlice(replica, ctx.self, msg.session, msg.requests, msg.from, msg.cursor)
        break
      case 'count':
        dispatch(msg.replyTo, replica.store.size)
        break
      case 'list':
        msg.reply(listRetained(replica.store.cursor(msg.filter), clock.now(), msg.offset, msg.limit))
        break
      case 'retain_replicated':
        retainReplicated(replica, msg.from, msg.entries)
        break
      case 'replicated_snapshot':
        dispatch(msg.replyTo, replica.snapshot(clock.now()))
        metrics.messagesRetained = replica.store.size
        break
      case 'replicated_digest':
        dispatch(msg.replyTo, replica.digest(clock.now()))
        break
      case 'replicated_clear': {
        const now = clock.now()
        if (durable !== undefined) for (const { topic, stamp } of replica.snapshot(now)) durable.retainedWritten({ topic, stamp })
        dispatch(msg.replyTo, replica.clearReplicated(now))
        metrics.messagesRetained = replica.store.size
        break
      }
      case 'restore': {
        const now = clock.now()
        let taken = 0
        for (const entry of msg.entries) if (replica.applyRemote(entry, now) === 'applied' && replica.store.get(entry.topic) !== undefined) taken++
        metrics.messagesRetained = replica.store.size
        dispatch(msg.replyTo, taken)
        break
      }
    }
    return replica
  }

  return spawnMetered('retainer', system, handle, 'retainer', {
    initialState: new RetainedReplica(options.node, limits, options.tombstones, () => clock.now()),
    onCrash: resumeOnCrash<RetainerMsg>(retainerLog)
  })
}
