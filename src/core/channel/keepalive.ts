/**
 * Keepalive and connect timeout (§3.1.2.10): when an idle connection is closed. The listener
 * sweeps its connections and asks `idleVerdict` for each.
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
}

/**
 * Whether the connection is to be closed now: `connect_timeout` when no accepted CONNECT came in
 * time, `keepalive_timeout` when a connected client was silent too long, else undefined.
 */
export function idleVerdict (connection: IdleState, connectTimeoutMs: number, now: number): 'connect_timeout' | 'keepalive_timeout' | undefined {
  switch (connection.phase) {
    case 'awaiting_connect':
    case 'connecting':
      return now - connection.openedAt > connectTimeoutMs ? 'connect_timeout' : undefined
    case 'connected':
      return connection.keepaliveTimeoutMs > 0 && now - connection.lastActivity > connection.keepaliveTimeoutMs
        ? 'keepalive_timeout'
        : undefined
    case 'closed':
      return undefined
  }
}
