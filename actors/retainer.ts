/**
 * The retained-message actor: owns the retained store, replaces or clears a topic's retained
 * message as publishes arrive, and sends matching retained messages to a session when it
 * subscribes [MQTT-3.3.1-6, MQTT-3.3.1-9 .. MQTT-3.3.1-11].
 *
 * The store is bounded (`mqtt.maxRetainedMessages`, `mqtt.maxRetainedBytes`): a retained publish
 * that does not fit is still routed, only not stored; it is counted (`retainedFull`) and logged
 * (`retained_full`, throttled, with exact counts). A SUBSCRIBE's retained messages go out a slice
 * per actor turn, so one SUBSCRIBE matching many messages does not hold up the node.
 */
import { spawn, dispatch, type Ref, type ActorSystemRef, type ActorContext } from 'nact'
import { RetainedStore, type RetainedCursor, type RetainedLimits } from '../src/core/routing/retained-store.js'
import type { RetainedRequest } from '../src/core/channel/channel-context.js'
import type { Message } from '../src/core/mqtt/message.js'
import type { Delivery } from '../src/core/session/session-state.js'
import type { Logger } from '../src/core/log.js'
import type { Clock } from '../src/core/clock.js'
import { ThrottledLogEvent } from '../src/core/log-throttle.js'
import { metrics } from '../src/core/metrics.js'
import { resumeOnCrash } from './supervision.js'
import type { RetainerMsg, SessionMsg } from './messages.js'

/** Retained messages sent per actor turn; the rest of a SUBSCRIBE's follow in later turns. */
export const RETAINED_SLICE_MESSAGES = 1000
/** Filters matched per actor turn (a SUBSCRIBE may name thousands that match nothing). */
export const RETAINED_SLICE_FILTERS = 256

export function spawnRetainer (system: ActorSystemRef, log: Logger, clock: Clock, limits: RetainedLimits): Ref<RetainerMsg> {
  const retainerLog = log.child({ actor: 'retainer' })
  const fullLog = new ThrottledLogEvent(line => { retainerLog.warn(line, 'retained_full') })

  function retain (store: RetainedStore, messages: Message[], bounded: boolean): void {
    const now = clock.now()
    for (const message of messages) {
      if (store.put(message, now, bounded) !== 'full') continue
      metrics.retainedFull++
      fullLog.add({ count: 1 }, {
        topic: message.topic.slice(0, 256),
        retained: store.size,
        retained_bytes: store.bytes,
        max_retained_messages: limits.maxMessages,
        max_retained_bytes: limits.maxBytes
      })
    }
    metrics.messagesRetained = store.size
  }

  /**
   * Sends one slice of the retained messages of `requests`, from index `from` (with `cursor`
   * part-way through it when set), and hands the rest to a later turn of this actor.
   */
  function sendSlice (store: RetainedStore, self: Ref<RetainerMsg>, session: Ref<SessionMsg>, requests: RetainedRequest[], from: number, first: RetainedCursor | undefined): void {
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
        cursor = store.cursor(filter)
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

  function handle (store: RetainedStore, msg: RetainerMsg, ctx: ActorContext<RetainerMsg, ActorSystemRef>): RetainedStore {
    switch (msg.type) {
      case 'retain':
        retain(store, msg.messages, msg.unbounded !== true)
        break
      case 'send_retained':
        sendSlice(store, ctx.self, msg.session, msg.requests, 0, undefined)
        break
      case 'send_retained_rest':
        sendSlice(store, ctx.self, msg.session, msg.requests, msg.from, msg.cursor)
        break
      case 'count':
        dispatch(msg.replyTo, store.size)
        break
    }
    return store
  }

  return spawn(system, handle, 'retainer', {
    initialState: new RetainedStore(limits),
    onCrash: resumeOnCrash<RetainerMsg>(retainerLog)
  })
}
