/**
 * The session actor: one per client id (like `emqx_session` driven by `emqx_channel`), a thin
 * shell over pure functions. It holds the session state (plain data, src/core/session), the
 * session lifecycle and the client's connection (src/core/channel/session-lifecycle.ts); it runs
 * the packet handlers, the lifecycle decisions (takeover, will, expiry) and the delivery functions
 * (in-flight window, queue, resend, topic aliases), and carries out their effects: writes to the
 * connection, dispatches to the trie shards and the retainer, timers on the broker's clock,
 * metrics and logs. A session outlives its connection when its expiry interval is above zero.
 *
 * Its parts: session-turn.ts (what a turn sends the node: subscription changes, publishes, acks
 * waiting for routing), session-warnings.ts (drops and refusals, counted and logged),
 * session-backlog.ts (its mark in the node's delivery budget), session-acl.ts (its client's
 * authorizer: reads, wills), shared-member.ts (as a member of shared subscriptions),
 * session-takeover.ts and session-handover.ts (a takeover across nodes), session-record.ts (what
 * it keeps in the node's store) and session-restore.ts (read back at start).
 */
import { type Ref } from 'nact'
import { actorMetersOf, spawnMetered, dispatch } from './actor-meters.js'
import type { Packet } from 'mqtt-packet'
import type { ClientLink, CloseReason, ConnectionEvent, ConnectionEvents, LinkSettings } from '../src/core/channel/client-link.js'
import type { ConnectRequest } from '../src/core/channel/connect.js'
import type { RetainedRequest, SessionContext } from '../src/core/channel/channel-context.js'
import { handlePacket } from '../src/core/channel/handle-packet.js'
import type { InboundAck } from '../src/core/channel/routed-acks.js'
import { acceptConnack } from '../src/core/channel/connack.js'
import { keepaliveTimeoutMs } from '../src/core/channel/keepalive.js'
import {
  connectedSession, decideAttach, decideClose, outstandingWill, willDueOnSessionEnd, willMessage, type SessionLifecycle, type ConnectedSession
} from '../src/core/channel/session-lifecycle.js'
import {
  createSessionState, heldMessages, type SessionState, type SubscriptionOptions, type Delivery, type InflightEntry, type WillMessage
} from '../src/core/session/session-state.js'
import type { DropReason, SessionOutput } from '../src/core/session/session-output.js'
import { deliver, drainQueue } from '../src/core/session/delivery.js'
import { clearQueue, type QueueBudget } from '../src/core/session/queue.js'
import { resendInflight } from '../src/core/session/inflight.js'
import { HeldPublishes } from '../src/core/session/held-publishes.js'
import { redeliveriesByShard, takeUnackedShared } from '../src/core/session/shared-redelivery.js'
import type { CancelTimer } from '../src/core/clock.js'
import type { Message } from '../src/core/mqtt/message.js'
import { parseSharedFilter } from '../src/core/mqtt/topic.js'
import { ReasonCode } from '../src/core/mqtt/reason-codes.js'
import type { Logger } from '../src/core/log.js'
import { countDropped, metrics } from '../src/core/metrics.js'
import type { BrokerContext } from './broker-context.js'
import { stopOnCrash } from './supervision.js'
import { SessionBacklog } from './session-backlog.js'
import type { RegistryMsg, SessionMsg, Subscriber, SubscriptionChange } from './messages.js'
import type { SessionHandover } from './session-handover.js'
import { handOver, importHandedOver, type TakeoverSession } from './session-takeover.js'
import { acksWaitForStore, SessionTurn } from './session-turn.js'
import { SessionWarnings, type RefusedAccess } from './session-warnings.js'
import { attachAcl, NO_CLIENT, readableBy, replicableWill, willAllowed } from './session-acl.js'
import type { ClientAuthorizer, ClientIdentity } from '../src/core/auth/identity.js'
import { parkedBudgetOf } from './parked-budget.js'
import { handBack, presenceChanges } from './shared-member.js'
import { SessionRecord } from './session-record.js'
import { restoreSession } from './session-restore.js'
import { ownerOf } from './client-id-owner.js'
import { runSoon } from './run-soon.js'
import { kick, sessionInfo, type AdministeredSession } from './session-admin.js'

/**
 * A read of at most this many packets is a sign of light load (under load, reads carry many): its
 * PUBLISH packets are routed at once (`runSoon`) rather than batched with other connections' reads.
 */
