/**
 * Takeover latency across nodes (`cluster-takeover`): one persistent MQTT 5 session with a
 * subscription moves back and forth between two nodes, a new connection on the other node each
 * trial. A trial is the time from opening the new connection to its CONNACK, which the node sends
 * once the old node has closed the old connection and handed the session over; a CONNACK without
 * Session Present is an error (the session was not taken over). Between trials the workload waits
 * for the cluster to learn where the session now lives. Runs in the bench process: a trial is one
 * connection, far from loading the generator.
 */
import mqtt, { type IConnackPacket, type MqttClient } from 'mqtt'
import type { BrokerAddress } from './workload.js'

const CONNECT_TIMEOUT_MS = 10_000
/** Pause between trials: the new holder's client id reaches the other node (a delta, within ms). */
const SETTLE_MS = 100

export interface TakeoverResult {
  samplesMs: number[]
  errors: string[]
}

async function connect (address: BrokerAddress, clientId: string): Promise<{ client: MqttClient, connack: IConnackPacket }> {
  const client = mqtt.connect({
    host: address.host, port: address.port, protocolVersion: 5, clientId, clean: false, reconnectPeriod: 0,
    connectTimeout: CONNECT_TIMEOUT_MS, properties: { sessionExpiryInterval: 300 }
  })
  client.on('error', () => {})
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    client.once('connect', resolve)
    client.once('close', () => { reject(new Error('closed before CONNACK')) })
  })
  return { client, connack }
}

export async function runTakeoverWorkload (nodes: readonly [BrokerAddress, BrokerAddress], trials: number): Promise<TakeoverResult> {
  const clientId = `takeover-bench-${process.pid}`
  const samplesMs: number[] = []
  const errors: string[] = []
  let { client } = await connect(nodes[0], clientId)
  await client.subscribeAsync('takeover/bench/#', { qos: 1 })
  try {
    for (let trial = 1; trial <= trials; trial++) {
      await new Promise(resolve => setTimeout(resolve, SETTLE_MS))
      const started = performance.now()
      const next = await connect(nodes[trial % 2]!, clientId)
      const elapsed = performance.now() - started
      client.end(true)
      client = next.client
      if (next.connack.sessionPresent) samplesMs.push(elapsed)
      else if (errors.length < 10) errors.push(`trial ${trial}: CONNACK without Session Present`)
    }
  } finally {
    await client.endAsync(true)
  }
  return { samplesMs, errors }
}
