/**
 * The session actor: one per client id (like `emqx_session` driven by `emqx_channel`). It owns the
 * session state (plain data, see session-state.ts) and the client's current connection, runs the
 * per-packet handlers, delivers messages within the in-flight window, queues them while the client
 * is offline, and handles takeover, will messages and session expiry. A session outlives its
 * connection when its expiry interval is above zero.
 */
import { spawn, dispatch, type Ref, type ActorContext, type ActorSystemRef } from 'nact'
import type { Packet, IConnackPacket } from 'mqtt-packet'
import type { ClientLink, CloseReason } from '../src/core/channel/client-link.js'
import type { ConnectRequest } from '../src/core/channel/connect.js'
import type { SessionContext } from '../src/core/channel/channel-context.js'
import { handlePacket } from '../src/core/channel/handle-packet.js'
import {
  createSessionState, allocatePacketId, enqueue,
  type SessionState, type SubscriptionOptions, type Delivery, type WillMessage
} from '../src/core/session/session-state.js'
import type { Message } from '../src/core/mqtt/message.js'
import { isExpired } from '../src/core/mqtt/message.js'
import { encodePublish } from '../src/core/mqtt/outgoing-publish.js'
import { parseSharedFilter } from '../src/core/mqtt/topic.js'
import { ReasonCode } from '../src/core/mqtt/reason-codes.js'
import type { Logger } from '../src/core/log.js'
import { metrics } from '../src/core/metrics.js'
import type { BrokerContext } from './broker-context.js'
import { shardsForFilter } from '../src/core/routing/shard-index.js'
import { PublishBatch } from './publish-batch.js'
import { stopOnCrash } from './supervision.js'
import type { RegistryMsg, SessionMsg, SubscriptionChange } from './messages.js'

/** The runtime side of one session: the actor's state object. */
class Session implements SessionContext {
  state: SessionState
  connection: ClientLink | undefined
  request: ConnectRequest | undefined
  attachSeq = 0
  /** Topic aliases of this connection, created on first use (most clients use none). */
  private inbound: Map<number, string> | undefined
  private outboundAliases: Map<string, number> | undefined
  private willTimer: NodeJS.Timeout | undefined
  private expiryTimer: NodeJS.Timeout | undefined
  private pendingWill: WillMessage | undefined
  /** Publishes of this actor turn, sent at its end; created with the first publish (many clients only subscribe). */
  private outbox: PublishBatch | undefined
  /** Subscription changes of this actor turn, per shard, sent at its end. */
  private subscriptionChanges: Array<SubscriptionChange[] | undefined> | undefined
  /** Set once the node shuts down; no message is handled after it. */
  private ended = false
  /** Whether there is session state a reconnect resumes (false before the first attach and after the session ended). */
  private hasSession = false
  private lastDropLog = 0
  private dropsSinceLog = 0
  /** Set by a DISCONNECT: the will to publish at close (only with reason 0x04), else none. */
  private gracefulClose: { publishWill: boolean } | undefined
  private logger: Logger | undefined

  constructor (readonly broker: BrokerContext, readonly self: Ref<SessionMsg>, readonly registry: Ref<RegistryMsg>, clientId: string) {
    this.state = createSessionState(clientId, Date.now())
  }

  get inboundAliases (): Map<number, string> {
    this.inbound ??= new Map()
    return this.inbound
  }

  /** Created on first use: a pino child per idle session costs memory for nothing. */
  get log (): Logger {
    this.logger ??= sessionLogger(this.broker, this.state.clientId)
    return this.logger
  }

  /** An info line, without creating the session's logger when info is not enabled. */
  private info (fields: Record<string, unknown>, event: string): void {
    if (this.broker.log.isLevelEnabled('info')) this.log.info(fields, event)
  }

  get protocolVersion (): 3 | 4 | 5 { return this.request?.protocolVersion ?? 4 }
  get mqttConfig (): SessionContext['mqttConfig'] { return this.broker.config.mqtt }
  get node (): string { return this.broker.node }
  get connectSessionExpiry (): number { return this.request?.sessionExpiryInterval ?? 0 }
  get problemInformation (): boolean { return this.request?.requestProblemInformation ?? true }