const LIGHT_READ_PACKETS = 4

/** The runtime side of one session: the actor's state object. */
class Session implements SessionContext, SessionOutput, TakeoverSession, ConnectionEvents, AdministeredSession {
  state: SessionState
  lifecycle: SessionLifecycle = { kind: 'no_session' }
  attachSeq = 0
  private cancelWillTimer: CancelTimer | undefined
  private cancelExpiryTimer: CancelTimer | undefined
  /** What the current turn sends the node; created by the first turn that sends something. */
  private turnParts: SessionTurn | undefined
  /** Throttled warning lines; created with the first warning. */
  private warningLines: SessionWarnings | undefined
  /** Its client's authorizer and the one deliveries are checked with (session-acl.ts). */
  authorizer: ClientAuthorizer = NO_CLIENT
  reads: ClientAuthorizer | undefined
  private logger: Logger | undefined
  /**
   * Marks this session backlogged in the node's delivery budget (the node's pressure signal);
   * created when its queue first holds a message (an idle connection pays nothing for it).
   */
  private backlogTracker: SessionBacklog | undefined
  /** Whether the queue's bytes are parked in the node's budget: no client is connected. */
  private parked = true
  /** Set around a takeover across nodes: deliveries forwarded (handed over) or deduplicated (taken over). */
  handover: SessionHandover | undefined
  /** The will last reported to `broker.wills`. */
  private reportedWill: WillMessage | undefined
  /**
   * What it keeps in the node's store: made when the session is first kept (or restored) and kept
   * from then on; a clean session, as most idle clients are, never has one.
   */
  private recordParts: SessionRecord | undefined
  /** Whether its subscriptions are in the trie shards as durable (deliveries recorded as routed). */
  private subscribedDurable = false
  /** The username that owns the client id (client-id-owner.ts), kept in the session's record. */
  owner: string | undefined
  /** Who its client was at the last CONNECT, kept in the session's record (a restored session's ACL checks use it). */
  private identity: ClientIdentity | undefined

  /** Its actor's reference, set by spawnSession right after the spawn (before any message). */
  self!: Ref<SessionMsg>

  constructor (readonly broker: BrokerContext, readonly registry: Ref<RegistryMsg>, clientId: string) {
    this.state = createSessionState(clientId, broker.clock.now())
  }

  /** Whether the node keeps this session in its store: it is persistent (expiry above zero) and there is a store. */
  get kept (): boolean {
    return this.broker.durable !== undefined && this.state.expiryInterval > 0
  }

  /**
   * Its record, once it has one: what happens to a session never kept needs no record (its
   * deliveries have no store keys, nothing of it is stored).
   */
  get record (): SessionRecord | undefined {
    return this.recordParts ?? (this.kept ? this.storedRecord() : undefined)
  }

  storedRecord (): SessionRecord | undefined {
    const durable = this.broker.durable
    if (this.recordParts === undefined && durable !== undefined) this.recordParts = new SessionRecord(durable, this.state.clientId)
    return this.recordParts
  }

  private get turn (): SessionTurn {
    this.turnParts ??= new SessionTurn(this.broker, this.self)
    return this.turnParts
  }

  private get warnings (): SessionWarnings {
    this.warningLines ??= new SessionWarnings(() => this.log, this.broker.config.mqtt.queueDropPolicy)
    return this.warningLines
  }

  private get backlog (): SessionBacklog {
    const self = this.self
    this.backlogTracker ??= new SessionBacklog(this.state.clientId, this.broker.deliveryBudget, this.broker.clock,
      this.broker.config.mqtt.backlogStallTimeoutMs, marking => { dispatch(self, { type: 'backlog_stalled', marking }) })
    return this.backlogTracker
  }

  /** The node's budget as the queue functions use it: bytes of an offline client's queue are parked. */
  get budget (): QueueBudget {
    return this.parked ? parkedBudgetOf(this.broker.deliveryBudget) : this.broker.deliveryBudget
  }

  /** Parks the queue's bytes when the client goes away, unparks them when it comes back. */
  setParked (parked: boolean): void {
    if (parked === this.parked) return
    this.broker.deliveryBudget.park(this.state.queuedBytes, parked)
    this.parked = parked
  }

