/**
 * The client registry actor (like `emqx_cm`): client id → session actor, cluster-wide.
 *
 * A CONNECT for a client id held here goes to its session, which takes the new connection over;
 * one for a client id another node holds (its replicated client ids, `ClientDirectory`) first
 * asks that node to hand the session over, or with clean start to discard it, and waits for the
 * answer (bounded) with any later CONNECT of that id queued behind; otherwise a new session actor
 * is spawned. A session that ends asks to be removed, and is stopped only if no newer connection
 * was handed to it meanwhile (the attach sequence tells).
 *
 * Each node replicates the client ids it holds (`clientAdded`/`clientRemoved`). When it learns
 * that another node holds one it holds too (a concurrent connect, or a partition that healed),
 * the two compare connect times and the later connect wins, the node name breaking a tie: the
 * loser closes its connection (0x8E Session taken over) and discards its session. Later wins
 * because that is what MQTT does on one node [MQTT-3.1.4-3]: the newest connection of a client id
 * is the one the client is using; but between sessions of two usernames the earlier wins, the later
 * having slipped past the ownership check below.
 *
 * A session belongs to the username that created it (`client-id-owner.ts`): a CONNECT under
 * another username is refused (CONNACK Not authorized) instead of taking it over, on this node, and
 * on another (the holder refuses to hand it over or discard it, and this node then refuses the
 * CONNECT rather than start a fresh session under the same client id).
 */
import { stop, type Ref, type ActorContext, type ActorSystemRef } from 'nact'
import { spawnMetered, dispatch } from './actor-meters.js'
import { countDropped, metrics } from '../src/core/metrics.js'
import type { ClientLink } from '../src/core/channel/client-link.js'
import type { ConnectRequest } from '../src/core/channel/connect.js'
import type { Delivery } from '../src/core/session/session-state.js'
import { snapshotMessages } from '../src/core/session/session-snapshot.js'
import type { BrokerContext } from './broker-context.js'
import { spawnSession } from './session.js'
import type { HandOverReply, RegisteredSession, RegistryMsg, SessionClaim, SessionMsg } from './messages.js'
import { resumeOnCrash } from './supervision.js'
import { mayTakeOver, ownerOf, refuseOwnedByOther } from './client-id-owner.js'

/** How the registry reaches the other nodes; the cluster wiring implements it. */
export interface ClientDirectory {
  /** This node now holds a session for `clientId` (replicated to every node). */
  clientAdded: (clientId: string) => void
  /** This node no longer holds a session for `clientId`. */
  clientRemoved: (clientId: string) => void
  /**
   * The other nodes holding a session for `clientId`, by their replicated client ids (the network's
   * replicas are the one copy: the registry keeps none), the nodes that are up first.
   */
  holdersOf: (clientId: string) => string[]
  /**
   * Asks `node` to hand its session of `clientId` over, or to discard it, for a client connecting as
   * `username` (undefined: anonymous); rejects when it does not answer in time.
   */
  takeOver: (node: string, clientId: string, discard: boolean, username: string | undefined) => Promise<HandOverReply>
  /** When `node`'s session of `clientId` last took a connection, and whose it is; undefined when it holds none. */
  sessionClaim: (node: string, clientId: string) => Promise<SessionClaim | undefined>
  /** Sends deliveries of a handed-over session to the node that took it over; rejects on failure. */
  forwardDeliveries: (node: string, clientId: string, deliveries: Delivery[]) => Promise<void>
  /** How long a handed-over session keeps forwarding (`cluster.takeover.handoverMs`). */
  handoverMs: number
}

/** Asks of a client id conflict's connect time, and the pause between them. */
const CONFLICT_CHECK_ATTEMPTS = 3
const CONFLICT_RECHECK_MS = 1_000

/** Every field is set when the entry is made, in one order: no property added later, no out-of-object property array per client. */
interface RegistryEntry {
  session: Ref<SessionMsg>
  /** The username that created the session (undefined: anonymous); only it may take the session over. */
  owner: string | undefined
  /** The username its last connection gave, verified or not (what the HTTP API shows and filters by). */
  username: string | undefined
  attachSeq: number
  connectedAt: number
  /** The node that handed this session over, the one node whose forwarded deliveries it takes. */
  handedOverBy: string | undefined
}

/** A CONNECT waiting for another node to hand its session over, with those queued behind it. */
interface PendingTakeover {
  /** The node asked for the session. */
  node: string
  /** The username the session was asked for. */
  username: string | undefined
  connects: Array<{ request: ConnectRequest, connection: ClientLink }>
  /** Deliveries the old node forwarded before its answer arrived. */
  early: Delivery[]
}

