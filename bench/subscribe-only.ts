/**
 * The subscribe-only workload (`subscribe-mixed`): the workload's subscribers connect and send
 * their SUBSCRIBEs all at once, timed from the first SUBSCRIBE to the last SUBACK, with the
 * packets encoded before the clock starts. Three rounds, each by new clients with the same filters
 * once the clients before have left: the first in the fresh broker (its code runs cold, as after a
 * restart), the third with that code warm (a second round is still part-way through the JIT's
 * tiers), as in a broker that has been running. Nothing is published.
 */
import { setMaxListeners } from 'node:events'
import { BenchConnection } from './bench-connection.js'
import type { ThroughputResult, ThroughputWorkload } from './workload.js'

const SETUP_TIMEOUT_MS = 60_000
/** Time the broker gets to end a round's sessions before the next round connects. */
const BETWEEN_ROUNDS_MS = 500

export async function runSubscribeOnly (w: ThroughputWorkload): Promise<ThroughputResult> {
  const setup = AbortSignal.timeout(SETUP_TIMEOUT_MS)
  setMaxListeners(0, setup)
  const errors: string[] = []
  const first = await subscribeRound(w, 'r1', setup, errors)
  await new Promise(resolve => setTimeout(resolve, BETWEEN_ROUNDS_MS))
  await subscribeRound(w, 'r2', setup, errors)
  await new Promise(resolve => setTimeout(resolve, BETWEEN_ROUNDS_MS))
  const third = await subscribeRound(w, 'r3', setup, errors)
  const now = performance.timeOrigin + performance.now()
  return {
    kind: 'throughput',
    published: 0,
    expected: 0,
    delivered: 0,
    lost: 0,
    duplicated: 0,
    outOfOrder: 0,
    unexpected: 0,
    unacked: 0,
    durationMs: 0,
    measuredFromEpochMs: now,
    measuredToEpochMs: now,
    measuredDeliveries: 0,
    deliveredPerSecond: 0,
    perSubscriber: [],
    latency: { count: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 },
    connectMs: first.connectMs,
    generatorBusy: 0,
    subscribeMs: first.subscribeMs,
    warmSubscribeMs: third.subscribeMs,
    routesReadyMs: 0,
    errors
  }
}

/** One round: connect every subscriber (client ids carry `round`), subscribe them at once, disconnect. */
async function subscribeRound (w: ThroughputWorkload, round: string, signal: AbortSignal, errors: string[]): Promise<{ connectMs: number, subscribeMs: number }> {
  const t0 = performance.now()
  const connections = await Promise.all(w.subscribers.map(async (spec, s) =>
    await BenchConnection.open(spec.address ?? w.subscribeTo, { clientId: `bench-sub-${round}-${s}`, keepaliveSeconds: 0, signal })))
  try {
    connections.forEach((conn, s) => { conn.onClose = (reason) => { errors.push(`${round} subscriber ${s}: ${reason}`) } })
    const connectMs = performance.now() - t0
    const subscribes = connections.map((conn, s) => conn.prepareSubscribe(w.subscribers[s]!.filters, w.qos))
    const t1 = performance.now()
    await Promise.all(connections.map(async (conn, s) => { await conn.sendSubscribe(subscribes[s]!, signal) }))
    return { connectMs, subscribeMs: performance.now() - t1 }
  } finally {
    for (const conn of connections) {
      conn.onClose = () => {}
      conn.disconnect()
    }
  }
}
