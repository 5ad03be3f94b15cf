/**
 * MQTT.js clients for tests: connect with a bounded timeout and no automatic reconnect, collect
 * received messages, and end the client when the test ends.
 */
import mqtt, { type MqttClient, type IClientOptions, type IPublishPacket } from 'mqtt'
import { WaitTimeoutError, withTimeout } from './wait.js'

/** Anything with node:test's `after` hook (a TestContext or SuiteContext-like object). */
export interface Cleanup { after: (fn: () => unknown) => void }

/** The client could not connect (CONNACK refused, socket closed, or timed out). */
export class ClientConnectError extends Error {
  override name = 'ClientConnectError'
  constructor (message: string, cause?: unknown) { super(message, { cause }) }
}

export const CLIENT_WAIT_MS = 3000

/**
 * Connects an MQTT.js client (protocol version 4 unless `options.protocolVersion` says otherwise)
 * and resolves once CONNACK arrived; the client is ended (forcefully) when the test ends.
 */
export async function connectClient (t: Cleanup, port: number, options: IClientOptions = {}, timeoutMs = CLIENT_WAIT_MS): Promise<MqttClient> {
  const client = mqtt.connect({
    host: '127.0.0.1',
    port,
    protocol: 'mqtt',
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: timeoutMs,
    ...options
  })
  t.after(async () => { await endClient(client) })
  try {
    await withTimeout(new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve())
      client.once('error', err => reject(new ClientConnectError(`connect failed: ${err.message}`, err)))
      client.once('close', () => reject(new ClientConnectError('socket closed before CONNACK')))
    }), timeoutMs, 'MQTT.js CONNACK')
  } catch (err) {
    client.end(true)
    throw err
  }
  return client
}

/** Ends a client without DISCONNECT semantics mattering (forced), bounded in time. */
export async function endClient (client: MqttClient): Promise<void> {
  if (client.disconnected && !client.connected) return
  await withTimeout(client.endAsync(true), CLIENT_WAIT_MS, 'MQTT.js end').catch(() => undefined)
}

/** One PUBLISH as MQTT.js delivered it. */
export interface ReceivedMessage { topic: string, payload: Buffer, packet: IPublishPacket }

/** Collects the messages a client receives, from the moment it is created, and lets a test await them. */
export class Inbox {
  readonly messages: ReceivedMessage[] = []
  private readonly listeners = new Set<() => void>()

  constructor (client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload, packet })
      for (const listener of this.listeners) listener()
    })
  }

  /** Waits until at least `count` messages have arrived in total; returns them all. */
  async waitForCount (count: number, timeoutMs = CLIENT_WAIT_MS): Promise<ReceivedMessage[]> {
    if (this.messages.length >= count) return this.messages
    let listener: (() => void) | undefined
    try {
      await withTimeout(new Promise<void>(resolve => {
        listener = () => { if (this.messages.length >= count) resolve() }
        this.listeners.add(listener)
      }), timeoutMs, `${count} message(s) (have ${this.messages.length})`)
    } finally {
      if (listener !== undefined) this.listeners.delete(listener)
    }
    return this.messages
  }

  /** Waits for the first message on `topic` (already received or arriving). */
  async waitForTopic (topic: string, timeoutMs = CLIENT_WAIT_MS): Promise<ReceivedMessage> {
    const found = (): ReceivedMessage | undefined => this.messages.find(m => m.topic === topic)
    const existing = found()
    if (existing !== undefined) return existing
    let listener: (() => void) | undefined
    try {
      return await withTimeout(new Promise<ReceivedMessage>(resolve => {
        listener = () => { const m = found(); if (m !== undefined) resolve(m) }
        this.listeners.add(listener)
      }), timeoutMs, `a message on ${topic}`)
    } finally {
      if (listener !== undefined) this.listeners.delete(listener)
    }
  }

  /** Resolves after `ms` if no message beyond the first `count` arrived; rejects otherwise. */
  async expectNoMoreThan (count: number, ms: number): Promise<void> {
    try {
      await this.waitForCount(count + 1, ms)
    } catch (err) {
      if (err instanceof WaitTimeoutError) return
      throw err
    }
    const extra = this.messages.slice(count).map(m => m.topic).join(', ')
    throw new Error(`expected at most ${count} message(s), got ${this.messages.length}: extra on ${extra}`)
  }
}
