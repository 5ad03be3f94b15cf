/**
 * The lifecycle of a session as one closed state union, and the decisions at its turns: a CONNECT
 * taking over or resuming the session, a connection ending (will, expiry), a will falling due.
 * Pure: the session actor runs these and carries out what they decide.
 */
import type { ClientLink, CloseReason } from './client-link.js'
import type { ConnectRequest } from './connect.js'
import type { Message } from '../mqtt/message.js'
import type { WillMessage } from '../session/session-state.js'
import { inflightWindow, type Outbound } from '../session/outbound.js'
import type { HeldPublishes } from '../session/held-publishes.js'

/** A will waiting for its Will Delay Interval [MQTT-3.1.3-9]. */
export interface PendingWill {
  will: WillMessage
  /** Clock time at which it is published, unless the client returns first. */
  dueAt: number
}

export type SessionLifecycle =
  /**
   * No session: before the first CONNECT, or after the session ended while the client registry
   * removes it (a CONNECT that raced the removal starts a new session here).
   */
  | { kind: 'no_session' }
  /**
   * A client is connected through `link`. Of its CONNECT only what is read after the attach is
   * kept, as fields here: an idle client does not hold its whole request. It is also the
   * connection's Outbound (its limits and the topic aliases sent on it): one object, not two.
   */
  | ({
    kind: 'connected'
    link: ClientLink
    /** Topic aliases the client set on this connection [MQTT-3.3.2-10], created on first use. */
    inboundAliases: Map<number, string> | undefined
    /** Keepalive in force, seconds (shown to operators). */
    keepalive: number
    cleanStart: boolean
    /** The CONNECT's Session Expiry Interval: a DISCONNECT may not raise it from 0 [MQTT-3.14.2-2]. */
    connectSessionExpiry: number
    /** Whether reason strings may be sent [MQTT-3.1.2-29]. */
    requestProblemInformation: boolean
    /** PUBLISH packets waiting for the store to commit their packet ids, created on first use. */
    held: HeldPublishes | undefined
  } & Outbound)
  /** The session outlives its connection until `expiresAt` (clock time) [MQTT-3.1.2-23]. */
  | { kind: 'disconnected', expiresAt: number, pendingWill: PendingWill | undefined }
  /** The node shut down: the session handles nothing more. */
  | { kind: 'shut_down' }

export type ConnectedSession = Extract<SessionLifecycle, { kind: 'connected' }>

/**
 * The lifecycle of a client attached with `request` through `link`, its in-flight window at most
 * `maxInflight` (all fields set, in one order: one hidden class).
 */
export function connectedSession (link: ClientLink, request: ConnectRequest, maxInflight: number): ConnectedSession {
  return {
    kind: 'connected',
    link,
    protocolVersion: request.protocolVersion,
    window: inflightWindow(request, maxInflight),
    maxPacketSize: request.maximumPacketSize,
    topicAliasMaximum: request.topicAliasMaximum,
    aliases: undefined,
    inboundAliases: undefined,
    keepalive: request.keepalive,
    cleanStart: request.cleanStart,
    connectSessionExpiry: request.sessionExpiryInterval,
    requestProblemInformation: request.requestProblemInformation,
    held: undefined
  }
}

/** What a CONNECT handed to the session does to it. */
export interface AttachDecision {
  /** The connection the new one takes over, closed with reason 0x8E [MQTT-3.1.4-3]. */
  takenOver: ClientLink | undefined
  /** Whether the existing session is discarded: Clean Start [MQTT-3.1.2-4]. */
  discardSession: boolean
  /** Session Present in the CONNACK [MQTT-3.2.2-2, MQTT-3.2.2-3]. */
  sessionPresent: boolean
}

export function decideAttach (lifecycle: SessionLifecycle, cleanStart: boolean): AttachDecision {
  const existing = lifecycle.kind === 'connected' || lifecycle.kind === 'disconnected'
  return {
    takenOver: lifecycle.kind === 'connected' ? lifecycle.link : undefined,
    discardSession: existing && cleanStart,
    sessionPresent: existing && !cleanStart
  }
}

/**
 * The will still waiting for its Will Delay that a Clean Start connection makes due: the old
 * session ends, and a delayed will is published when its delay passes or its session ends,
 * whichever comes first (§3.1.3.2.2); a will without delay is published by the close itself.
 */
export function willDueOnSessionEnd (lifecycle: SessionLifecycle, will: WillMessage | undefined): WillMessage | undefined {
  if (lifecycle.kind === 'connected') return will !== undefined && will.delay > 0 ? will : undefined
  return lifecycle.kind === 'disconnected' ? lifecycle.pendingWill?.will : undefined
}

/** What becomes of the session when its connection ends. */
export type AfterClose =
  /** A new connection of the same client continues it. */
  | { kind: 'taken_over' }
  /** It ends now (Session Expiry Interval 0). */
  | { kind: 'end' }
  /** It waits for the client: the next lifecycle state. */
  | Extract<SessionLifecycle, { kind: 'disconnected' }>

export interface CloseDecision {
  /** The will to publish now. */
  publishWill: WillMessage | undefined
  session: AfterClose
}

/**
 * Decides the will and the session's fate when a connection ends. `disconnectWithWill` is
 * undefined when the client sent no DISCONNECT, else whether its DISCONNECT asked for the will
 * (reason 0x04) [MQTT-3.14.4-3]. The will is published on any other close [MQTT-3.1.2-8], a
 * normal DISCONNECT discards it [MQTT-3.1.2-10]. A will with a delay waits for it or for the end
 * of the session, whichever comes first [MQTT-3.1.3-9]; a taken-over connection's delayed will is
 * dropped, the new connection bringing its own.
 */
export function decideClose (will: WillMessage | undefined, reason: CloseReason, disconnectWithWill: boolean | undefined, expiryInterval: number, now: number): CloseDecision {
  const candidate = disconnectWithWill === false ? undefined : will
  if (reason === 'taken_over') {
    return { publishWill: candidate?.delay === 0 ? candidate : undefined, session: { kind: 'taken_over' } }
  }
  if (expiryInterval === 0) return { publishWill: candidate, session: { kind: 'end' } }
  const delayed = candidate !== undefined && candidate.delay > 0
  return {
    publishWill: delayed ? undefined : candidate,
    session: {
      kind: 'disconnected',
      expiresAt: now + expiryInterval * 1000,
      pendingWill: delayed ? { will: candidate, dueAt: now + candidate.delay * 1000 } : undefined
    }
  }
}

/** The will as the message published, its Message Expiry Interval counted from now [MQTT-3.3.2-5]. */
export function willMessage (will: WillMessage, now: number): Message {
  const message: Message = { ...will.message }
  if (will.expiryInterval !== undefined) message.expiresAt = now + will.expiryInterval * 1000
  return message
}

/**
 * The will the node's death would have to publish (replicated to the other nodes): the connected
 * client's `will`, or one waiting for its delay; none otherwise.
 */
export function outstandingWill (lifecycle: SessionLifecycle, will: WillMessage | undefined): WillMessage | undefined {
  if (lifecycle.kind === 'connected') return will
  return lifecycle.kind === 'disconnected' ? lifecycle.pendingWill?.will : undefined
}
