/**
 * A raw MQTT-over-WebSocket client for tests (package `ws`): sends bytes as binary (or text)
 * messages exactly as the test splits them, and decodes what the broker sends with mqtt-packet.
 */
import { WebSocket, type ClientOptions } from 'ws'
import mqtt, { type Packet } from 'mqtt-packet'
import { waitFor } from './wait.js'
import type { Cleanup } from './mqtt-client.js'

const WAIT_MS = 3000

/** An upgrade the server answered with an HTTP status instead of 101. */
export class UpgradeRefusedError extends Error {
  override name = 'UpgradeRefusedError'
  constructor (readonly statusCode: number) { super(`upgrade refused with HTTP ${statusCode}`) }
}

export class RawWebSocketClient {
  readonly packets: Packet[] = []
  private readonly parser: ReturnType<typeof mqtt.parser>
  private closed = false
  private readonly listeners = new Set<() => void>()

  private constructor (readonly ws: WebSocket, protocolVersion: number) {
    this.parser = mqtt.parser({ protocolVersion })
    this.parser.on('packet', (packet: Packet) => { this.packets.push(packet); this.notify() })
    ws.on('message', (data: Buffer) => { this.parser.parse(data) })
    ws.on('close', () => { this.closed = true; this.notify() })
  }

  /**
   * Opens a WebSocket to `url` offering `protocols`; rejects with UpgradeRefusedError on an HTTP
   * answer. The socket is terminated when the test ends.
   */
  static async open (t: Cleanup, url: string, protocols: string[], options: ClientOptions = {}, protocolVersion = 4): Promise<RawWebSocketClient> {
    const ws = new WebSocket(url, protocols, options)
    ws.on('error', () => {})
    t.after(() => { ws.terminate() })
    await waitFor<undefined>(`the WebSocket to ${url}`, ({ resolve, reject }) => {
      ws.once('open', () => { resolve(undefined) })
      ws.once('unexpected-response', (_request, response) => { reject(new UpgradeRefusedError(response.statusCode ?? 0)); ws.terminate() })
      ws.once('error', err => { reject(err) })
      return undefined
    }, { timeoutMs: WAIT_MS })
    return new RawWebSocketClient(ws, protocolVersion)
  }

  get isClosed (): boolean { return this.closed }

  /** Sends each chunk as one binary message. */
  sendBinary (...chunks: Buffer[]): void {
    for (const chunk of chunks) this.ws.send(chunk, { binary: true })
  }

  sendText (text: string): void {
    this.ws.send(text, { binary: false })
  }

  /** Waits for the first packet (received or coming) with this cmd. */
  async waitForPacket (cmd: Packet['cmd']): Promise<Packet> {
    return await this.waitUntil(`a ${cmd}`, () => this.packets.find(packet => packet.cmd === cmd))
  }

  /** Waits until the server closed the WebSocket. */
  async waitForClose (): Promise<void> {
    await this.waitUntil('the close', () => this.closed ? true : undefined)
  }

  close (): void { this.ws.terminate() }

  private async waitUntil<T> (what: string | (() => string), found: () => T | undefined, timeoutMs = WAIT_MS): Promise<T> {
    return await waitFor<T>(what, ({ resolve }) => {
      const check = (): void => {
        const value = found()
        if (value !== undefined) resolve(value)
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