  /** The connected client, undefined while none is. */
  private get connected (): ConnectedSession | undefined {
    return this.lifecycle.kind === 'connected' ? this.lifecycle : undefined
  }

  get connection (): ClientLink | undefined { return this.connected?.link }

  /** Created on first use (warnings, errors): a pino child per idle session costs memory for nothing. */
  get log (): Logger {
    this.logger ??= sessionLogger(this.broker, this.state.clientId)
    return this.logger
  }

  /**
   * An info line with the session's fields, written through the node's logger: a connect and a
   * disconnect log at info, and a child logger kept for that would cost every idle session memory.
   */
  private info (fields: Record<string, unknown>, event: string): void {
    if (this.broker.log.isLevelEnabled('info')) this.broker.log.info({ ...sessionLogFields(this.state.clientId), ...fields }, event)
  }

  /** A debug line, as `info`. */
  private debug (fields: Record<string, unknown>, event: string): void {
    if (this.broker.log.isLevelEnabled('debug')) this.broker.log.debug({ ...sessionLogFields(this.state.clientId), ...fields }, event)
  }

  // ---- SessionContext: what the packet handlers read --------------------------------------

  get inboundAliases (): Map<number, string> {
    const connected = this.connected!
    connected.inboundAliases ??= new Map()
    return connected.inboundAliases
  }

  get protocolVersion (): 3 | 4 | 5 { return this.connected?.protocolVersion ?? 4 }
  get mqttConfig (): SessionContext['mqttConfig'] { return this.broker.config.mqtt }
  get node (): string { return this.broker.node }
  get connectSessionExpiry (): number { return this.connected?.connectSessionExpiry ?? 0 }
  get problemInformation (): boolean { return this.connected?.requestProblemInformation ?? true }
  now (): number { return this.broker.clock.now() }
  get acksWaitForStore (): boolean { return acksWaitForStore(this.broker) }
  get storeFailure (): Error | undefined { return this.broker.durable?.failure }

  // ---- SessionContext and SessionOutput: effects ------------------------------------------

  /** Past the high-water mark: the socket's buffer, or PUBLISH packets held for the store (held-publishes.ts). */
  get congested (): boolean {
    const connected = this.connected
    if (connected === undefined) return false
    return connected.link.congested || (connected.held?.bytes ?? 0) > this.broker.config.mqtt.outgoingHighWaterBytes
  }

  send (packet: Packet): void {
    if (this.connected?.link.send(packet) === true) metrics.packetsSent++
  }

  writePublish (bytes: Buffer): void {
    const connected = this.connected
    if (connected === undefined) return
    if (connected.held?.holding === true) connected.held.add(bytes)
    else if (connected.link.sendBytes(bytes)) countPublishSent()
  }

  /** Counts a dropped message and logs it (throttled, exact counts per reason). */
  dropped (reason: DropReason, topic: string): void {
    this.warnings.dropped(reason, topic)
  }

  /** Filters refused past `mqtt.maxSubscriptionsPerClient`: counted and logged, throttled with exact counts. */
  subscriptionsRefused (count: number, limit: number): void {
    this.warnings.subscriptionsRefused(count, limit)
  }

  notAuthorized (access: RefusedAccess, topic: string): void {
    this.warnings.notAuthorized(access, topic)
  }

  unstored (topic: string): void {
    this.warnings.dropped('store_unavailable', topic)
  }

  settled (delivery: Delivery): void {
    this.record?.settled(delivery)
  }

  flowChanged (entry: InflightEntry): void {
    this.record?.flowChanged(entry)
    // Its PUBLISH, written next, leaves once the packet id's record is durable (held-publishes.ts).
    if (entry.phase === 'publish' && entry.delivery.storeKey !== undefined) this.holdPublishes()
  }

  /** Holds PUBLISH packets written from now on until the store has committed what was appended so far. */
  private holdPublishes (): void {
    const durable = this.broker.durable
    const connected = this.connected
    if (durable === undefined || durable.immediate || connected === undefined || durable.appended <= durable.committed) return
    const seq = durable.appended
    const held = connected.held ??= new HeldPublishes()
    held.holdUntil(seq)
    if (seq > held.awaited) {
      held.awaited = seq
      const self = this.self
      durable.afterDurable(seq, () => { dispatch(self, { type: 'publishes_durable', seq }) })
    }
  }

