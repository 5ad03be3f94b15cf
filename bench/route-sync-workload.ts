/**
 * Route sync on join: holds many distinct subscriptions on one node, then, on each probe of the
 * harness, publishes on the node named to a sample of those topics until each sample is delivered.
 * The harness probes a node already in the cluster first (so the cluster holds every route), then
 * the joining node; the end time says when that node could route to all of the sampled routes.
 */
import { setMaxListeners } from 'node:events'
import mqtt from 'mqtt-packet'
import { BenchConnection } from './bench-connection.js'
import { epochNow, type BrokerAddress, type RouteSyncReady, type RouteSyncResult, type RouteSyncWorkload } from './workload.js'

const RETRY_CONNECT_MS = 50

export interface HeldRoutes {
  ready: RouteSyncReady
  /** Publishes the samples on `node` until each is delivered or the workload's timeout runs out. */
  probe: (node: BrokerAddress) => Promise<RouteSyncResult>
  close: () => void
}

export async function holdRoutes (w: RouteSyncWorkload): Promise<HeldRoutes> {
  const signal = AbortSignal.timeout(w.timeoutMs)
  setMaxListeners(0, signal)
  const subscribers = await Promise.all(Array.from({ length: w.connections }, async (_, c) =>
    await BenchConnection.open(w.subscribeTo, { clientId: `bench-routes-${c}`, keepaliveSeconds: 0, signal })))
  const errors: string[] = []
  const perConnection = Math.ceil(w.routes / w.connections)
  const subscribeStartedAt = epochNow()
  const t0 = performance.now()
  await Promise.all(subscribers.map(async (conn, c) => {
    const filters: string[] = []
    for (let i = c * perConnection; i < Math.min(w.routes, (c + 1) * perConnection); i++) filters.push(`${w.topicPrefix}/${i}`)
    await conn.subscribe(filters, 0, signal)
  }))
  const subscribeMs = performance.now() - t0

  const sampleTopics = sampleIndexes(w.routes, w.samples).map(i => `${w.topicPrefix}/${i}`)
  let pending = new Set<string>()
  let allDeliveredAt: number | null = null
  for (const [c, conn] of subscribers.entries()) {
    conn.onClose = (reason) => { errors.push(`subscriber ${c}: ${reason}`) }
    conn.onPublish = (buf, topicStart, topicEnd) => {
      if (pending.delete(buf.toString('utf8', topicStart, topicEnd)) && pending.size === 0) allDeliveredAt = epochNow()
    }
  }

  const probe = async (node: BrokerAddress): Promise<RouteSyncResult> => {
    pending = new Set(sampleTopics)
    allDeliveredAt = null
    const deadline = AbortSignal.timeout(w.timeoutMs)
    const publisher = await connectWithRetry(node, deadline)
    publisher.onClose = (reason) => { errors.push(`publisher: ${reason}`) }
    const packets = new Map(sampleTopics.map(topic => [topic, mqtt.generate({ cmd: 'publish', topic, payload: Buffer.from('sync'), qos: 0, dup: false, retain: false })]))
    try {
      while (pending.size > 0 && !deadline.aborted) {
        for (const topic of pending) publisher.queue(packets.get(topic)!)
        await new Promise<void>(resolve => setTimeout(resolve, w.probeIntervalMs))
      }
    } finally {
      publisher.disconnect()
    }
    return { kind: 'route-sync', allDeliveredAt, delivered: sampleTopics.length - pending.size, samples: sampleTopics.length, errors }
  }

  return { ready: { subscribeStartedAt, subscribeMs }, probe, close: () => { for (const conn of subscribers) conn.disconnect() } }
}

/** `samples` indexes spread evenly over 0…routes-1, always including the first and the last. */
function sampleIndexes (routes: number, samples: number): number[] {
  if (samples <= 1 || routes <= 1) return [routes - 1]
  const out = new Set<number>()
  for (let k = 0; k < samples; k++) out.add(Math.round(k * (routes - 1) / (samples - 1)))
  return [...out]
}

/** Connects to a node that may still be starting: retries refused connects until the signal aborts. */
async function connectWithRetry (address: BrokerAddress, signal: AbortSignal): Promise<BenchConnection> {
  for (;;) {
    try {
      return await BenchConnection.open(address, { clientId: 'bench-routes-probe', keepaliveSeconds: 0, signal })
    } catch (err) {
      if (signal.aborted) throw err
      await new Promise<void>(resolve => setTimeout(resolve, RETRY_CONNECT_MS))
    }
  }
}
