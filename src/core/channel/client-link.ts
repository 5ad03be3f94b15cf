/**
 * The port between a session and its client's connection: what a session may do with the
 * connection and what the connection tells the session. Listeners implement it over a socket; a
 * session never sees the socket code.
 */
import type { Packet } from 'mqtt-packet'
import type { InboundPacket } from './handle-packet.js'
import type { TransportInfo } from '../auth/identity.js'

/** Why a connection ended; 'client_disconnect' is the only graceful one. */
export type CloseReason =
  | 'client_disconnect' | 'peer_closed' | 'socket_error' | 'keepalive_timeout' | 'idle_timeout' | 'connect_timeout'
  | 'malformed_packet' | 'protocol_error' | 'packet_too_large' | 'taken_over' | 'server_shutdown'
  | 'connect_refused' | 'receive_maximum_exceeded' | 'topic_alias_invalid' | 'session_ended'
  | 'outgoing_buffer_full' | 'not_authorized' | 'auth_expired' | 'store_unavailable' | 'kicked'

/** Events a connection sends to the session that owns it. */
export type ConnectionEvent =
  | { type: 'packets', connectionId: number, packets: InboundPacket[] }
  | { type: 'closed', connectionId: number, reason: CloseReason }
  /** The outgoing buffer drained after `congested` was found true: held-back messages may go out. */
  | { type: 'writable', connectionId: number }

/** A DISCONNECT sent before a server-initiated close (v5 only) [MQTT-4.13.2-1]. */
export interface DisconnectNotice { reasonCode: number, reasonString?: string }

/** What the session sets on its connection at attach; the connection enforces them. */
export interface LinkSettings {
  /** Largest packet the client accepts (v5 Maximum Packet Size) [MQTT-3.1.2-24]. */
  maxPacketSize: number
  /** Keepalive timeout in ms (see keepalive.ts); 0 = none. */
  keepaliveTimeoutMs: number
  /** When the client's credentials expire (a JWT's `exp`, ms since the epoch): the connection is closed then. */
  authExpiresAt?: number
}

/**
 * Who takes a connection's events once attached: the session itself (an object the session already
 * is, not a closure made per connection).
 */
export interface ConnectionEvents {
  connectionEvent: (event: ConnectionEvent) => void
}

export interface ClientLink {
  readonly id: number
  readonly remoteAddress: string
  /** The listener the client came through and, on TLS, its verified certificate. */
  readonly transport: TransportInfo
  /** True from the session's attach until the connection closes. */
  readonly connected: boolean
  /**
   * Whether the outgoing buffer is past the high-water mark (slow consumer). Once it was found
   * true, a `writable` event follows when the buffer has drained.
   */
  readonly congested: boolean
  /**
   * The session takes the connection with the settings its CONNECT negotiated: events (and packets
   * that arrived meanwhile) go to `events`.
   */
  attach: (settings: LinkSettings, events: ConnectionEvents) => void
  /** Encodes and queues a packet; false when it was not sent (too large for the client, or closed). */
  send: (packet: Packet) => boolean
  /** Queues already-encoded packet bytes; false when not sent. */
  sendBytes: (bytes: Buffer) => boolean
  /** Closes after flushing pending writes; v5 gets `disconnect` first when given. */
  close: (reason: CloseReason, disconnect?: DisconnectNotice) => void
  /** Closes at once, without flushing. */
  destroy: (reason: CloseReason) => void
}