  /** Writes the PUBLISH packets whose packet ids are now durable, then what the queue may send. */
  private releaseHeld (): void {
    const connected = this.connected
    const held = connected?.held
    const durable = this.broker.durable
    if (held === undefined || durable === undefined) return
    for (const bytes of held.release(durable.committed)) if (connected!.link.sendBytes(bytes)) countPublishSent()
    this.drain()
  }

  publish (message: Message): void {
    metrics.messagesReceived++
    this.turn.publish(message)
  }

  publishThenAck (message: Message, ack: InboundAck): void {
    metrics.messagesReceived++
    this.turn.publishThenAck(message, ack)
  }

  /** A SUBACK or UNSUBACK waits for the store only when the session is kept (it has a record). */
  acknowledge (ack: InboundAck): void {
    if ((ack.cmd === 'suback' || ack.cmd === 'unsuback') && this.record === undefined) this.send(ack)
    else if (!this.turn.queuesAck(ack)) this.send(ack)
  }

  subscribe (filter: string, options: SubscriptionOptions): void {
    const subscriptions = this.state.subscriptions ??= new Map()
    const existed = subscriptions.has(filter)
    subscriptions.set(filter, options)
    if (!existed) metrics.subscriptions++
    this.record?.subscriptionChanged(filter, options)
    const shared = parseSharedFilter(filter)
    const indexFilter = shared?.filter ?? filter
    const subscriber: Subscriber = this.subscribedDurable
      ? { clientId: this.state.clientId, session: this.self, options, durable: true }
      : { clientId: this.state.clientId, session: this.self, options }
    // A shared membership made while no client is connected (restored, handed over) counts as offline.
    if (shared !== undefined && this.lifecycle.kind !== 'connected') subscriber.offline = true
    this.changeSubscription(indexFilter, shared === undefined
      ? { op: 'subscribe', filter: indexFilter, subscriber }
      : { op: 'subscribe', filter: indexFilter, group: shared.group, subscriber })
    this.debug({ topic: filter, qos: options.qos }, 'subscription_added')
  }

  sendRetained (requests: RetainedRequest[]): void {
    dispatch(this.broker.retainer, { type: 'send_retained', requests, session: this.self })
  }

  unsubscribe (filter: string): boolean {
    if (this.state.subscriptions?.delete(filter) !== true) return false
    metrics.subscriptions--
    this.record?.subscriptionChanged(filter, undefined)
    const shared = parseSharedFilter(filter)
    const indexFilter = shared?.filter ?? filter
    this.changeSubscription(indexFilter, shared === undefined
      ? { op: 'unsubscribe', filter: indexFilter, clientId: this.state.clientId }
      : { op: 'unsubscribe', filter: indexFilter, group: shared.group, clientId: this.state.clientId })
    this.debug({ topic: filter }, 'subscription_removed')
    return true
  }

  /** Queues a subscription change for the shards that index `filter`, sent at the end of the turn. */
  private changeSubscription (filter: string, change: SubscriptionChange): void {
    this.turn.changeSubscription(filter, change)
  }

  disconnect (reason: CloseReason, reasonCode: number, reasonString?: string): void {
    const link = this.connection
    if (link === undefined) return
    const includeString = reasonString !== undefined && this.problemInformation
    link.close(reason, includeString ? { reasonCode, reasonString } : { reasonCode })
    this.detach(reason, reasonCode)
  }

  clientDisconnect (publishWill: boolean): void {
    const link = this.connection
    if (link === undefined) return
    link.close('client_disconnect')
    this.detach('client_disconnect', undefined, publishWill)
  }

  /** ConnectionEvents: what the client's connection reports goes through the mailbox. */
  connectionEvent (event: ConnectionEvent): void {
    dispatch(this.self, event)
    // A light read of PUBLISH packets is routed before the next read when nothing else waits (run-soon.ts).
    if (event.type === 'packets' && event.packets.length <= LIGHT_READ_PACKETS && event.packets[0]!.cmd === 'publish') runSoon()
  }

  outgoingCompleted (): void {
    this.drain()
  }

  /** Sends what the queue holds while the window has room and the connection is not congested. */
  private drain (): void {
    const connected = this.connected
    if (connected?.link.connected === true) drainQueue(this.state, connected, this.budget, this.now(), this)
  }

  // ---- Actor messages ---------------------------------------------------------------------

