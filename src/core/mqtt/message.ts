/**
 * The broker's internal application message: what a PUBLISH carries from its publisher to the
 * route table, to remote nodes and to subscriber sessions. Plain data, safe to serialize.
 */
export type QoS = 0 | 1 | 2

/** MQTT 5 properties that travel with an application message [MQTT-3.3.2-*]. */
export interface MessageProperties {
  payloadFormatIndicator?: boolean
  contentType?: string
  responseTopic?: string
  correlationData?: Buffer
  /** Passed through unaltered and in order [MQTT-3.3.2-17, MQTT-3.3.2-18]. */
  userProperties?: Array<[string, string]>
}

/** One shared subscription: its Share Name and the Topic Filter inside it (MQTT 5 §4.8.2). */
export interface SharedTarget { group: string, filter: string }

/**
 * What a copy forwarded to another node carries when that node was picked for shared
 * subscriptions: it delivers to one of its members of each target, and to no other group.
 */
export interface SharedForward {
  targets: readonly SharedTarget[]
  /**
   * Sent on by a node other than the one that picked first (its chosen member left, see
   * README "Shared subscriptions"): the receiver delivers or drops, it never sends it on again.
   */
  redispatched: boolean
}

export interface Message {
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  properties?: MessageProperties
  /** Absolute expiry time (epoch ms) from the Message Expiry Interval [MQTT-3.3.2-5]. */
  expiresAt?: number
  /** Client id of the publisher, for No Local [MQTT-3.8.3-3]. */
  publisher: string
  /** Node name where the message entered the cluster. */
  origin: string
  /** Only on a copy forwarded to a node picked for shared subscriptions. */
  shared?: SharedForward
}

/** Seconds left before a message expires, rounded up; undefined when it never expires. */
export function remainingExpiry (message: Message, now: number): number | undefined {
  if (message.expiresAt === undefined) return undefined
  return Math.max(0, Math.ceil((message.expiresAt - now) / 1000))
}

export function isExpired (message: Message, now: number): boolean {
  return message.expiresAt !== undefined && message.expiresAt <= now
}
