/**
 * Keepalive and connect timeout (§3.1.2.10), and credentials that expire (a JWT's `exp`): when a
 * connection is closed without a packet to trigger it. The listener sweeps its connections and
 * asks `idleVerdict` for each (one timer for all, not one per connection).
 */
import type { ConnectionPhase } from './packet-order.js'

/**
 * The timeout for a keepalive in seconds: a client silent for 1.5 × keepalive is disconnected
 * [MQTT-3.1.2-24]; keepalive 0 turns the mechanism off (0 = no timeout).
 */
export function keepaliveTimeoutMs (keepalive: number): number {
  return keepalive * 1500
}

/** What the sweep needs to know of one connection (times in ms). */
export interface IdleState {
  phase: ConnectionPhase
  openedAt: number
  lastActivity: number
  /** From `keepaliveTimeoutMs`; 0 = none. */
  keepaliveTimeoutMs: number
  /** When the client's credentials expire (ms since the epoch); none when they do not. */
  authExpiresAt?: number | undefined
}

/** The server's idle limits (ms), from the `mqtt.*` config keys of the same names. */
export interface IdleLimits {
  connectTimeoutMs: number
  /** Cap on the silence of a client whose keepalive is 0; 0 = none. */
  maxIdleWithoutKeepaliveMs: number
}

export type IdleVerdict = 'connect_timeout' | 'keepalive_timeout' | 'idle_timeout' | 'auth_expired'

/**
 * Whether the connection is to be closed now: `connect_timeout` when no accepted CONNECT came in
 * time, `keepalive_timeout` when a connected client was silent past its keepalive timeout, and
 * `idle_timeout` when a client with keepalive 0 was silent past `maxIdleWithoutKeepaliveMs` (the
 * server may close an inactive client whatever its keepalive, MQTT 3.1.1 §3.1.2.10), `auth_expired`
 * when a connected client's credentials expired (busy or idle), else undefined.
 */
export function idleVerdict (connection: IdleState, limits: IdleLimits, now: number): IdleVerdict | undefined {
  switch (connection.phase) {
    case 'awaiting_connect':
    case 'connecting':
      return now - connection.openedAt > limits.connectTimeoutMs ? 'connect_timeout' : undefined
    case 'connected': {
      if (connection.authExpiresAt !== undefined && now >= connection.authExpiresAt) return 'auth_expired'
      const silentFor = now - connection.lastActivity
      if (connection.keepaliveTimeoutMs > 0) return silentFor > connection.keepaliveTimeoutMs ? 'keepalive_timeout' : undefined
      return limits.maxIdleWithoutKeepaliveMs > 0 && silentFor > limits.maxIdleWithoutKeepaliveMs ? 'idle_timeout' : undefined
    }
    case 'closed':
      return undefined
  }
}