  handle (msg: SessionMsg): void {
    const lifecycle = this.lifecycle
    if (lifecycle.kind === 'shut_down') return
    switch (msg.type) {
      case 'packets':
        if (lifecycle.kind !== 'connected' || lifecycle.link.id !== msg.connectionId || !lifecycle.link.connected) return
        for (const packet of msg.packets) {
          // QoS 2 packet ids awaiting PUBREL are part of the stored session.
          if ((packet.cmd === 'publish' && packet.qos === 2) || packet.cmd === 'pubrel') this.record?.relChanged()
          handlePacket(this, packet)
          if (this.connection?.connected !== true) break
        }
        break
      case 'deliver':
        this.deliver(msg.deliveries, 'direct')
        break
      case 'handover_deliver':
        this.deliver(msg.deliveries, 'forwarded')
        break
      case 'hand_over':
        handOver(this, msg.handOver)
        break
      case 'import':
        importHandedOver(this, msg.snapshot, msg.dedupeMs)
        break
      case 'routed':
        if (lifecycle.kind === 'connected') for (const packet of this.turnParts?.routed(msg.tokens, msg.matched, msg.written) ?? []) this.send(packet)
        break
      case 'acks_durable':
        if (lifecycle.kind === 'connected') for (const packet of this.turnParts?.durableUpTo(msg.seq) ?? []) this.send(packet)
        break
      case 'publishes_durable':
        if (lifecycle.kind === 'connected') this.releaseHeld()
        break
      case 'acks_settled':
        if (lifecycle.kind === 'connected') for (const packet of this.turnParts?.acksSettled(msg.tokens) ?? []) this.send(packet)
        break
      case 'restore':
        restoreSession(this, msg.restored, msg.publishWill)
        break
      case 'attach':
        this.attach(msg.connection, msg.request, msg.attachSeq)
        break
      case 'closed':
        if (lifecycle.kind === 'connected' && lifecycle.link.id === msg.connectionId) this.detach(msg.reason)
        break
      case 'writable':
        if (lifecycle.kind === 'connected' && lifecycle.link.id === msg.connectionId) this.drain()
        break
      case 'backlog_stalled':
        if (this.backlogTracker?.stallDue(msg.marking) === true) this.reportStalled()
        break
      case 'will_due':
        if (msg.attachSeq === this.attachSeq && lifecycle.kind === 'disconnected') this.publishPendingWill(lifecycle)
        break
      case 'session_expired':
        if (msg.attachSeq === this.attachSeq && lifecycle.kind === 'disconnected') {
          this.info({}, this.handover?.handedOver === true ? 'handover_ended' : 'session_expired')
          this.end()
        }
        break
      case 'info':
        msg.reply(sessionInfo(this))
        break
      case 'kick':
        kick(this)
        break
      case 'shutdown':
        this.connection?.destroy('server_shutdown')
        this.clearTimers()
        this.warningLines?.flush()
        this.backlogTracker?.clear()
        this.lifecycle = { kind: 'shut_down' }
        break
    }
    this.turnParts?.flush()
    this.record?.endOfTurn(this.state, this.lifecycle, this.kept, this.owner, this.identity)
    if (this.lifecycle.kind === 'connected') for (const packet of this.turnParts?.stampAcks() ?? []) this.send(packet)
    this.updateBacklog()
    this.reportWill()
  }

  /** Tells the cluster the will this node's death would publish; not on shutdown (the others publish it after the grace). */
  private reportWill (): void {
    const will = outstandingWill(this.lifecycle, this.state.will)
    if (this.lifecycle.kind === 'shut_down' || will === this.reportedWill) return
    this.reportedWill = will
    this.broker.wills?.willChanged(this.state.clientId, replicableWill(this, will))
  }

  /** Marks or unmarks the session as backlogged after a turn (see session-backlog.ts). */
  private updateBacklog (): void {
    // A session that never queued a message was never backlogged: nothing to mark or unmark.
    if (this.backlogTracker === undefined && this.state.queue.length === 0) return
    const lifecycle = this.lifecycle
    this.backlog.update(this.state, this.broker.config.mqtt, lifecycle.kind === 'connected' && lifecycle.link.connected)
  }

  private reportStalled (): void {
    metrics.sessionsStalled++
    const { queue, queuedBytes, inflight } = this.state
    this.log.warn({ queued: queue.length, queued_bytes: queuedBytes, inflight: inflight?.size ?? 0, timeout_ms: this.broker.config.mqtt.backlogStallTimeoutMs }, 'session_stalled')
  }

