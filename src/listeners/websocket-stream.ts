/**
 * A WebSocket as a Connection's byte stream: each binary message is a chunk of the MQTT byte
 * stream (a message may hold part of a packet or several packets [MQTT-6.0.0-2]); each write is
 * one binary message. A text message is a protocol violation that closes the connection
 * [MQTT-6.0.0-1]. Buffered bytes are the WebSocket's `bufferedAmount`; `drain` is the underlying
 * socket's, so the slow-consumer logic works as on TCP.
 */
import { EventEmitter } from 'node:events'
import type net from 'node:net'
import { WebSocket, type RawData } from 'ws'
import type { ByteStream } from './byte-stream.js'

/** WebSocket close code 1003: the endpoint cannot accept this type of data (a text frame). */
const UNSUPPORTED_DATA = 1003
const NORMAL_CLOSURE = 1000
const BINARY = { binary: true } as const

function bytesOf (data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data
  if (Array.isArray(data)) return Buffer.concat(data)
  return Buffer.from(data)
}

export class WebSocketStream extends EventEmitter implements ByteStream {
  readonly remoteAddress: string | undefined
  readonly remotePort: number | undefined

  /** `socket`: the upgraded socket under `ws` (for its drain and address); `onTextFrame` reports a text frame before the close. */
  constructor (private readonly ws: WebSocket, socket: net.Socket, onTextFrame: () => void) {
    super()
    this.remoteAddress = socket.remoteAddress
    this.remotePort = socket.remotePort
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        this.emit('data', bytesOf(data))
        return
      }
      // MQTT over WebSocket is binary only [MQTT-6.0.0-1].
      onTextFrame()
      this.emit('error', new Error('text frame'))
      ws.close(UNSUPPORTED_DATA, 'MQTT needs binary frames')
    })
    ws.on('error', (err: Error) => this.emit('error', err))
    ws.on('close', () => this.emit('close'))
    socket.on('drain', () => this.emit('drain'))
  }

  get writableLength (): number { return this.ws.bufferedAmount }

  get destroyed (): boolean { return this.ws.readyState !== WebSocket.OPEN }

  write (data: Buffer): void {
    this.ws.send(data, BINARY)
  }

  end (): void {
    this.ws.close(NORMAL_CLOSURE)
  }

  destroy (): void {
    this.ws.terminate()
  }
}
