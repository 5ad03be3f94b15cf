/**
 * Packet-order rules of a connection (§3.1): the first packet is CONNECT, and there is only one.
 * The connection asks before decoding each frame.
 */

/** Where a connection is: waiting for CONNECT, CONNECT handed on, owned by its session, or closed. */
export type ConnectionPhase = 'awaiting_connect' | 'connecting' | 'connected' | 'closed'

/**
 * What a frame of `packetType` (the high nibble of its first byte) is, given the phase:
 * - `connect`: the client's CONNECT;
 * - `packet`: a packet for the session;
 * - `first_packet_not_connect`: the first packet is not CONNECT [MQTT-3.1.0-1];
 * - `second_connect`: a CONNECT after the first [MQTT-3.1.0-2].
 * Both violations close the connection.
 */
export type PacketOrder = 'connect' | 'packet' | 'first_packet_not_connect' | 'second_connect'

const CONNECT = 1

export function packetOrder (phase: ConnectionPhase, packetType: number): PacketOrder {
  if (phase === 'awaiting_connect') return packetType === CONNECT ? 'connect' : 'first_packet_not_connect'
  return packetType === CONNECT ? 'second_connect' : 'packet'
}
