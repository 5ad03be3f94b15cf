/**
 * The in-flight window: outgoing QoS 1/2 PUBLISH the client has not completed yet, at most the
 * window of the connection [MQTT-4.9.0-2], resent after a reconnect [MQTT-4.4.0-1].
 */
import type { Delivery, InflightEntry, SessionState } from './session-state.js'
import type { SessionOutput } from './session-output.js'
import { allocatePacketId } from './packet-id.js'
import { writePublish, type Outbound } from './outbound.js'

/** Whether another QoS 1/2 PUBLISH may be sent now, the client's Receive Maximum respected [MQTT-3.3.4-9]. */
export function windowHasRoom (state: SessionState, outbound: Outbound): boolean {
  return (state.inflight?.size ?? 0) < outbound.window
}

/**
 * Sends a QoS 1/2 delivery under a fresh packet id and records it in flight until the client
 * completes it. A QoS 2 delivery's packet id is recorded before its PUBLISH is written: the sink
 * holds the PUBLISH of a kept delivery until that record is durable (held-publishes.ts).
 */
export function startFlow (state: SessionState, outbound: Outbound, delivery: Delivery, now: number, out: SessionOutput): void {
  const packetId = allocatePacketId(state)
  if (packetId === undefined) return
  const inflight = state.inflight ??= new Map()
  const entry: InflightEntry = { packetId, delivery, phase: 'publish' }
  inflight.set(packetId, entry)
  if (delivery.qos === 2) out.flowChanged(entry)
  if (!writePublish(outbound, delivery, packetId, false, now, out)) {
    inflight.delete(packetId)
    out.settled(delivery)
  }
}

/**
 * After a reconnect, the flows left open are resumed in order: a PUBLISH not yet acknowledged goes
 * out again with DUP=1 [MQTT-3.3.1-1] under its packet id, and a PUBREL whose PUBCOMP did not come
 * is repeated [MQTT-4.4.0-1]. A PUBLISH now too large for the client is dropped.
 */
export function resendInflight (state: SessionState, outbound: Outbound, now: number, out: SessionOutput): void {
  const inflight = state.inflight
  if (inflight === undefined) return
  for (const entry of [...inflight.values()]) {
    if (entry.phase === 'pubrel') out.send({ cmd: 'pubrel', messageId: entry.packetId })
    else if (!writePublish(outbound, entry.delivery, entry.packetId, true, now, out)) {
      inflight.delete(entry.packetId)
      out.settled(entry.delivery)
    }
  }
}