  private attach (link: ClientLink, request: ConnectRequest, attachSeq: number): void {
    const decision = decideAttach(this.lifecycle, request.cleanStart)
    const dueWill = decision.discardSession ? willDueOnSessionEnd(this.lifecycle, this.state.will) : undefined
    // A second connection with the same client id takes over [MQTT-3.1.4-3].
    if (decision.takenOver !== undefined) this.closeTakenOver({ new_remote: link.remoteAddress })
    // A reconnect before the will delay has passed cancels the will [MQTT-3.1.3-9]; a Clean Start
    // ends the old session, which makes its delayed will due (§3.1.3.2.2).
    this.clearTimers()
    if (dueWill !== undefined) this.publishWill(dueWill, this.now())
    if (decision.discardSession) this.discardState()
    // The new connection's identity decides from now on, also over what the session holds for it.
    attachAcl(this, this.broker.authorization, request.identity, this.state, this.budget)
    this.owner = ownerOf(request)
    this.identity = request.identity
    this.attachSeq = attachSeq
    const connected = connectedSession(link, request, this.broker.config.mqtt.maxInflight)
    this.lifecycle = connected
    this.setParked(false)
    this.state.expiryInterval = request.sessionExpiryInterval
    if (request.will !== undefined) this.state.will = request.will
    else delete this.state.will
    this.record?.changed()
    this.syncDurable()

    // The link takes the client's limits first: the CONNACK too respects its Maximum Packet Size.
    const settings: LinkSettings = { maxPacketSize: request.maximumPacketSize, keepaliveTimeoutMs: keepaliveTimeoutMs(request.keepalive) }
    // Credentials that expire (a JWT's exp) close the connection then, even an idle one.
    if (request.authExpiresAt !== undefined) settings.authExpiresAt = request.authExpiresAt
    link.attach(settings, this)
    this.send(acceptConnack(request, decision.sessionPresent, this.broker.config.mqtt))
    metrics.clientsConnected++
    // Guarded here: the client's address is read from its socket only when the line is written.
    if (this.broker.log.isLevelEnabled('info')) {
      this.info({ remote: link.remoteAddress, proto_ver: request.protocolVersion, clean_start: request.cleanStart, keepalive: request.keepalive, session_present: decision.sessionPresent }, 'client_connected')
    }
    // A packet id recorded for the connection before may not be durable yet: its resend waits too.
    if (hasUnreleasedKeptFlow(this.state)) this.holdPublishes()
    resendInflight(this.state, connected, this.now(), this)
    this.drain()
    this.sharedPresence(true)
  }

  /**
   * The connection is gone (or being closed: later events from it are ignored): publish or
   * schedule the will, then end the session or wait for its expiry. `disconnectWithWill` is set
   * when the client sent DISCONNECT (see decideClose).
   */
  private detach (reason: CloseReason, reasonCode?: number, disconnectWithWill?: boolean): void {
    metrics.clientsConnected--
    this.turnParts?.dropAcks()
    this.info(reasonCode === undefined ? { reason } : { reason, reason_code: reasonCode }, 'client_disconnected')
    const will = this.state.will
    delete this.state.will
    const now = this.now()
    const decision = decideClose(will, reason, disconnectWithWill, this.state.expiryInterval, now)
    if (decision.publishWill !== undefined) this.publishWill(decision.publishWill, now)
    const next = decision.session
    switch (next.kind) {
      case 'taken_over':
        // The attach that took the session over continues it.
        return
      case 'end':
        this.end()
        return
      case 'disconnected': {
        this.redispatchShared(true)
        this.sharedPresence(false)
        this.awaitReturn(next)
      }
    }
  }

  /** The client is away: the session waits for it until it expires, its will (if delayed) until due. */
  awaitReturn (next: Extract<SessionLifecycle, { kind: 'disconnected' }>): void {
    const now = this.now()
    this.lifecycle = next
    this.setParked(true)
    this.record?.changed()
    if (next.pendingWill !== undefined) {
      const seq = this.attachSeq
      this.cancelWillTimer = this.broker.clock.schedule(next.pendingWill.dueAt - now, () => { dispatch(this.self, { type: 'will_due', attachSeq: seq }) })
    }
    this.expireIn(next.expiresAt - now)
  }

