/** Packet identifiers for outgoing QoS 1/2 PUBLISH (§2.2.1). */
import type { SessionState } from './session-state.js'

/**
 * A free packet id for an outgoing QoS 1/2 PUBLISH, never one still in flight [MQTT-2.2.1-3];
 * undefined when all 65,535 are. Ids count up from the last one given and wrap from 65535 to 1.
 */
export function allocatePacketId (state: SessionState): number | undefined {
  const inflight = state.inflight
  if (inflight !== undefined && inflight.size >= 65535) return undefined
  let id = state.nextPacketId
  while (inflight?.has(id) === true) id = id === 65535 ? 1 : id + 1
  state.nextPacketId = id === 65535 ? 1 : id + 1
  return id
}