  private get window (): number {
    return Math.min(this.broker.config.mqtt.maxInflight, this.request?.receiveMaximum ?? 65535)
  }

  // ---- SessionContext effects -------------------------------------------------------------

  send (packet: Packet): void {
    if (this.connection !== undefined && this.connection.send(packet)) metrics.packetsSent++
  }

  publish (message: Message): void {
    metrics.messagesReceived++
    (this.outbox ??= new PublishBatch(this.broker)).add(message)
  }

  subscribe (filter: string, options: SubscriptionOptions): void {
    const subscriptions = this.state.subscriptions ??= new Map()
    const existed = subscriptions.has(filter)
    subscriptions.set(filter, options)
    if (!existed) metrics.subscriptions++
    const shared = parseSharedFilter(filter)
    const indexFilter = shared?.filter ?? filter
    const subscriber = { clientId: this.state.clientId, session: this.self, options }
    this.changeSubscription(indexFilter, shared === undefined
      ? { op: 'subscribe', filter: indexFilter, subscriber }
      : { op: 'subscribe', filter: indexFilter, group: shared.group, subscriber })
    this.info({ topic: filter, qos: options.qos }, 'subscription_added')
    // Retained messages are not sent for shared subscriptions (MQTT 5 §4.8.2); Retain Handling
    // 1 sends them only for a new subscription, 2 never [MQTT-3.3.1-9 .. MQTT-3.3.1-11].
    if (shared !== undefined || options.retainHandling === 2 || (options.retainHandling === 1 && existed)) return
    dispatch(this.broker.retainer, { type: 'send_retained', filter, options, session: this.self })
  }

  unsubscribe (filter: string): boolean {
    if (this.state.subscriptions?.delete(filter) !== true) return false
    metrics.subscriptions--
    const shared = parseSharedFilter(filter)
    const indexFilter = shared?.filter ?? filter
    this.changeSubscription(indexFilter, shared === undefined
      ? { op: 'unsubscribe', filter: indexFilter, clientId: this.state.clientId }
      : { op: 'unsubscribe', filter: indexFilter, group: shared.group, clientId: this.state.clientId })
    this.info({ topic: filter }, 'subscription_removed')
    return true
  }

  /** Queues a subscription change for the shards that index `filter`, sent at the end of the turn. */
  private changeSubscription (filter: string, change: SubscriptionChange): void {
    this.subscriptionChanges ??= new Array(this.broker.shards.length)
    for (const i of shardsForFilter(filter, this.broker.shards.length)) (this.subscriptionChanges[i] ??= []).push(change)
  }

  /**
   * Sends what this turn produced: subscription changes first (one message per shard), so a
   * client that subscribes and then publishes in one read gets its own message, then publishes.
   */
  private flushTurn (): void {
    const changes = this.subscriptionChanges
    if (changes !== undefined) {
      this.subscriptionChanges = undefined
      changes.forEach((list, i) => { if (list !== undefined) dispatch(this.broker.shards[i]!, { type: 'subscriptions', changes: list }) })
    }
    this.outbox?.flush()
  }

  disconnect (reason: CloseReason, reasonCode: number, reasonString?: string): void {
    const connection = this.connection
    if (connection === undefined) return
    const includeString = reasonString !== undefined && this.problemInformation
    connection.close(reason, includeString ? { reasonCode, reasonString } : { reasonCode })
    this.detach(reason, reasonCode)
  }

  clientDisconnect (publishWill: boolean): void {
    const connection = this.connection
    if (connection === undefined) return
    this.gracefulClose = { publishWill }
    connection.close('client_disconnect')
    this.detach('client_disconnect')
  }

  outgoingCompleted (_packetId: number): void {
    this.drainQueue()
  }

  // ---- Actor messages ---------------------------------------------------------------------

