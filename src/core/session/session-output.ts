/**
 * Where the session functions put their effects. The session actor is the sink and carries them
 * out (socket writes, metrics, logs); a unit test records them. One sink serves every call, so
 * the per-message path allocates no effect objects.
 */
import type { IPubrelPacket } from 'mqtt-packet'
import type { Delivery, InflightEntry } from './session-state.js'

/** Why a message for the client was not sent. */
export type DropReason =
  /** QoS 0 to a client whose outgoing buffer is past its high-water mark. */
  | 'slow_consumer'
  /** The session queue was full in messages or bytes (the queue drop policy chose this message). */
  | 'queue_full'
  /** The node's budget for queued bytes was full (the queue drop policy chose this message). */
  | 'node_queue_full'
  /** Larger than the client's Maximum Packet Size [MQTT-3.1.2-25]. */
  | 'packet_too_large'
  /** A QoS 1/2 PUBLISH from the client not taken: the node's store cannot be written (disk full). */
  | 'store_unavailable'

export interface SessionOutput {
  /**
   * Whether the client's outgoing buffer is past its high-water mark (a slow consumer), asked
   * before each PUBLISH: QoS 0 is then dropped, QoS 1/2 wait in the queue.
   */
  readonly congested: boolean
  /** Write one encoded PUBLISH to the client. */
  writePublish: (bytes: Buffer) => void
  /** Send a PUBREL again after a reconnect [MQTT-4.4.0-1]. */
  send: (packet: IPubrelPacket) => void
  /** A message for the client was dropped. */
  dropped: (reason: DropReason, topic: string) => void
  /**
   * A QoS 1/2 delivery left the session for good: completed by the client, dropped, expired, or
   * taken out (its record in the node's store goes, see src/core/store/durable.ts).
   */
  settled: (delivery: Delivery) => void
  /**
   * A QoS 2 delivery in flight got its packet id (called before its PUBLISH is written) or went on
   * to PUBREL (its record says so).
   */
  flowChanged: (entry: InflightEntry) => void
}
