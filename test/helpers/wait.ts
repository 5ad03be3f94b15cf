/**
 * The tests' one bounded wait. `waitFor` is the primitive: it ends with WaitTimeoutError after its
 * timeout, or with the signal's reason when its AbortSignal aborts, and always runs the waiter's
 * cleanup. Every helper that waits (for a packet, a message, a log line, an exit, a cluster event,
 * a condition) is built on it.
 */
import { setTimeout as delay } from 'node:timers/promises'

/** A wait that ran out of time; `what` names what was awaited. */
export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError'
  constructor (readonly what: string, readonly timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}`)
  }
}

/** Bound on a wait whose caller gives none. */
export const DEFAULT_WAIT_MS = 10_000

export interface WaitOptions {
  /** Bound on the wait; default DEFAULT_WAIT_MS. */
  timeoutMs?: number | undefined
  /** Ends the wait early, rejecting with the signal's reason. */
  signal?: AbortSignal | undefined
}

/** What `waitFor` hands its waiter: ways to end the wait. */
export interface Settle<T> {
  resolve: (value: T) => void
  reject: (err: Error) => void
}

/** `value` if it is an Error, else an Error describing it. */
function asError (value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value))
}

/**
 * Runs `start` and resolves or rejects as it says, within `options.timeoutMs`; rejects with
 * WaitTimeoutError (naming `what`, evaluated then if it is a function) when time runs out, or with
 * `options.signal.reason` on abort. The cleanup `start` returns runs once, however the wait ends.
 */
export async function waitFor<T> (what: string | (() => string), start: (settle: Settle<T>) => (() => void) | undefined, options: WaitOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_MS
  const signal = options.signal
  signal?.throwIfAborted()
  let cleanup: (() => void) | undefined
  let timer: NodeJS.Timeout | undefined
  let onAbort: (() => void) | undefined
  try {
    return await new Promise<T>((resolve, reject) => {
      timer = setTimeout(() => { reject(new WaitTimeoutError(typeof what === 'string' ? what : what(), timeoutMs)) }, timeoutMs)
      if (signal !== undefined) {
        onAbort = () => { reject(asError(signal.reason)) }
        signal.addEventListener('abort', onAbort, { once: true })
      }
      try {
        cleanup = start({ resolve, reject })
      } catch (err) {
        reject(asError(err))
      }
    })
  } finally {
    clearTimeout(timer)
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
    cleanup?.()
  }
}

/** Settles as `promise` does, or rejects with WaitTimeoutError if it does not settle within `timeoutMs`. */
export async function withTimeout<T> (promise: Promise<T>, timeoutMs: number, what: string, signal?: AbortSignal): Promise<T> {
  return await waitFor<T>(what, ({ resolve, reject }) => {
    promise.then(resolve, (err: unknown) => { reject(asError(err)) })
    return undefined
  }, { timeoutMs, signal })
}

export interface PollOptions {
  /** Pause between reads; default 20 ms. */
  intervalMs?: number
  /** Ends the wait early, rejecting with the signal's reason. */
  signal?: AbortSignal | undefined
}

/**
 * Reads `read()` until `accept` holds for its value and resolves with that value, within
 * `timeoutMs`; reads never overlap, one every `intervalMs`. A read that throws counts as not yet.
 * On timeout the WaitTimeoutError names `what` and the last value (or error) seen.
 */
export async function pollUntil<T> (read: () => T | Promise<T>, accept: (value: T) => boolean, timeoutMs: number, what: string, options: PollOptions = {}): Promise<T> {
  const intervalMs = options.intervalMs ?? 20
  let last = 'nothing read'
  return await waitFor<T>(() => `${what} (last seen: ${last})`, ({ resolve }) => {
    let stopped = false
    let pause: NodeJS.Timeout | undefined
    const attempt = async (): Promise<void> => {
      try {
        const value = await read()
        if (stopped) return
        if (accept(value)) {
          resolve(value)
          return
        }
        last = JSON.stringify(value)
      } catch (err) {
        last = `error: ${err instanceof Error ? err.message : String(err)}`
      }
      if (!stopped) pause = setTimeout(() => { void attempt() }, intervalMs)
    }
    void attempt()
    return () => {
      stopped = true
      clearTimeout(pause)
    }
  }, { timeoutMs, signal: options.signal })
}

/** Waits until `condition()` is true, checking every `intervalMs` (default 20 ms), within `timeoutMs`. */
export async function waitUntil (condition: () => boolean, timeoutMs: number, what: string, options: PollOptions = {}): Promise<void> {
  await pollUntil(condition, holds => holds, timeoutMs, what, options)
}

/** Lets `ms` milliseconds pass (an observation window, not a wait for an event); ends early with the signal's reason. */
export async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  await delay(ms, undefined, signal === undefined ? {} : { signal })
}

let counter = 0

/** A name unique within this process run, for client ids and topics that must not collide between tests. */
export function uniqueName (prefix: string): string {
  counter++
  return `${prefix}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}`
}
