/**
 * Route convergence: a publisher loops on a fresh topic on one node; a subscriber on another node
 * subscribes to it; the sample is the time from sending SUBSCRIBE to the first delivery.
 */
import mqtt from 'mqtt-packet'
import { BenchConnection } from './bench-connection.js'
import type { ConvergenceResult, ConvergenceWorkload } from './workload.js'

const CONNECT_TIMEOUT_MS = 10_000

export async function runConvergence (w: ConvergenceWorkload): Promise<ConvergenceResult> {
  const connectSignal = AbortSignal.timeout(CONNECT_TIMEOUT_MS)
  const publisher = await BenchConnection.open(w.publishTo, { clientId: 'bench-conv-pub', keepaliveSeconds: 0, signal: connectSignal })
  const subscriber = await BenchConnection.open(w.subscribeTo, { clientId: 'bench-conv-sub', keepaliveSeconds: 0, signal: connectSignal })
  const errors: string[] = []
  publisher.onClose = (reason) => { errors.push(`publisher: ${reason}`) }
  subscriber.onClose = (reason) => { errors.push(`subscriber: ${reason}`) }
  const samplesMs: number[] = []
  let failures = 0
  try {
    for (let trial = 0; trial < w.trials && errors.length === 0; trial++) {
      const topic = `${w.topicPrefix}/${trial}`
      const packet = mqtt.generate({ cmd: 'publish', topic, payload: Buffer.from(String(trial)), qos: 0, dup: false, retain: false })
      const loop = setInterval(() => { publisher.socket.write(packet) }, w.publishIntervalMs)
      try {
        await sleep(w.publishIntervalMs * 3)
        const sample = await firstDelivery(subscriber, topic, w.trialTimeoutMs)
        if (sample === null) failures++
        else samplesMs.push(sample)
      } catch (err) {
        failures++
        errors.push((err as Error).message)
      } finally {
        clearInterval(loop)
      }
    }
  } finally {
    publisher.disconnect()
    subscriber.disconnect()
  }
  return { kind: 'convergence', samplesMs, failures, errors }
}

/** Subscribes to `topic` and resolves with the milliseconds until its first message, or null on timeout. */
async function firstDelivery (subscriber: BenchConnection, topic: string, timeoutMs: number): Promise<number | null> {
  const signal = AbortSignal.timeout(timeoutMs)
  const sentAt = performance.now()
  const delivered = new Promise<number | null>((resolve) => {
    const onAbort = (): void => { resolve(null) }
    signal.addEventListener('abort', onAbort, { once: true })
    subscriber.onPublish = (buf, topicStart, topicEnd) => {
      if (buf.toString('utf8', topicStart, topicEnd) !== topic) return
      subscriber.onPublish = () => {}
      signal.removeEventListener('abort', onAbort)
      resolve(performance.now() - sentAt)
    }
  })
  const [sample] = await Promise.all([delivered, subscriber.subscribe([topic], 0, signal)])
  return sample
}

async function sleep (ms: number): Promise<void> {
  await new Promise<void>(resolve => setTimeout(resolve, ms))
}
