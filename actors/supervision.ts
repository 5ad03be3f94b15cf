/**
 * Crash policies for the broker's actors. nact stops a crashed actor by default and silently drops
 * what is sent to it afterwards, so every actor names its policy explicitly. `log` is the actor's
 * own logger (it carries the actor's identifying fields); each crash is counted on the meter of the
 * actor's type (actor-meters.ts).
 */
import type { SupervisionActorFunc, ActorSystemRef, Ref } from 'nact'
import type { Logger } from '../src/core/log.js'
import { meterOf } from './actor-meters.js'

function logCrash (log: Logger, self: unknown, msg: unknown, err: Error | undefined): void {
  const meter = meterOf(self)
  if (meter !== undefined) meter.crashes++
  log.error({ err: err?.stack ?? String(err), msg_type: (msg as { type?: string } | undefined)?.type }, 'actor_crashed')
}

/** Log the failed message and keep the actor with its state: for long-lived core actors (shards, route table, registry, retainer). */
export function resumeOnCrash<M> (log: Logger): SupervisionActorFunc<M, ActorSystemRef, Ref<unknown>> {
  return (msg, err, ctx) => {
    logCrash(log, ctx.self, msg, err)
    return ctx.resume
  }
}

/**
 * Log and stop: for a session, whose client is disconnected and can reconnect to a fresh one.
 * `log` and `onStop` get the crashed actor's reference (one handler can serve many actors).
 */
export function stopOnCrash<M> (log: (self: Ref<M>) => Logger, onStop: (self: Ref<M>) => void): SupervisionActorFunc<M, ActorSystemRef, Ref<unknown>> {
  return (msg, err, ctx) => {
    logCrash(log(ctx.self), ctx.self, msg, err)
    onStop(ctx.self)
    return ctx.stop
  }
}