  /**
   * Keeps the trie shards' durable flag on the subscriptions, and the records of the messages
   * held, in step with whether the session is kept (its expiry can change at a reconnect).
   */
  syncDurable (): void {
    const kept = this.kept
    if (kept === this.subscribedDurable) return
    this.subscribedDurable = kept
    for (const [filter, options] of this.state.subscriptions ?? []) this.subscribe(filter, options)
    if (kept) this.record?.keepHeld(this.state)
  }

  private publishPendingWill (lifecycle: Extract<SessionLifecycle, { kind: 'disconnected' }>): void {
    const pending = lifecycle.pendingWill
    lifecycle.pendingWill = undefined
    this.record?.changed()
    if (pending !== undefined) this.publishWill(pending.will, this.now())
  }

  /** Publishes a will, if the ACL lets its client publish to its topic. */
  publishWill (will: WillMessage, now: number): void {
    if (!willAllowed(this, will)) return
    const message = willMessage(will, now)
    this.info({ topic: message.topic }, 'will_published')
    this.publish(message)
  }

  /** The session is over: publish a pending will, remove its subscriptions and leave the registry. */
  end (): void {
    this.clearTimers()
    this.warningLines?.flush()
    this.backlogTracker?.clear()
    if (this.lifecycle.kind === 'disconnected') this.publishPendingWill(this.lifecycle)
    this.redispatchShared(false)
    this.discardState()
    this.lifecycle = { kind: 'no_session' }
    this.setParked(true)
    this.turnParts?.flush()
    dispatch(this.registry, { type: 'session_ended', clientId: this.state.clientId, session: this.self, attachSeq: this.attachSeq })
  }

  /**
   * The client left: what it got as a shared member and did not acknowledge (or, given, the
   * `deliveries` that came after the session ended) goes back to the trie shards, for another
   * member of each group (see shared-redelivery.ts); `persists` when this session stays (it gets
   * them back if it is the group's only member).
   */
  private redispatchShared (persists: boolean, deliveries?: Delivery[]): void {
    const taken = deliveries ?? takeUnackedShared(this.state, this.budget)
    for (const delivery of taken) this.settled(delivery)
    const perShard = redeliveriesByShard(taken, this.broker.shards.length)
    const count = handBack(this.broker.shards, perShard, this.state.clientId, persists)
    if (count > 0) this.debug({ count }, 'shared_redispatched')
  }

  /** Tells the shards whether this session's shared subscriptions have a connected client (members online are picked first). */
  sharedPresence (online: boolean): void {
    for (const change of presenceChanges(this.state.subscriptions, this.member(), online)) this.changeSubscription(change.filter, change)
  }

  /** This session as a subscriber in the trie shards, but for the options of one subscription. */
  private member (): Omit<Subscriber, 'options' | 'offline'> {
    return this.subscribedDurable ? { clientId: this.state.clientId, session: this.self, durable: true } : { clientId: this.state.clientId, session: this.self }
  }

  private discardState (): void {
    this.record?.removed(this.state)
    for (const filter of [...this.state.subscriptions?.keys() ?? []]) this.unsubscribe(filter)
    const dropped = heldMessages(this.state)
    clearQueue(this.state, this.budget)
    if (dropped > 0) {
      countDropped('session_discarded', dropped)
      this.info({ count: dropped, reason: 'session_discarded' }, 'message_dropped')
    }
    this.state = createSessionState(this.state.clientId, this.now())
    this.subscribedDurable = false
  }

  /** A session read back from the store: its client's identity from the record decides its ACL checks until a client attaches. */
  restoreIdentity (identity: ClientIdentity | undefined): void {
    this.identity = identity
    if (identity !== undefined) attachAcl(this, this.broker.authorization, identity, this.state, this.budget)
  }

  /** Its records leave the store: the session was handed to another node. */
  forgetStored (): void {
    this.record?.removed(this.state)
  }

  // ---- Takeover across nodes (session-takeover.ts) ---------------------------------------

  /** Closes the client's connection, if any, taken over by a new one [MQTT-3.1.4-3] (v5 gets 0x8E first). */
  closeTakenOver (by: Record<string, unknown>): void {
    const link = this.connection
    if (link === undefined) return
    this.info({ remote: link.remoteAddress, ...by }, 'session_taken_over')
    link.close('taken_over', { reasonCode: ReasonCode.SessionTakenOver })
    this.detach('taken_over')
  }

