/**
 * kill -9 of a node under steady QoS 1 and QoS 2 load, restarted on the same data directory: every
 * message the broker acknowledged (PUBACK, PUBREC→PUBCOMP) reaches the persistent subscriber, which
 * reconnects to sessionPresent=1 [MQTT-3.2.2-2, MQTT-4.3.2-*, MQTT-4.3.3-*]. A checker counts lost
 * messages and duplicates: none lost at all, and with QoS 2 none duplicated either (the QoS 2
 * packet ids awaiting PUBREL and those sent with PUBREC pending are in the store). Real processes
 * (`meshmq start --persistence batch`), MQTT.js clients that reconnect on their own and resend
 * what was not acknowledged.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import mqtt, { type MqttClient } from 'mqtt'
import { spawnBroker, tempDir, type BrokerProcess } from './helpers/broker-process.js'
import { freePort } from './helpers/ports.js'
import { DeliveryChecker } from './helpers/delivery-checker.js'
import { waitUntil } from './helpers/wait.js'
import type { Cleanup } from './helpers/mqtt-client.js'
import type { QoS } from '../src/core/mqtt/message.js'

const RATE = 300
const LOAD_BEFORE_KILL_MS = 1500
const LOAD_AFTER_RESTART_MS = 1000

function start (t: Cleanup, dataDir: string, port: number, mode: string): BrokerProcess {
  return spawnBroker(t, { args: ['start', '--name', 'kill@127.0.0.1', '--data-dir', dataDir, '--port', String(port), '--persistence', mode, '--log-level', 'info'] })
}

/** An MQTT.js client that reconnects to `port` on its own and keeps its session. */
function client (t: Cleanup, port: number, clientId: string): MqttClient {
  const c = mqtt.connect({
    host: '127.0.0.1',
    port,
    protocol: 'mqtt',
    protocolVersion: 5,
    clientId,
    clean: false,
    properties: { sessionExpiryInterval: 300 },
    reconnectPeriod: 100,
    connectTimeout: 2000
  })
  c.on('error', () => {})
  t.after(async () => { await c.endAsync(true) })
  return c
}

/** Publishes numbered messages at a steady rate, at most `window` unacknowledged, reporting each acknowledged one. */
class SteadyPublisher {
  sent = 0
  acked = 0
  private outstanding = 0
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly c: MqttClient, private readonly topic: string, private readonly qos: QoS, private readonly onAcked: (id: string) => void, private readonly window = 16) {}

  start (): void {
    const startedAt = Date.now()
    this.timer = setInterval(() => {
      const due = Math.floor((Date.now() - startedAt) * RATE / 1000)
      while (this.sent < due && this.outstanding < this.window && this.c.connected) {
        const id = `m${this.sent++}`
        this.outstanding++
        this.c.publish(this.topic, id, { qos: this.qos }, err => {
          this.outstanding--
          // MQTT.js passes null (not undefined) on success.
          if (!(err instanceof Error)) {
            this.acked++
            this.onAcked(id)
          }
        })
      }
    }, 10)
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    await waitUntil(() => this.outstanding === 0, 15_000, 'the last acks')
  }
}

async function killAndRestart (t: Cleanup, qos: QoS): Promise<{ checker: DeliveryChecker, sessionPresent: boolean[] }> {
  const dataDir = tempDir(t, 'meshmq-kill-')
  const port = await freePort()
  const first = start(t, dataDir, port, 'batch')
  await first.waitForEvent('broker_started')
  const checker = new DeliveryChecker(['sub'])
  const sub = client(t, port, 'kill-sub')
  const sessionPresent: boolean[] = []
  sub.on('connect', packet => { sessionPresent.push(packet.sessionPresent) })
  sub.on('message', (_topic, payload, packet) => { checker.received('sub', payload.toString(), packet.dup) })
  await waitUntil(() => sub.connected, 5000, 'the subscriber to connect')
  await sub.subscribeAsync('load/#', { qos })
  const pubClient = client(t, port, 'kill-pub')
  await waitUntil(() => pubClient.connected, 5000, 'the publisher to connect')
  const publisher = new SteadyPublisher(pubClient, 'load/x', qos, id => { checker.acked(id) })
  publisher.start()
  await new Promise(resolve => setTimeout(resolve, LOAD_BEFORE_KILL_MS))
  const ackedAtKill = checker.ackedCount
  first.kill('SIGKILL')
  await first.waitForExit()
  const second = start(t, dataDir, port, 'batch')
  const restored = await second.waitForEvent('store_restored')
  assert.ok((restored.sessions as number) >= 2, 'both sessions came back from the store')
  await waitUntil(() => sub.connected && pubClient.connected, 10_000, 'the clients to reconnect')
  await new Promise(resolve => setTimeout(resolve, LOAD_AFTER_RESTART_MS))
  await publisher.stop()
  assert.ok(ackedAtKill > 100, `load before the kill (${ackedAtKill} acked)`)
  assert.ok(checker.ackedCount > ackedAtKill, 'load after the restart')
  await waitUntil(() => checker.complete, 15_000, 'every acknowledged message at the subscriber').catch(() => {})
  return { checker, sessionPresent }
}

describe('kill -9 and restart of one node, persistence batch', () => {
  it('[MQTT-4.3.2-2] QoS 1: every acknowledged message is delivered after the restart; duplicates are counted', async t => {
    const { checker, sessionPresent } = await killAndRestart(t, 1)
    const [report] = checker.reports()
    t.diagnostic(`QoS 1: ${JSON.stringify(report)}`)
    assert.equal(report!.lost, 0, `lost: ${checker.missing('sub', 10).join(', ')}`)
    assert.equal(sessionPresent.at(-1), true, 'the subscriber came back to sessionPresent=1')
  })

  it('[MQTT-4.3.3-2] QoS 2: every acknowledged message is delivered exactly once after the restart', async t => {
    const { checker, sessionPresent } = await killAndRestart(t, 2)
    const [report] = checker.reports()
    t.diagnostic(`QoS 2: ${JSON.stringify(report)}`)
    assert.equal(report!.lost, 0, `lost: ${checker.missing('sub', 10).join(', ')}`)
    assert.equal(report!.duplicates + report!.dupRedeliveries, 0, 'no message twice')
    assert.equal(sessionPresent.at(-1), true, 'the subscriber came back to sessionPresent=1')
  })
})