interface RegistryState {
  sessions: Map<string, RegistryEntry>
  pending: Map<string, PendingTakeover>
  /** Sessions handed over to another node, forwarding until their window ends (shut down with the node). */
  handedOver: Set<Ref<SessionMsg>>
  spawned: number
}

/**
 * A session actor's name, unique by its serial. The client id is not in it (actor names allow
 * only a safe alphabet, and a hex copy of the id cost every session about 100 bytes of strings);
 * the session's log lines carry the client id. Short (`s1234`): V8 makes a concatenation of 13
 * characters or more a rope of two strings (`session-12345` cost 56 bytes, `s12345` 24).
 */
function actorName (serial: number): string {
  return `s${serial}`
}

/** Whether this node's session loses a client id conflict: the later connect wins, then the greater node name. */
export function losesConflict (mine: number, self: string, theirs: number, other: string): boolean {
  return mine < theirs || (mine === theirs && self < other)
}

/** What this node answers another that holds the same client id. */
function claimOf (entry: RegistryEntry | undefined): SessionClaim | undefined {
  return entry === undefined ? undefined : { connectedAt: entry.connectedAt, owner: entry.owner }
}

/** The client ids starting with `prefix` (and whose last connection gave `username`, when given), sorted: the first `limit` and how many match. */
export function listClients (sessions: ReadonlyMap<string, { owner: string | undefined, username?: string | undefined }>, prefix: string, username: string | undefined, limit: number): { total: number, clientIds: string[] } {
  const matching: string[] = []
  for (const [clientId, entry] of sessions) {
    if (clientId.startsWith(prefix) && (username === undefined || (entry.username ?? entry.owner) === username)) matching.push(clientId)
  }
  matching.sort()
  return { total: matching.length, clientIds: matching.slice(0, limit) }
}