  /** Ends the disconnected session after `ms` (unless a connection comes back first). */
  expireIn (ms: number): void {
    const seq = this.attachSeq
    this.cancelExpiryTimer = this.broker.clock.schedule(ms, () => { dispatch(this.self, { type: 'session_expired', attachSeq: seq }) })
  }

  /** The actor crashed: what it held leaves the node's budget with it. */
  releaseAfterCrash (): void {
    clearQueue(this.state, this.budget)
    this.backlogTracker?.clear()
  }

  clearTimers (): void {
    this.cancelWillTimer?.()
    this.cancelExpiryTimer?.()
    this.cancelWillTimer = undefined
    this.cancelExpiryTimer = undefined
  }

  private deliver (deliveries: Delivery[], source: 'direct' | 'forwarded'): void {
    if (this.handover?.activeAt(this.now()) === false) this.handover = undefined
    if (this.handover !== undefined) deliveries = this.handover.admit(deliveries, source)
    const lifecycle = this.lifecycle
    if (lifecycle.kind === 'shut_down') return
    // Picked for a shared subscription as this session ended: another member takes it.
    if (lifecycle.kind === 'no_session') {
      this.redispatchShared(false, deliveries)
      return
    }
    // A connection the peer already closed (its 'closed' event not yet handled) counts as offline,
    // so QoS 1/2 are queued for the session rather than written to a dead socket.
    const outbound = lifecycle.kind === 'connected' && lifecycle.link.connected ? lifecycle : undefined
    const readable = readableBy(this, deliveries)
    // Those that came without a record (retained, handed over, redispatched) get one when the session is kept.
    this.record?.arrived(readable, this.kept)
    deliver(this.state, outbound, readable, this.broker.config.mqtt, this.budget, this.now(), this)
  }
}

/** The fields of every line a session logs. */
function sessionLogFields (clientId: string): { actor: 'session', clientid: string } {
  return { actor: 'session', clientid: clientId }
}

function sessionLogger (broker: BrokerContext, clientId: string): Logger {
  return broker.log.child(sessionLogFields(clientId))
}

/**
 * The session behind each session actor, for the crash handler: nact's supervision context
 * carries the actor's reference, not its state.
 */
const sessionOfActor = new WeakMap<Ref<SessionMsg>, Session>()

/** Every session actor's function: the state is the Session, made before the actor. */
function sessionActor (session: Session, msg: SessionMsg): Session {
  session.handle(msg)
  return session
}

/** One crash handler for every session actor: log, release what the session held, stop. */
const onSessionCrash = stopOnCrash<SessionMsg>(self => sessionOf(self).log, self => {
  const session = sessionOf(self)
  session.clearTimers()
  session.releaseAfterCrash()
  session.connection?.destroy('server_shutdown')
  dispatch(session.registry, { type: 'session_ended', clientId: session.state.clientId, session: self, attachSeq: session.attachSeq })
})

/** The session of a session actor: registered by spawnSession before the actor gets any message. */
function sessionOf (self: Ref<SessionMsg>): Session {
  const session = sessionOfActor.get(self)
  if (session === undefined) throw new Error('session actor without a session')
  return session
}

export function spawnSession (broker: BrokerContext, registry: Ref<RegistryMsg>, clientId: string, name: string): Ref<SessionMsg> {
  // One function and one crash handler for all sessions: an actor costs no closures of its own.
  // A child of the registry, not of the system: nact's system keeps its children in two Maps (the
  // actors and their references), an actor in one, so each session costs one Map entry less.
  const session = new Session(broker, registry, clientId)
  const ref: Ref<SessionMsg> = spawnMetered('session', registry, sessionActor, name, { initialState: session, onCrash: onSessionCrash }, actorMetersOf(broker.system))
  session.self = ref
  sessionOfActor.set(ref, session)
  return ref
}

function countPublishSent (): void {
  metrics.messagesSent++
  metrics.packetsSent++
}

/** Whether a kept QoS 2 delivery is in flight before its PUBREC: its packet id was recorded. */
function hasUnreleasedKeptFlow (state: SessionState): boolean {
  for (const entry of state.inflight?.values() ?? []) if (entry.phase === 'publish' && entry.delivery.storeKey !== undefined && entry.delivery.qos === 2) return true
  return false
}
