/**
 * Bounding waits: some libp2p operations (a dial stuck in a garbled handshake) do not settle
 * promptly when their signal aborts, so callers race them against the signal.
 */

/**
 * Settles like `promise`, or rejects with the signal's reason as soon as `signal` aborts; a value
 * that arrives after that is passed to `discard` (e.g. to abort a stream nobody will use).
 */
export async function raceSignal<T> (promise: Promise<T>, signal: AbortSignal, discard?: (late: T) => void): Promise<T> {
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(abortReason(signal)) }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } catch (err) {
    if (signal.aborted) promise.then(discard, () => {})
    throw err
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
  }
}

/** Why `signal` aborted, as an Error (a signal's reason may be any value; timeouts give a DOMException). */
export function abortReason (signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  return reason instanceof Error ? reason : new Error(String(reason), { cause: reason })
}

/** A signal that aborts when any of the given ones does. */
export function anySignal (...signals: Array<AbortSignal | undefined>): AbortSignal {
  return AbortSignal.any(signals.filter((s): s is AbortSignal => s !== undefined))
}
