/**
 * Retained messages and publishing, for the HTTP API (`/api/v1/retained`, `/api/v1/publish`) and
 * `meshmq ctl retained list|delete`. The retained set is replicated on every node, so this node's
 * copy is the cluster's. A publish enters the broker as a client's would (routed cluster-wide,
 * retained when asked); a retained message is cleared through the retainer, which replicates the
 * clear as a retained publish with an empty payload would, without sending subscribers an empty message.
 */
import { dispatch } from '../../actors/actor-meters.js'
import type { BrokerContext } from '../../actors/broker-context.js'
import { PublishBatch } from '../../actors/publish-batch.js'
import type { Message, QoS } from '../core/mqtt/message.js'
import { isValidTopicName, levelCount } from '../core/mqtt/topic.js'
import { metrics } from '../core/metrics.js'
import { ask } from './node-admin.js'
import { BadRequestError, NotFoundError } from './errors.js'

export { MAX_RETAINED_PAGE } from './paging.js'
/** Payload bytes a retained listing shows of each message. */
export const RETAINED_PREVIEW_BYTES = 1024
/** Who a message published through the API comes from (its `publisher`, as a client id is). */
export const API_PUBLISHER = '$http_api'

/** A retained message as the API and ctl list it: the payload cut to `RETAINED_PREVIEW_BYTES`. */
export interface RetainedRow {
  topic: string
  qos: number
  payload: string
  encoding: 'utf8' | 'base64'
  payloadBytes: number
  publisher: string | undefined
  origin: string | undefined
  expiresAt?: number
}

export interface PublishRequest { topic: string, payload: string, encoding?: 'plain' | 'base64', qos?: QoS, retain?: boolean }

/** Refuses a topic a PUBLISH could not carry: wildcards, empty, NUL, too many levels. */
export function checkTopic (topic: string, maxLevels: number): void {
  if (!isValidTopicName(topic)) throw new BadRequestError(`invalid topic name '${topic}': non-empty, no wildcards (+ #), no NUL`)
  if (levelCount(topic) > maxLevels) throw new BadRequestError(`topic has more than mqtt.maxTopicLevels (${maxLevels}) levels`)
}

/** A payload as JSON carries it: UTF-8 text as is, anything else base64. */
function payloadView (payload: Buffer): { payload: string, encoding: 'utf8' | 'base64' } {
  const text = payload.toString('utf8')
  return Buffer.byteLength(text) === payload.length && Buffer.from(text, 'utf8').equals(payload)
    ? { payload: text, encoding: 'utf8' }
    : { payload: payload.toString('base64'), encoding: 'base64' }
}

function retainedRow (message: Message): RetainedRow {
  const view = payloadView(message.payload.subarray(0, RETAINED_PREVIEW_BYTES))
  return {
    topic: message.topic,
    qos: message.qos,
    ...view,
    payloadBytes: message.payload.length,
    publisher: message.publisher,
    origin: message.origin,
    ...(message.expiresAt === undefined ? {} : { expiresAt: message.expiresAt })
  }
}

/** A page of the retained messages matching `filter` (`$SYS` topics only when the filter names them), and how many match. */
export async function listRetained (context: BrokerContext, filter: string, offset: number, limit: number): Promise<{ total: number, messages: RetainedRow[] }> {
  const result = await ask<{ total: number, messages: Message[] }>(reply => { dispatch(context.retainer, { type: 'list', filter, offset, limit, reply }) }, 'the retainer')
  return { total: result.total, messages: result.messages.map(retainedRow) }
}

/** Clears the retained message of `topic` cluster-wide; NotFoundError when there is none, BadRequestError for a bad topic. */
export async function clearRetained (context: BrokerContext, topic: string): Promise<void> {
  checkTopic(topic, context.config.mqtt.maxTopicLevels)
  const found = await ask<{ total: number, messages: Message[] }>(send => { dispatch(context.retainer, { type: 'list', filter: topic, offset: 0, limit: 1, reply: send }) }, 'the retainer')
  if (found.total === 0) throw new NotFoundError(`no retained message on ${topic}`)
  const clear: Message = { topic, payload: Buffer.alloc(0), qos: 0, retain: true, publisher: API_PUBLISHER, origin: context.node }
  dispatch(context.retainer, { type: 'retain', messages: [clear] })
}

/**
 * Publishes as a client would: routed cluster-wide, retained when asked. Counted in
 * `metrics.messagesPublishedByApi`, not in `messagesReceived` (PUBLISH packets from MQTT clients).
 */
export function publish (context: BrokerContext, request: PublishRequest): { topic: string, payloadBytes: number } {
  const { topic, encoding, qos, retain } = request
  checkTopic(topic, context.config.mqtt.maxTopicLevels)
  if (topic.startsWith('$SYS') && !context.config.auth.allowSysPublish) throw new BadRequestError('$SYS topics are the broker\'s (auth.allowSysPublish)')
  if (encoding === 'base64' && !/^[A-Za-z0-9+/]*={0,2}$/.test(request.payload)) throw new BadRequestError('payload is not base64')
  const payload = Buffer.from(request.payload, encoding === 'base64' ? 'base64' : 'utf8')
  if (payload.length > context.config.mqtt.maxPacketSize) throw new BadRequestError(`payload larger than mqtt.maxPacketSize (${context.config.mqtt.maxPacketSize} bytes)`)
  const batch = new PublishBatch(context)
  batch.add({ topic, payload, qos: qos ?? 0, retain: retain ?? false, publisher: API_PUBLISHER, origin: context.node })
  batch.flush()
  metrics.messagesPublishedByApi++
  return { topic, payloadBytes: payload.length }
}