  handle (msg: SessionMsg): void {
    if (this.ended) return
    switch (msg.type) {
      case 'packets':
        if (this.connection?.id !== msg.connectionId || !this.connection.connected) return
        for (const packet of msg.packets) {
          handlePacket(this, packet)
          if (this.connection?.connected !== true) break
        }
        break
      case 'deliver':
        this.deliver(msg.deliveries)
        break
      case 'attach':
        this.attach(msg.connection, msg.request, msg.attachSeq)
        break
      case 'closed':
        if (this.connection?.id === msg.connectionId) this.detach(msg.reason)
        break
      case 'will_due':
        if (msg.attachSeq === this.attachSeq && this.connection === undefined) this.publishPendingWill()
        break
      case 'session_expired':
        if (msg.attachSeq === this.attachSeq && this.connection === undefined) {
          this.info({}, 'session_expired')
          this.end()
        }
        break
      case 'shutdown':
        this.connection?.destroy('server_shutdown')
        this.connection = undefined
        this.clearTimers()
        this.ended = true
        break
    }
    this.flushTurn()
  }

  private attach (connection: ClientLink, request: ConnectRequest, attachSeq: number): void {
    const previous = this.connection
    if (previous !== undefined) {
      // A second connection with the same client id takes over [MQTT-3.1.4-3]; v5 gets 0x8E first.
      this.info({ remote: previous.remoteAddress, new_remote: connection.remoteAddress }, 'session_taken_over')
      previous.close('taken_over', { reasonCode: ReasonCode.SessionTakenOver })
      this.detach('taken_over')
    }
    this.clearTimers()
    // A reconnect before the will delay has passed cancels the will [MQTT-3.1.3-9].
    this.pendingWill = undefined
    let sessionPresent = this.hasSession
    if (request.cleanStart && sessionPresent) {
      this.discardState()
      sessionPresent = false
    }
    this.hasSession = true
    this.attachSeq = attachSeq
    this.connection = connection
    this.request = request
    this.gracefulClose = undefined
    this.inbound = undefined
    this.outboundAliases = undefined
    this.state.expiryInterval = request.sessionExpiryInterval
    if (request.will !== undefined) this.state.will = request.will
    else delete this.state.will
    connection.clientMaxPacketSize = request.maximumPacketSize
    connection.keepaliveTimeoutMs = request.keepalive * 1500

    this.send(this.connack(request, sessionPresent))
    connection.attach(event => dispatch(this.self, event))
    metrics.clientsConnected++
    this.info({ remote: connection.remoteAddress, proto_ver: request.protocolVersion, clean_start: request.cleanStart, keepalive: request.keepalive, session_present: sessionPresent }, 'client_connected')
    this.resendInflight()
    this.drainQueue()
  }

  private connack (request: ConnectRequest, sessionPresent: boolean): IConnackPacket {
    if (request.protocolVersion !== 5) return { cmd: 'connack', returnCode: 0, sessionPresent }
    const cfg = this.broker.config.mqtt
    const properties: NonNullable<IConnackPacket['properties']> = {
      receiveMaximum: cfg.receiveMaximum,
      maximumPacketSize: cfg.maxPacketSize,
      topicAliasMaximum: cfg.topicAliasMaximum
    }
    if (!cfg.retainAvailable) properties.retainAvailable = false
    if (request.assignedClientId) properties.assignedClientIdentifier = request.clientId
    if (request.serverKeepAlive !== undefined) properties.serverKeepAlive = request.serverKeepAlive
    if (request.sessionExpiryChanged) properties.sessionExpiryInterval = request.sessionExpiryInterval
    return { cmd: 'connack', reasonCode: 0, sessionPresent, properties }
  }

  /**
   * The connection is gone (or being closed: later events from it are ignored): schedule the will,
   * then end the session or wait for its expiry.
   */
  private detach (reason: CloseReason, reasonCode?: number): void {
    const graceful = this.gracefulClose
    this.connection = undefined
    this.gracefulClose = undefined
    metrics.clientsConnected--
    this.info(reasonCode === undefined ? { reason } : { reason, reason_code: reasonCode }, 'client_disconnected')
    const will = this.state.will
    delete this.state.will
    // The will is published on any close other than a normal DISCONNECT [MQTT-3.1.2-8, MQTT-3.1.2-10].
    if (will !== undefined && (graceful === undefined || graceful.publishWill)) {
      if (will.delay === 0) this.publishWill(will)
      else if (reason !== 'taken_over') this.scheduleWill(will)
    }
    if (reason === 'taken_over') return
    if (this.state.expiryInterval === 0) {
      this.end()
      return
    }
    const seq = this.attachSeq
    const ms = Math.min(this.state.expiryInterval * 1000, 2 ** 31 - 1)
    this.expiryTimer = setTimeout(() => dispatch(this.self, { type: 'session_expired', attachSeq: seq }), ms)
  }

