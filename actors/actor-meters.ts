/**
 * Per node and per actor type: actors running, messages handled, mailbox depth and crashes (for
 * `/api/v1/actors` and Prometheus). nact counts none of these, so the broker's own `spawn`,
 * `dispatch` and `query` below count them; the broker's code imports those instead of nact's
 * (eslint's no-restricted-imports enforces it, so no send goes uncounted).
 *
 * Each actor spawned by `spawnMetered` carries two properties on its reference: its type's meter and
 * its own count of messages pending (about 40 bytes an actor, no object of its own). A send adds one
 * to both, the actor's handler (wrapped once per function, not per actor) takes one off when it
 * starts a message: two integer adds per message, no allocation.
 * The mailbox depth of a type is `sent - handled - discarded`: messages sent and not yet started.
 * When an actor stops, what is left in its mailbox (and whatever was sent to it while it stopped)
 * is `discarded`, and later sends to its reference are not counted (nact drops them).
 *
 * Meters belong to an actor system (one per node: several nodes in one process keep their own),
 * found by the system's reference.
 */
import {
  dispatch as nactDispatch, query as nactQuery, spawn as nactSpawn,
  type ActorContextWithMailbox, type ActorFunc, type ActorProps, type ActorSystemRef, type Ref
} from 'nact'

/** The counters of one actor type on one node. */
export class ActorTypeMeter {
  /** Actors of this type spawned and not stopped. */
  running = 0
  /** Messages whose handling started (a crash included). */
  handled = 0
  /** Messages sent to a running actor of this type. */
  sent = 0
  /** Messages an actor of this type still had queued when it stopped, never handled. */
  discarded = 0
  /** Handler failures (see supervision.ts). */
  crashes = 0

  constructor (readonly type: string) {}

  /** Messages queued and not yet started, over every actor of this type. */
  get mailboxDepth (): number { return this.sent - this.handled - this.discarded }
}

const METER: unique symbol = Symbol('meshmq.actorMeter')
const PENDING: unique symbol = Symbol('meshmq.actorPending')
/** What an actor's reference carries: its type's meter (undefined once stopped) and its count of messages queued. */
interface Metered { [METER]?: ActorTypeMeter | undefined, [PENDING]: number }

/** The meters of one actor system (one node), by actor type. */
export class ActorMeters {
  readonly #types = new Map<string, ActorTypeMeter>()

  of (type: string): ActorTypeMeter {
    let meter = this.#types.get(type)
    if (meter === undefined) {
      meter = new ActorTypeMeter(type)
      this.#types.set(type, meter)
    }
    return meter
  }

  /** Every type spawned so far, sorted by name. */
  all (): ActorTypeMeter[] {
    return [...this.#types.values()].sort((a, b) => a.type.localeCompare(b.type))
  }
}

const metersBySystem = new WeakMap<ActorSystemRef, ActorMeters>()

/** The meters of the actors spawned under `system` (created on first use). */
export function actorMetersOf (system: ActorSystemRef): ActorMeters {
  let meters = metersBySystem.get(system)
  if (meters === undefined) {
    meters = new ActorMeters()
    metersBySystem.set(system, meters)
  }
  return meters
}

/** The meter of the actor type `ref` belongs to (undefined for a reference not spawned by `spawnMetered`, or stopped). */
export function meterOf (ref: unknown): ActorTypeMeter | undefined {
  return (ref as Metered)[METER]
}

function countSend (ref: unknown): void {
  const metered = ref as Metered
  const meter = metered[METER]
  if (meter === undefined) return
  metered[PENDING]++
  meter.sent++
}

/** nact's `dispatch`, counted. */
export function dispatch<T> (actor: Ref<T>, msg: T): void {
  countSend(actor)
  nactDispatch(actor, msg)
}

/** nact's `query`, counted. */
export const query: typeof nactQuery = async (actor, queryFactory, timeout) => {
  countSend(actor)
  return await nactQuery(actor, queryFactory, timeout)
}

type AnyHandler = (this: unknown, state: unknown, msg: unknown, ctx: { self: unknown }) => unknown

/** Handlers wrapped to count, one wrapper per handler function (actors sharing a function share it). */
const wrapped = new WeakMap<AnyHandler, AnyHandler>()

function countedHandler (f: AnyHandler): AnyHandler {
  let counted = wrapped.get(f)
  if (counted === undefined) {
    counted = function (this: unknown, state, msg, ctx) {
      const self = ctx.self as Metered
      const meter = self[METER]
      if (meter !== undefined) {
        self[PENDING]--
        meter.handled++
      }
      return f.call(this, state, msg, ctx)
    }
    wrapped.set(f, counted)
  }
  return counted
}

/** After a stop: what the actor still held is discarded, and its reference is no longer counted. */
function settleStopped (ctx: { self: unknown }): void {
  const self = ctx.self as Metered
  const meter = self[METER]
  if (meter === undefined) return
  self[METER] = undefined
  meter.discarded += self[PENDING]
  self[PENDING] = 0
  meter.running--
}

function countedAfterStop (_state: unknown, ctx: { self: unknown }): void {
  settleStopped(ctx)
}

/**
 * nact's `spawn` under `parent`, its actor counted as one of `type` (`session`, `trie_shard`, …) in
 * `meters`: those of the actor system `parent` unless given (an actor spawned under another actor
 * names its system's).
 */
export function spawnMetered<State, Msg> (
  type: string, parent: ActorSystemRef, f: ActorFunc<State, Msg, ActorSystemRef>, name: string, properties: ActorProps<State, Msg, ActorSystemRef> = {},
  meters: ActorMeters = actorMetersOf(parent)
): Ref<Msg> {
  const given = properties.afterStop
  const afterStop = given === undefined
    ? countedAfterStop
    : async (state: State, ctx: ActorContextWithMailbox<Msg, ActorSystemRef>): Promise<void> => {
      settleStopped(ctx)
      await given(state, ctx)
    }
  const meter = meters.of(type)
  const handler = countedHandler(f as unknown as AnyHandler) as unknown as ActorFunc<State, Msg, ActorSystemRef>
  const ref: Ref<Msg> = nactSpawn(parent, handler, name, { ...properties, afterStop })
  const metered = ref as unknown as Metered
  metered[METER] = meter
  metered[PENDING] = 0
  meter.running++
  return ref
}
