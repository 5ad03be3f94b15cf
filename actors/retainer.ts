/**
 * The retained-message actor: owns the retained store, replaces or clears a topic's retained
 * message as publishes arrive, and sends matching retained messages to a session when it
 * subscribes [MQTT-3.3.1-6, MQTT-3.3.1-9 .. MQTT-3.3.1-11].
 */
import { spawn, dispatch, type Ref, type ActorSystemRef } from 'nact'
import { RetainedStore } from '../src/core/routing/retained-store.js'
import type { Delivery } from '../src/core/session/session-state.js'
import type { Logger } from '../src/core/log.js'
import type { Clock } from '../src/core/clock.js'
import { metrics } from '../src/core/metrics.js'
import { resumeOnCrash } from './supervision.js'
import type { RetainerMsg } from './messages.js'

export function spawnRetainer (system: ActorSystemRef, log: Logger, clock: Clock): Ref<RetainerMsg> {
  const retainerLog = log.child({ actor: 'retainer' })

  function handle (store: RetainedStore, msg: RetainerMsg): RetainedStore {
    switch (msg.type) {
      case 'retain':
        for (const message of msg.messages) store.put(message)
        metrics.messagesRetained = store.size
        break
      case 'send_retained': {
        const messages = store.match(msg.filter, clock.now())
        if (messages.length === 0) break
        const deliveries: Delivery[] = messages.map(message => {
          // Retained messages sent on subscribe carry RETAIN=1 [MQTT-3.3.1-8].
          const delivery: Delivery = { message, qos: msg.options.qos < message.qos ? msg.options.qos : message.qos, retain: true }
          if (msg.options.subscriptionId !== undefined) delivery.subscriptionIds = [msg.options.subscriptionId]
          return delivery
        })
        dispatch(msg.session, { type: 'deliver', deliveries })
        break
      }
      case 'count':
        dispatch(msg.replyTo, store.size)
        break
    }
    return store
  }

  return spawn(system, handle, 'retainer', {
    initialState: new RetainedStore(),
    onCrash: resumeOnCrash<RetainerMsg>(retainerLog)
  })
}