export function spawnClientRegistry (broker: BrokerContext, directory?: ClientDirectory): Ref<RegistryMsg> {
  const log = broker.log.child({ actor: 'client_registry' })
  const handoverMs = directory?.handoverMs ?? 0

  function spawnEntry (state: RegistryState, clientId: string, owner: string | undefined, ctx: ActorContext<RegistryMsg, ActorSystemRef>): RegistryEntry {
    const entry: RegistryEntry = { session: spawnSession(broker, ctx.self, clientId, actorName(++state.spawned)), owner, username: undefined, attachSeq: 0, connectedAt: 0, handedOverBy: undefined }
    state.sessions.set(clientId, entry)
    metrics.sessions = state.sessions.size
    directory?.clientAdded(clientId)
    return entry
  }

  function removeEntry (state: RegistryState, clientId: string): void {
    state.sessions.delete(clientId)
    metrics.sessions = state.sessions.size
    directory?.clientRemoved(clientId)
  }

  function attach (state: RegistryState, clientId: string, request: ConnectRequest, connection: ClientLink, ctx: ActorContext<RegistryMsg, ActorSystemRef>): void {
    const entry = state.sessions.get(clientId) ?? spawnEntry(state, clientId, ownerOf(request), ctx)
    if (!mayTakeOver(entry.owner, request)) {
      refuseOwnedByOther(log, request, connection)
      return
    }
    entry.attachSeq++
    entry.connectedAt = broker.clock.now()
    entry.username = request.identity.username
    dispatch(entry.session, { type: 'attach', connection, request, attachSeq: entry.attachSeq })
  }

  /** Forwards a handed-over session's deliveries to `node` one batch after the other; failures are counted drops. */
  function forwarderTo (node: string, clientId: string): (deliveries: Delivery[]) => void {
    let chain = Promise.resolve()
    return deliveries => {
      chain = chain.then(async () => { await directory?.forwardDeliveries(node, clientId, deliveries) }).catch((err: unknown) => {
        countDropped('handover_failed', deliveries.length)
        log.warn({ clientid: clientId, peer: node, count: deliveries.length, reason: 'handover_failed', err }, 'message_dropped')
      })
    }
  }

  /**
   * `node` holds `clientId` too (if this node does): ask its connect time. A failed ask is retried
   * a few times; past that, the next snapshot of `node` (it comes back after a partition) asks again.
   */
  function checkConflict (state: RegistryState, node: string, clientId: string, ctx: ActorContext<RegistryMsg, ActorSystemRef>, attempt = 1): void {
    const entry = state.sessions.get(clientId)
    if (entry === undefined || directory?.holdersOf(clientId).includes(node) !== true) return
    const session = entry.session
    directory.sessionClaim(node, clientId).then(
      theirs => { dispatch(ctx.self, { type: 'conflict_checked', clientId, node, session, theirs }) },
      (err: unknown) => {
        log.warn({ clientid: clientId, peer: node, attempt, err }, 'client_id_conflict_unresolved')
        if (attempt < CONFLICT_CHECK_ATTEMPTS) setTimeout(() => { dispatch(ctx.self, { type: 'conflict_recheck', clientId, node, attempt: attempt + 1 }) }, CONFLICT_RECHECK_MS)
      }
    )
  }

  function resolved (state: RegistryState, msg: Extract<RegistryMsg, { type: 'takeover_resolved' }>, ctx: ActorContext<RegistryMsg, ActorSystemRef>): void {
    const pending = state.pending.get(msg.clientId)
    if (pending === undefined) return
    state.pending.delete(msg.clientId)
    const fields = { clientid: msg.clientId, peer: msg.node }
    const reply = msg.reply
    if (reply?.kind === 'not_authorized') {
      // The session there belongs to another user: no fresh session here under its client id.
      // A queued CONNECT of yet another username asks again.
      for (const connect of pending.connects) {
        if (ownerOf(connect.request) === pending.username) refuseOwnedByOther(log, connect.request, connect.connection, msg.node)
        else dispatch(ctx.self, { type: 'connect', request: connect.request, connection: connect.connection })
      }
      return
    }
    if (reply === undefined) {
      // The node that holds the session did not answer: start fresh (README "Client ids and session takeover").
      metrics.sessionsTakeoverFailed++
      log.warn({ ...fields, err: msg.error }, 'session_takeover_failed')
    } else if (reply.kind === 'handed_over') {
      metrics.sessionsTakenOver++
      log.info({ ...fields, subscriptions: reply.snapshot.subscriptions.length, messages: snapshotMessages(reply.snapshot) }, 'session_taken_over_from_peer')
    }
    const entry = state.sessions.get(msg.clientId) ?? spawnEntry(state, msg.clientId, pending.username, ctx)
    if (reply?.kind === 'handed_over') {
      entry.handedOverBy = msg.node
      dispatch(entry.session, { type: 'import', snapshot: reply.snapshot, dedupeMs: 2 * handoverMs })
    }
    if (pending.early.length > 0) dispatch(entry.session, { type: 'handover_deliver', deliveries: pending.early })
    for (const connect of pending.connects) attach(state, msg.clientId, connect.request, connect.connection, ctx)
  }

  function handle (state: RegistryState, msg: RegistryMsg, ctx: ActorContext<RegistryMsg, ActorSystemRef>): RegistryState {
    switch (msg.type) {
      case 'connect': {
        const { clientId } = msg.request
        const pending = state.pending.get(clientId)
        if (pending !== undefined) {
          pending.connects.push({ request: msg.request, connection: msg.connection })
          break
        }
        const owner = state.sessions.has(clientId) ? undefined : directory?.holdersOf(clientId)[0]
        if (owner === undefined || directory === undefined) {
          attach(state, clientId, msg.request, msg.connection, ctx)
          break
        }
        const username = ownerOf(msg.request)
        state.pending.set(clientId, { node: owner, username, connects: [{ request: msg.request, connection: msg.connection }], early: [] })
        directory.takeOver(owner, clientId, msg.request.cleanStart, username).then(
          reply => { dispatch(ctx.self, { type: 'takeover_resolved', clientId, node: owner, reply }) },
          (err: unknown) => { dispatch(ctx.self, { type: 'takeover_resolved', clientId, node: owner, reply: undefined, error: String(err) }) }
        )
        break
      }
      case 'takeover_resolved':
        resolved(state, msg, ctx)
        break
      case 'hand_over': {
        const entry = state.sessions.get(msg.clientId)
        if (entry === undefined) {
          msg.reply({ kind: 'not_found' })
          break
        }
        if (entry.owner !== msg.username) {
          log.warn({ clientid: msg.clientId, peer: msg.from, username: msg.username?.slice(0, 256) }, 'session_hand_over_refused')
          msg.reply({ kind: 'not_authorized' })
          break
        }
        removeEntry(state, msg.clientId)
        if (msg.discard) metrics.sessionsDiscardedForPeer++
        else {
          metrics.sessionsHandedOver++
          state.handedOver.add(entry.session)
        }
        log.info({ clientid: msg.clientId, peer: msg.from, discard: msg.discard }, 'session_handed_over')
        dispatch(entry.session, { type: 'hand_over', handOver: { to: msg.from, discard: msg.discard, reply: msg.reply, forward: forwarderTo(msg.from, msg.clientId), handoverMs } })
        break
      }
      case 'handover_deliver': {
        const pending = state.pending.get(msg.clientId)
        const entry = state.sessions.get(msg.clientId)
        if (pending?.node === msg.from) pending.early.push(...msg.deliveries)
        else if (entry !== undefined && entry.handedOverBy === msg.from) dispatch(entry.session, { type: 'handover_deliver', deliveries: msg.deliveries })
        else {
          countDropped('handover_no_session', msg.deliveries.length)
          log.warn({ clientid: msg.clientId, peer: msg.from, count: msg.deliveries.length, reason: 'handover_no_session' }, 'message_dropped')
        }
        break
      }
      case 'remote_clients_added':
        for (const clientId of msg.clientIds) if (state.sessions.has(clientId)) checkConflict(state, msg.node, clientId, ctx)
        break
      case 'connected_at':
        msg.reply(claimOf(state.sessions.get(msg.clientId)))
        break
      case 'conflict_recheck':
        checkConflict(state, msg.node, msg.clientId, ctx, msg.attempt)
        break
      case 'conflict_checked': {
        const entry = state.sessions.get(msg.clientId)
        const theirs = msg.theirs
        if (entry?.session !== msg.session || theirs === undefined) break
        // Between two users the earlier session keeps the client id: the later one was never checked
        // against it (its node did not know of it yet, or could not reach its holder).
        const ownersDiffer = theirs.owner !== entry.owner
        const lost = ownersDiffer
          ? losesConflict(theirs.connectedAt, msg.node, entry.connectedAt, broker.node)
          : losesConflict(entry.connectedAt, broker.node, theirs.connectedAt, msg.node)
        if (!lost) break
        const fields = { clientid: msg.clientId, peer: msg.node, connected_at: entry.connectedAt, peer_connected_at: theirs.connectedAt }
        if (ownersDiffer) {
          metrics.clientIdOwnedByOtherUser++
          log.warn({ ...fields, username: entry.owner?.slice(0, 256), reason: 'conflict' }, 'client_id_owned_by_other_user')
        } else {
          metrics.clientIdConflictsLost++
          log.warn(fields, 'client_id_conflict_lost')
        }
        removeEntry(state, msg.clientId)
        dispatch(entry.session, { type: 'hand_over', handOver: { to: msg.node, discard: true, reply: () => {}, forward: () => {}, handoverMs: 0 } })
        break
      }
      case 'session_ended': {
        state.handedOver.delete(msg.session)
        const entry = state.sessions.get(msg.clientId)
        if (entry === undefined || entry.session !== msg.session) {
          stop(msg.session)
          break
        }
        if (entry.attachSeq !== msg.attachSeq) break
        removeEntry(state, msg.clientId)
        stop(msg.session)
        log.debug({ clientid: msg.clientId }, 'session_removed')
        break
      }
      case 'count':
        dispatch(msg.replyTo, state.sessions.size)
        break
      case 'list':
        msg.reply(listClients(state.sessions, msg.prefix, msg.username, msg.limit))
        break
      case 'sessions_of': {
        const found: RegisteredSession[] = []
        for (const clientId of msg.clientIds) {
          const entry = state.sessions.get(clientId)
          if (entry !== undefined) found.push({ clientId, owner: entry.owner, username: entry.username ?? entry.owner, connectedAt: entry.connectedAt, session: entry.session })
        }
        msg.reply(found)
        break
      }
      case 'kick': {
        const entry = state.sessions.get(msg.clientId)
        if (entry !== undefined) {
          log.info({ clientid: msg.clientId }, 'client_kicked')
          dispatch(entry.session, { type: 'kick' })
        }
        msg.reply(entry !== undefined)
        break
      }
      case 'restore': {
        for (const restored of msg.sessions) {
          const entry = spawnEntry(state, restored.record.clientId, restored.record.owner, ctx)
          dispatch(entry.session, { type: 'restore', restored, publishWill: msg.publishWills })
        }
        dispatch(msg.replyTo, msg.sessions.length)
        break
      }
      case 'shutdown': {
        for (const entry of state.sessions.values()) dispatch(entry.session, { type: 'shutdown' })
        for (const session of state.handedOver) dispatch(session, { type: 'shutdown' })
        const count = state.sessions.size
        dispatch(msg.replyTo, count)
        break
      }
    }
    return state
  }

  return spawnMetered('client_registry', broker.system, handle, 'client-registry', {
    initialState: { sessions: new Map(), pending: new Map(), handedOver: new Set<Ref<SessionMsg>>(), spawned: 0 },
    onCrash: resumeOnCrash<RegistryMsg>(log)
  })
}
