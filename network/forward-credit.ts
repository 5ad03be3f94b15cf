/**
 * Flow control of the forward stream: the receiving node meters what each peer sends it by credit.
 *
 * The node has a window, in bytes (every messages frame, by its size on the wire) and in messages
 * (QoS 1/2 ones: what can wait in session queues), shared by its inbound streams: each gets an
 * equal share. The sender writes a messages frame only while it holds credit of both kinds (a
 * frame may overdraw by its last message, so one larger than the window still goes); acks carry
 * new credit that tops the sender back up to its share once the node has taken in what it
 * delivered (`settle`: its sessions have queued it, so their pressure shows it). While the node is
 * under pressure (its sessions are backlogged or its queues past their high-water mark, see
 * `DeliveryBudget`) the receiver grants nothing: the messages wait at the sender, in its bounded
 * outbound queue, while acks, route deltas and pings keep flowing; on relief the receiver tops
 * every stream up again. A fresh stream starts with no credit until the receiver's first grant,
 * so a resend burst after a reconnect is metered like any other.
 *
 * What reaches the node after its pressure begins is bounded by the node's window, however many
 * peers send (a stream's share shrinks as others open, to no less than `MIN_STREAM_WINDOW`;
 * credit it holds beyond its new share is not topped up).
 */

/** The receiving node's pressure signal (a `DeliveryBudget` is one). */
export interface InboundPressure {
  /** Whether inbound forwards should wait. */
  readonly pressured: boolean
  /** Calls `listener` each time the pressure ends; returns a function that removes it. */
  onRelief: (listener: () => void) => () => void
}

/** A node that is never under pressure: the default of a cluster network used on its own. */
export const NO_PRESSURE: InboundPressure = {
  pressured: false,
  onRelief: () => () => {}
}

/** Credit: of the node (shared by its inbound streams), or of one stream. */
export interface CreditWindow {
  /** QoS 1/2 messages senders may have written beyond what the receiver has taken in. */
  messages: number
  /** Bytes of messages frames senders may have written beyond what the receiver has taken in. */
  bytes: number
}

/** The smallest share of a stream, so a node with many peers still forwards. */
export const MIN_STREAM_WINDOW: Readonly<CreditWindow> = Object.freeze({ messages: 8, bytes: 64 * 1024 })

/** One stream's share of the node's window when `streams` streams are open. */
export function streamShare (window: CreditWindow, streams: number): CreditWindow {
  const n = Math.max(1, streams)
  return {
    messages: Math.max(MIN_STREAM_WINDOW.messages, Math.floor(window.messages / n)),
    bytes: Math.max(MIN_STREAM_WINDOW.bytes, Math.floor(window.bytes / n))
  }
}

/** Credit granted in one ack. */
export interface CreditGrant {
  messages: number
  bytes: number
}

const NO_GRANT: CreditGrant = Object.freeze({ messages: 0, bytes: 0 })

/** The receiver's ledger of one stream's credit: granted so far, used so far. Pure. */
export class ReceiveCredit {
  private grantedMessages = 0
  private grantedBytes = 0
  private usedMessages = 0
  private usedBytes = 0

  /** `window()` is the stream's share now. */
  constructor (private readonly window: () => CreditWindow) {}

  /** A messages frame of `bytes` carrying `reliable` QoS 1/2 messages was read. */
  use (reliable: number, bytes: number): void {
    this.usedMessages += reliable
    this.usedBytes += bytes
  }

  /** Credit the sender holds as this end sees it (negative when it overdrew). */
  get outstanding (): CreditGrant {
    return { messages: this.grantedMessages - this.usedMessages, bytes: this.grantedBytes - this.usedBytes }
  }

  /**
   * Whether a top-up is worth an ack of its own now: the sender has used half of either window
   * (a sender waiting for credit gets it without the delay of an ack for QoS 0 frames).
   */
  get due (): boolean {
    const { messages, bytes } = this.outstanding
    const window = this.window()
    return messages * 2 <= window.messages || bytes * 2 <= window.bytes
  }

  /** Grants what brings the sender back to its full share; records it as granted. */
  topUp (): CreditGrant {
    const { messages, bytes } = this.outstanding
    const window = this.window()
    const grant = { messages: Math.max(0, window.messages - messages), bytes: Math.max(0, window.bytes - bytes) }
    if (grant.messages === 0 && grant.bytes === 0) return NO_GRANT
    this.grantedMessages += grant.messages
    this.grantedBytes += grant.bytes
    return grant
  }
}

/** The sender's side of one stream's credit. Pure. */
export class SendCredit {
  messages = 0
  bytes = 0

  /** Credit arrived with an ack. */
  grant (messages: number, bytes: number): void {
    this.messages += messages
    this.bytes += bytes
  }

  /**
   * Whether a frame may start with a message of this QoS: bytes left, and a message left for
   * QoS 1/2.
   */
  allows (qos: number): boolean {
    return this.bytes > 0 && (qos === 0 || this.messages > 0)
  }

  /** A messages frame of `bytes` with `reliable` QoS 1/2 messages was written. */
  spend (reliable: number, bytes: number): void {
    this.messages -= reliable
    this.bytes -= bytes
  }
}
