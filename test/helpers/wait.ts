/** Bounded waiting primitives shared by the test helpers: every wait in the tests goes through one of these. */

/** A wait that ran out of time; `what` names what was awaited. */
export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError'
  constructor (readonly what: string, readonly timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}`)
  }
}

/** Resolves after `ms` milliseconds. */
export async function sleep (ms: number): Promise<void> {
  await new Promise<void>(resolve => setTimeout(resolve, ms))
}

/** Races `promise` against a timer; rejects with WaitTimeoutError when the timer wins. */
export async function withTimeout<T> (promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new WaitTimeoutError(what, timeoutMs)), timeoutMs)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Polls `condition` every `intervalMs` until it is true; rejects with WaitTimeoutError after `timeoutMs`. */
export async function waitUntil (condition: () => boolean, timeoutMs: number, what: string, intervalMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new WaitTimeoutError(what, timeoutMs)
    await sleep(intervalMs)
  }
}

let counter = 0

/** A name unique within this process run, for client ids and topics that must not collide between tests. */
export function uniqueName (prefix: string): string {
  counter++
  return `${prefix}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}`
}