  private scheduleWill (will: WillMessage): void {
    // The will waits for its delay or the end of the session, whichever comes first [MQTT-3.1.3-9].
    this.pendingWill = will
    const seq = this.attachSeq
    this.willTimer = setTimeout(() => dispatch(this.self, { type: 'will_due', attachSeq: seq }), will.delay * 1000)
  }

  private publishPendingWill (): void {
    const will = this.pendingWill
    this.pendingWill = undefined
    if (will !== undefined) this.publishWill(will)
  }

  private publishWill (will: WillMessage): void {
    const message: Message = { ...will.message }
    if (will.expiryInterval !== undefined) message.expiresAt = Date.now() + will.expiryInterval * 1000
    this.info({ topic: message.topic }, 'will_published')
    this.publish(message)
  }

  /** The session is over: publish a pending will, remove its subscriptions and leave the registry. */
  private end (): void {
    this.clearTimers()
    this.publishPendingWill()
    this.discardState()
    this.hasSession = false
    this.flushTurn()
    dispatch(this.registry, { type: 'session_ended', clientId: this.state.clientId, session: this.self, attachSeq: this.attachSeq })
  }

  private discardState (): void {
    for (const filter of [...this.state.subscriptions?.keys() ?? []]) this.unsubscribe(filter)
    const dropped = this.state.queue.length + (this.state.inflight?.size ?? 0)
    if (dropped > 0) {
      metrics.messagesDropped += dropped
      this.info({ count: dropped, reason: 'session_discarded' }, 'message_dropped')
    }
    this.state = createSessionState(this.state.clientId, Date.now())
  }

