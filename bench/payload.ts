/**
 * Layout of a benchmark message payload. Fields are written and read in place in packet buffers,
 * so the hot path allocates nothing per message.
 *
 * | offset | size | field                                               |
 * |--------|------|-----------------------------------------------------|
 * | 0      | 1    | kind: data (0) or route probe (1)                   |
 * | 4      | 4    | publisher index (uint32 BE)                         |
 * | 8      | 4    | sequence number per publisher (uint32 BE)           |
 * | 16     | 8    | send time, `performance.now()` of the generator (f64 BE) |
 * | 24     | …    | zero padding up to the payload size                 |
 */

export const PAYLOAD_KIND_OFFSET = 0
export const PAYLOAD_PUBLISHER_OFFSET = 4
export const PAYLOAD_SEQ_OFFSET = 8
export const PAYLOAD_TIME_OFFSET = 16
export const MIN_PAYLOAD_BYTES = 24

export const KIND_DATA = 0
export const KIND_PROBE = 1
