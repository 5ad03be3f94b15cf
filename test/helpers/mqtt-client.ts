/**
 * MQTT.js clients for tests: connect with a bounded timeout and no automatic reconnect, collect
 * received messages, and end the client when the test ends.
 */
import mqtt, { type MqttClient, type IClientOptions, type IPublishPacket } from 'mqtt'
import { waitFor, WaitTimeoutError, withTimeout } from './wait.js'

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
  // An error after CONNACK (a reset connection, a keepalive timeout) reaches the test as a close.
  client.on('error', () => {})
  try {
    await waitFor<undefined>('MQTT.js CONNACK', ({ resolve, reject }) => {
      const onConnect = (): void => { resolve(undefined) }
      const onError = (err: Error): void => { reject(new ClientConnectError(`connect failed: ${err.message}`, err)) }
      const onClose = (): void => { reject(new ClientConnectError('socket closed before CONNACK')) }
      client.once('connect', onConnect).once('error', onError).once('close', onClose)
      return () => { client.off('connect', onConnect).off('error', onError).off('close', onClose) }
    }, { timeoutMs })
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

/** The client's connection closed while the test expected it to stay open (e.g. the broker dropped it). */
export class ClientClosedError extends Error {
  override name = 'ClientClosedError'
  constructor (readonly waitingFor: string) {
    super(`the client's connection closed while waiting for ${waitingFor}`)
  }
}

/** Collects the messages a client receives, from the moment it is created, and lets a test await them. */
export class Inbox {
  readonly messages: ReceivedMessage[] = []
  private readonly listeners = new Set<() => void>()
  private closed = false

  constructor (client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload, packet })
      this.notify()
    })
    client.on('close', () => {
      this.closed = true
      this.notify()
    })
  }

  /** Waits until at least `count` messages have arrived in total; returns them all. */
  async waitForCount (count: number, timeoutMs = CLIENT_WAIT_MS): Promise<ReceivedMessage[]> {
    return await this.waitForMessage(() => this.messages.length >= count ? this.messages : undefined,
      () => `${count} message(s) (have ${this.messages.length})`, timeoutMs)
  }

  /** Waits for the first message on `topic` (already received or arriving). */
  async waitForTopic (topic: string, timeoutMs = CLIENT_WAIT_MS): Promise<ReceivedMessage> {
    return await this.waitForMessage(() => this.messages.find(m => m.topic === topic), () => `a message on ${topic}`, timeoutMs)
  }

  /**
   * Resolves after `ms` if no message beyond the first `count` arrived and the connection stayed
   * open; rejects otherwise (with ClientClosedError if it closed: a dropped client receives nothing).
   */
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

  /** Resolves with `found()` once it is defined; rejects with ClientClosedError if the connection closes first. */
  private async waitForMessage<T> (found: () => T | undefined, what: () => string, timeoutMs: number): Promise<T> {
    return await waitFor<T>(what, ({ resolve, reject }) => {
      const check = (): void => {
        const value = found()
        if (value !== undefined) resolve(value)
        else if (this.closed) reject(new ClientClosedError(what()))
      }
      this.listeners.add(check)
      check()
      return () => { this.listeners.delete(check) }
    }, { timeoutMs })
  }

  private notify (): void {
    for (const listener of [...this.listeners]) listener()
  }
}
