/**
 * Retained sync on join: publishes many retained messages (QoS 0, distinct topics) on one node,
 * then probes a node: a fresh connection subscribes to a sample of those topics every
 * `probeIntervalMs` until the node delivers every sampled retained message on subscribe. Run in
 * the harness process: the publishing happens before anything is timed, and a probe is one
 * connection at a time.
 */
import mqtt from 'mqtt-packet'
import { BenchConnection } from './bench-connection.js'
import { epochNow, type BrokerAddress } from './workload.js'

/** After a SUBACK, the retained messages of the probe are waited for this long. */
const PROBE_WAIT_MS = 50
const PUBLISH_PER_TURN = 2000

export interface RetainedSyncProbe {
  /** Epoch ms when every sample was delivered; null when the deadline passed first. */
  allDeliveredAt: number | null
  delivered: number
  samples: number
}

export function retainedTopic (prefix: string, i: number): string {
  return `${prefix}/${i}`
}

/** Publishes `count` retained messages on `node` (in turns of 2000, so the socket drains in between). */
export async function publishRetained (node: BrokerAddress, prefix: string, count: number, signal: AbortSignal): Promise<void> {
  const conn = await BenchConnection.open(node, { clientId: 'bench-retained-pub', keepaliveSeconds: 0, signal })
  const payload = Buffer.from('retained payload')
  try {
    for (let i = 0; i < count; i++) {
      conn.queue(mqtt.generate({ cmd: 'publish', topic: retainedTopic(prefix, i), payload, qos: 0, dup: false, retain: true }))
      if ((i + 1) % PUBLISH_PER_TURN === 0) await new Promise<void>(resolve => setImmediate(resolve))
    }
    // A SUBSCRIBE answered after the publishes: the node has read them all.
    await conn.subscribe([`${prefix}/done`], 0, signal)
  } finally {
    conn.disconnect()
  }
}

/** Topics spread evenly over 0…count-1, first and last included. */
export function sampleTopics (prefix: string, count: number, samples: number): string[] {
  const out = new Set<string>()
  for (let k = 0; k < samples; k++) out.add(retainedTopic(prefix, Math.round(k * (count - 1) / Math.max(1, samples - 1))))
  return [...out]
}

/** Subscribes to the samples on `node` with a fresh connection per attempt until all are delivered retained. */
export async function probeRetained (node: BrokerAddress, samples: string[], probeIntervalMs: number, timeoutMs: number): Promise<RetainedSyncProbe> {
  const deadline = AbortSignal.timeout(timeoutMs)
  let best = 0
  for (let attempt = 0; !deadline.aborted; attempt++) {
    const seen = new Set<string>()
    /** Set by the publish handler (an object, so the compiler sees it can change). */
    const done: { at: number | null } = { at: null }
    try {
      const conn = await BenchConnection.open(node, { clientId: `bench-retained-probe-${attempt}`, keepaliveSeconds: 0, signal: deadline })
      conn.onPublish = (buf, topicStart, topicEnd) => {
        seen.add(buf.toString('utf8', topicStart, topicEnd))
        if (seen.size === samples.length) done.at ??= epochNow()
      }
      try {
        await conn.subscribe(samples, 0, deadline)
        await new Promise<void>(resolve => setTimeout(resolve, PROBE_WAIT_MS))
      } finally {
        conn.disconnect()
      }
    } catch {
      // The node may still be starting: refused connects are retried until the deadline.
    }
    best = Math.max(best, seen.size)
    if (done.at !== null) return { allDeliveredAt: done.at, delivered: seen.size, samples: samples.length }
    await new Promise<void>(resolve => setTimeout(resolve, probeIntervalMs))
  }
  return { allDeliveredAt: null, delivered: best, samples: samples.length }
}
