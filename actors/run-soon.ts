/**
 * Work an I/O callback dispatched, run before the next I/O callback when the actor runtime is
 * otherwise idle. With the run queue of meshmq's nact patch (patches/README.md), a dispatch waits
 * for the event loop's check phase, after every socket read of the poll phase: a burst of
 * publishes on several connections is then worked through stage by stage, and each waits for the
 * whole burst. `runSoon()` drains the queue in the read's microtasks instead, when it holds only
 * the actor that read woke (light load); under load the queue is longer and the work joins the
 * batch as before. On stock nact (no run queue) it does nothing.
 */
import { createRequire } from 'node:module'

interface RunQueue { drainSoon?: (idleBelow?: number) => boolean }

function loadRunQueue (): RunQueue {
  try {
    return createRequire(import.meta.url)('nact/lib/run-queue') as RunQueue
  } catch {
    return {}
  }
}

const drainSoon = loadRunQueue().drainSoon

export function runSoon (): void {
  drainSoon?.(1)
}