  private clearTimers (): void {
    if (this.willTimer !== undefined) clearTimeout(this.willTimer)
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer)
    this.willTimer = undefined
    this.expiryTimer = undefined
  }

  // ---- Delivery ---------------------------------------------------------------------------

  private deliver (deliveries: Delivery[]): void {
    if (!this.hasSession) return
    const now = Date.now()
    // A connection the peer already closed (its 'closed' event not yet handled) counts as offline,
    // so QoS 1/2 are queued for the session rather than written to a dead socket.
    const connection = this.connection?.connected === true ? this.connection : undefined
    for (const delivery of deliveries) {
      const { message } = delivery
      // Expired messages are not delivered [MQTT-3.3.2-5].
      if (isExpired(message, now)) continue
      if (delivery.qos === 0) {
        if (connection === undefined) continue
        if (connection.congested) {
          this.dropped('slow_consumer', message.topic)
          continue
        }
        this.sendPublish(delivery, undefined, false, now)
        continue
      }
      if (connection !== undefined && (this.state.inflight?.size ?? 0) < this.window && this.state.queue.length === 0) {
        this.startFlow(delivery, now)
      } else {
        const dropped = enqueue(this.state, delivery, this.broker.config.mqtt.maxQueuedMessages, this.broker.config.mqtt.queueDropPolicy)
        if (dropped !== undefined) this.dropped('queue_full', dropped.message.topic)
      }
    }
  }

  /**
   * Counts a dropped message and logs it: the first drop of a burst at once, then one line per
   * second with the count, so a flood of drops cannot flood the log.
   */
  private dropped (reason: string, topic: string): void {
    metrics.messagesDropped++
    const now = Date.now()
    this.dropsSinceLog++
    if (now - this.lastDropLog < 1000) return
    this.log.warn({ reason, topic, count: this.dropsSinceLog, policy: this.broker.config.mqtt.queueDropPolicy }, 'message_dropped')
    this.lastDropLog = now
    this.dropsSinceLog = 0
  }

  /** Sends a QoS 1/2 delivery under a fresh packet id and records it in flight. */
  private startFlow (delivery: Delivery, now: number): void {
    const packetId = allocatePacketId(this.state)
    if (packetId === undefined) return
    const inflight = this.state.inflight ??= new Map()
    inflight.set(packetId, { packetId, delivery, phase: 'publish' })
    if (!this.sendPublish(delivery, packetId, false, now)) inflight.delete(packetId)
  }

  /** Encodes and sends one PUBLISH; false when the client's Maximum Packet Size forbids it [MQTT-3.1.2-25]. */
  private sendPublish (delivery: Delivery, packetId: number | undefined, dup: boolean, now: number): boolean {
    const connection = this.connection
    if (connection === undefined) return false
    const request = this.request!
    let topicAlias: number | undefined
    let aliasKnown = false
    if (request.topicAliasMaximum > 0) {
      this.outboundAliases ??= new Map()
      const known = this.outboundAliases.get(delivery.message.topic)
      if (known !== undefined) {
        topicAlias = known
        aliasKnown = true
      } else if (this.outboundAliases.size < request.topicAliasMaximum) {
        topicAlias = this.outboundAliases.size + 1
        this.outboundAliases.set(delivery.message.topic, topicAlias)
      }
    }
    const encoding = { protocolVersion: request.protocolVersion, dup, aliasKnown } as Parameters<typeof encodePublish>[1]
    if (packetId !== undefined) encoding.packetId = packetId
    if (topicAlias !== undefined) encoding.topicAlias = topicAlias
    const bytes = encodePublish(delivery, encoding, now)
    if (!connection.sendBytes(bytes)) {
      this.dropped('packet_too_large', delivery.message.topic)
      if (topicAlias !== undefined && !aliasKnown) this.outboundAliases?.delete(delivery.message.topic)
      return false
    }
    metrics.messagesSent++
    metrics.packetsSent++
    return true
  }

  /** After a reconnect, unacknowledged PUBLISH go out again with DUP=1 and PUBREL are repeated [MQTT-4.4.0-1]. */
  private resendInflight (): void {
    const now = Date.now()
    const inflight = this.state.inflight
    if (inflight === undefined) return
    for (const entry of [...inflight.values()]) {
      if (entry.phase === 'pubrel') this.send({ cmd: 'pubrel', messageId: entry.packetId })
      else if (!this.sendPublish(entry.delivery, entry.packetId, true, now)) inflight.delete(entry.packetId)
    }
  }

  /** Sends queued messages while the in-flight window has room [MQTT-4.9.0-2]. */
  private drainQueue (): void {
    if (this.connection?.connected !== true) return
    const now = Date.now()
    const queue = this.state.queue
    let taken = 0
    while (taken < queue.length && (this.state.inflight?.size ?? 0) < this.window) {
      const delivery = queue[taken++]!
      if (isExpired(delivery.message, now)) continue
      if (delivery.qos === 0) this.sendPublish(delivery, undefined, false, now)
      else this.startFlow(delivery, now)
    }
    if (taken > 0) queue.splice(0, taken)
  }
}

function sessionLogger (broker: BrokerContext, clientId: string): Logger {
  return broker.log.child({ actor: 'session', clientid: clientId })
}

export function spawnSession (broker: BrokerContext, registry: Ref<RegistryMsg>, clientId: string, name: string): Ref<SessionMsg> {
  let session: Session | undefined
  const ref: Ref<SessionMsg> = spawn(broker.system, (state: Session | undefined, msg: SessionMsg, ctx: ActorContext<SessionMsg, ActorSystemRef>) => {
    session = state ?? new Session(broker, ctx.self, registry, clientId)
    session.handle(msg)
    return session
  }, name, {
    onCrash: stopOnCrash<SessionMsg>(() => session?.log ?? sessionLogger(broker, clientId), () => {
      session?.connection?.destroy('server_shutdown')
      dispatch(registry, { type: 'session_ended', clientId, session: ref, attachSeq: session?.attachSeq ?? 0 })
    })
  })
  return ref
}
