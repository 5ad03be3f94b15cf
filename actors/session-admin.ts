/**
 * What an operator asks of a session through the HTTP API: its details (`info`) and a kick, which
 * closes the client's connection (v5 gets DISCONNECT 0x98 Administrative action) and ends the
 * session, as EMQX's kick-out does: a persistent session is discarded too, and the will is
 * published (the server closed the connection [MQTT-3.1.2-8]; a delayed will is due as the session ends).
 */
import type { SessionLifecycle } from '../src/core/channel/session-lifecycle.js'
import type { SessionState } from '../src/core/session/session-state.js'
import { ReasonCode } from '../src/core/mqtt/reason-codes.js'
import type { SessionInfo } from './messages.js'

/** What the kick and the details need of the session actor. */
export interface AdministeredSession {
  state: SessionState
  lifecycle: SessionLifecycle
  disconnect: (reason: 'kicked', reasonCode: number, reasonString?: string) => void
  end: () => void
}

/** The session as the HTTP API shows it. */
export function sessionInfo (session: AdministeredSession): SessionInfo {
  const { state, lifecycle } = session
  const info: SessionInfo = {
    clientId: state.clientId,
    connected: lifecycle.kind === 'connected' && lifecycle.link.connected,
    expiryInterval: state.expiryInterval,
    subscriptions: state.subscriptions?.size ?? 0,
    inflight: state.inflight?.size ?? 0,
    queued: state.queue.length,
    queuedBytes: state.queuedBytes,
    createdAt: state.createdAt
  }
  if (lifecycle.kind === 'connected') {
    info.remoteAddress = lifecycle.link.remoteAddress
    info.listener = lifecycle.link.transport.listener
    info.protocolVersion = lifecycle.protocolVersion
    info.keepalive = lifecycle.keepalive
    info.cleanStart = lifecycle.cleanStart
  }
  return info
}

/** Kicks the client: with no expiry left the close ends the session; one without a connection ends now. */
export function kick (session: AdministeredSession): void {
  const kind = session.lifecycle.kind
  if (kind === 'connected') {
    session.state.expiryInterval = 0
    session.disconnect('kicked', ReasonCode.AdministrativeAction, 'kicked by an operator')
  } else if (kind === 'disconnected') {
    session.end()
  }
}
