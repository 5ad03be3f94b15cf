/**
 * The client registry actor (like `emqx_cm`): client id → session actor. A CONNECT for a known
 * client id goes to its existing session, which takes the new connection over; otherwise a new
 * session actor is spawned. A session that ends asks to be removed, and is stopped only if no
 * newer connection was handed to it meanwhile (the attach sequence tells).
 */
import { spawn, dispatch, stop, type Ref, type ActorContext, type ActorSystemRef } from 'nact'
import { metrics } from '../src/core/metrics.js'
import type { BrokerContext } from './broker-context.js'
import { spawnSession } from './session.js'
import type { RegistryMsg, SessionMsg } from './messages.js'
import { resumeOnCrash } from './supervision.js'

interface RegistryEntry { session: Ref<SessionMsg>, attachSeq: number }

interface RegistryState {
  sessions: Map<string, RegistryEntry>
  spawned: number
}

/** Actor names allow only a safe alphabet: client ids are hex-encoded. */
function actorName (clientId: string, serial: number): string {
  return `session-${Buffer.from(clientId).toString('hex').slice(0, 200)}-${serial}`
}

export function spawnClientRegistry (broker: BrokerContext): Ref<RegistryMsg> {
  const log = broker.log.child({ actor: 'client_registry' })

  function handle (state: RegistryState, msg: RegistryMsg, ctx: ActorContext<RegistryMsg, ActorSystemRef>): RegistryState {
    switch (msg.type) {
      case 'connect': {
        const { clientId } = msg.request
        let entry = state.sessions.get(clientId)
        if (entry === undefined) {
          entry = { session: spawnSession(broker, ctx.self, clientId, actorName(clientId, ++state.spawned)), attachSeq: 0 }
          state.sessions.set(clientId, entry)
          metrics.sessions = state.sessions.size
        }
        entry.attachSeq++
        dispatch(entry.session, { type: 'attach', connection: msg.connection, request: msg.request, attachSeq: entry.attachSeq })
        break
      }
      case 'session_ended': {
        const entry = state.sessions.get(msg.clientId)
        if (entry === undefined || entry.session !== msg.session) {
          stop(msg.session)
          break
        }
        if (entry.attachSeq !== msg.attachSeq) break
        state.sessions.delete(msg.clientId)
        metrics.sessions = state.sessions.size
        stop(msg.session)
        log.debug({ clientid: msg.clientId }, 'session_removed')
        break
      }
      case 'count':
        dispatch(msg.replyTo, state.sessions.size)
        break
      case 'shutdown': {
        for (const entry of state.sessions.values()) dispatch(entry.session, { type: 'shutdown' })
        const count = state.sessions.size
        dispatch(msg.replyTo, count)
        break
      }
    }
    return state
  }

  return spawn(broker.system, handle, 'client-registry', {
    initialState: { sessions: new Map(), spawned: 0 },
    onCrash: resumeOnCrash<RegistryMsg>(log)
  })
}
