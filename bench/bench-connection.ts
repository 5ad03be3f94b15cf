/**
 * One MQTT 3.1.1 client connection on a raw TCP socket (or a TLS socket when the address asks), built for load generation: control packets
 * are generated and parsed with mqtt-packet, while PUBLISH and PUBACK are handed to callbacks as raw
 * bytes so the hot path allocates nothing per message. Writes queued with `queue()` leave as one
 * `socket.write` per event-loop turn.
 */
import { readFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import mqtt from 'mqtt-packet'
import type { BrokerAddress, QoS } from './workload.js'
import { FrameReader } from './frame-reader.js'
import { BenchTimeoutError, ConnectRefusedError, SubscribeFailedError } from './errors.js'

const PUBLISH = 3
const PUBACK = 4

/** Receives a PUBLISH: its topic and payload are `buf` slices, valid only during the call. */
export type PublishHandler = (buf: Buffer, topicStart: number, topicEnd: number, payloadStart: number, payloadEnd: number, qos: number, packetId: number) => void
export type PubackHandler = (packetId: number) => void

export interface OpenOptions {
  clientId: string
  keepaliveSeconds: number
  signal: AbortSignal
  /** CONNECT with clean session 0, so the broker keeps the session (and queues QoS 1/2 for it) after a disconnect. Default false. */
  persistent?: boolean
  /** Source address of the socket (plain TCP only): many short connections spread over 127.0.0.x. */
  localAddress?: string | undefined
  /** Installs the PUBLISH handler before CONNECT leaves: a resumed session's messages may arrive in the same read as the CONNACK. */
  onPublish?: (conn: BenchConnection) => PublishHandler
}

/** SUBSCRIBE packets carry at most this many filters, so 10k subscriptions take 100 packets. */
const FILTERS_PER_SUBSCRIBE = 100
/** Size of the buffer the socket reads into; reused for every read. */
const READ_BUFFER_BYTES = 64 * 1024

const caCache = new Map<string, Buffer>()

/** The CA file's PEM, read once per generator process. */
function readCa (file: string): Buffer {
  let ca = caCache.get(file)
  if (ca === undefined) {
    ca = readFileSync(file)
    caCache.set(file, ca)
  }
  return ca
}

/** A SUBSCRIBE encoded ahead (`BenchConnection.prepareSubscribe`). */
export interface PreparedSubscribe {
  messageId: number
  chunk: string[]
  bytes: Buffer
}

export class BenchConnection {
  onPublish: PublishHandler = () => {}
  onPuback: PubackHandler = () => {}
  /** Called once when the socket closes or fails after the handshake. */
  onClose: (reason: string) => void = () => {}

  private readonly reader: FrameReader
  private readonly controlParser = mqtt.parser({ protocolVersion: 4 })
  /** Waiters for CONNACK / SUBACK by key; all fail together when the socket closes. */
  private readonly pendingControl = new Map<string, { settle: (packet: mqtt.Packet) => void, fail: (err: Error) => void }>()
  private queued: Buffer[] = []
  private flushScheduled = false
  private nextControlId = 1
  private closed = false
  private lastError = ''
  /** The CONNACK's session present flag. */
  sessionPresent = false

  readonly socket: net.Socket

  private constructor (address: BrokerAddress, localAddress?: string) {
    this.reader = new FrameReader((first, buf, frameStart, bodyStart, end) => { this.dispatch(first, buf, frameStart, bodyStart, end) })
    this.controlParser.on('packet', (packet) => { this.onControlPacket(packet) })
    const socket = address.tls === undefined ? this.connectPlain(address, localAddress) : this.connectTls(address, address.tls.caFile)
    this.socket = socket
    socket.on('error', (err: Error) => { this.lastError = err.message })
    socket.on('close', () => {
      for (const [key, waiter] of [...this.pendingControl]) {
        waiter.fail(new ConnectRefusedError(`connection closed while waiting for ${key.split(':')[0] ?? key}${this.lastError === '' ? '' : `: ${this.lastError}`}`))
      }
      if (this.closed) return
      this.closed = true
      this.onClose(this.lastError === '' ? 'socket closed by broker' : this.lastError)
    })
  }

  /**
   * Reads go into one reused buffer (`onread`) instead of a new Buffer and a stream event per read:
   * brokers that write each packet separately cause one read per packet.
   */
  private connectPlain (address: BrokerAddress, localAddress: string | undefined): net.Socket {
    const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES)
    const socket = net.connect({
      host: address.host,
      port: address.port,
      localAddress,
      noDelay: true,
      onread: {
        buffer: readBuffer,
        callback: (bytes) => {
          this.read(socket, readBuffer.subarray(0, bytes))
          return true
        }
      }
    })
    return socket
  }

  /** TLS trusting `caFile`; reads arrive as decrypted chunks (TLS sockets have no `onread`). */
  private connectTls (address: BrokerAddress, caFile: string): tls.TLSSocket {
    const socket = tls.connect({ host: address.host, port: address.port, ca: readCa(caFile) })
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => { this.read(socket, chunk) })
    return socket
  }

  private read (socket: net.Socket, bytes: Buffer): void {
    try {
      this.reader.push(bytes)
    } catch (err) {
      socket.destroy(err as Error)
    }
  }

  /** Connects, sends CONNECT (clean session unless `persistent`) and resolves after a successful CONNACK. */
  static async open (address: BrokerAddress, options: OpenOptions): Promise<BenchConnection> {
    const conn = new BenchConnection(address, options.localAddress)
    if (options.onPublish !== undefined) conn.onPublish = options.onPublish(conn)
    const socket = conn.socket
    try {
      await conn.waitFor('connack', options.signal, () => {
        socket.write(mqtt.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: options.clientId, clean: options.persistent !== true, keepalive: options.keepaliveSeconds }))
      }, (packet) => {
        const code = (packet as mqtt.IConnackPacket).returnCode ?? 0
        if (code !== 0) throw new ConnectRefusedError(`CONNACK return code ${code} for ${options.clientId}`)
        conn.sessionPresent = (packet as mqtt.IConnackPacket).sessionPresent
      })
    } catch (err) {
      conn.destroy()
      throw err
    }
    return conn
  }

  /** Subscribes to every filter (in packets of up to 100 filters) and waits for all SUBACKs. */
  async subscribe (filters: readonly string[], qos: QoS, signal: AbortSignal): Promise<void> {
    await this.sendSubscribe(this.prepareSubscribe(filters, qos), signal)
  }

  /**
   * The SUBSCRIBE packets for `filters` (up to 100 filters each), encoded ahead: a timed subscribe
   * (`sendSubscribe`) then measures the broker, not this process encoding 10k topics.
   */
  prepareSubscribe (filters: readonly string[], qos: QoS): PreparedSubscribe[] {
    const packets: PreparedSubscribe[] = []
    for (let i = 0; i < filters.length; i += FILTERS_PER_SUBSCRIBE) {
      const chunk = filters.slice(i, i + FILTERS_PER_SUBSCRIBE)
      const messageId = this.takeControlId()
      packets.push({ messageId, chunk, bytes: mqtt.generate({ cmd: 'subscribe', messageId, subscriptions: chunk.map(topic => ({ topic, qos })) }) })
    }
    return packets
  }

  /** Sends prepared SUBSCRIBE packets and waits for all their SUBACKs; a refused filter fails it. */
  async sendSubscribe (packets: readonly PreparedSubscribe[], signal: AbortSignal): Promise<void> {
    await Promise.all(packets.map(async ({ messageId, chunk, bytes }) => {
      await this.waitFor(`suback:${messageId}`, signal, () => { this.socket.write(bytes) }, (packet) => {
        const granted = (packet as mqtt.ISubackPacket).granted as number[]
        const refused = granted.findIndex(code => code === 0x80)
        if (refused >= 0) throw new SubscribeFailedError(`SUBACK refused ${chunk[refused] ?? '?'}`)
      })
    }))
  }

  /** Queues bytes for the single write of this event-loop turn. */
  queue (bytes: Buffer): void {
    this.queued.push(bytes)
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(() => { this.flush() })
  }

  /** Sends DISCONNECT and ends the socket. */
  disconnect (): void {
    if (this.closed) return
    this.flush()
    this.closed = true
    this.socket.end(mqtt.generate({ cmd: 'disconnect' }))
  }

  destroy (): void {
    this.closed = true
    this.socket.destroy()
  }

  private flush (): void {
    this.flushScheduled = false
    if (this.queued.length === 0 || this.socket.destroyed) { this.queued = []; return }
    const bytes = this.queued.length === 1 ? this.queued[0]! : Buffer.concat(this.queued)
    this.queued = []
    this.socket.write(bytes)
  }

  private dispatch (first: number, buf: Buffer, frameStart: number, bodyStart: number, end: number): void {
    const type = first >> 4
    if (type === PUBLISH) {
      const qos = (first >> 1) & 3
      const topicEnd = bodyStart + 2 + buf.readUInt16BE(bodyStart)
      let payloadStart = topicEnd
      let packetId = 0
      if (qos > 0) {
        packetId = buf.readUInt16BE(topicEnd)
        payloadStart += 2
      }
      this.onPublish(buf, bodyStart + 2, topicEnd, payloadStart, end, qos, packetId)
    } else if (type === PUBACK) {
      this.onPuback(buf.readUInt16BE(bodyStart))
    } else {
      this.controlParser.parse(buf.subarray(frameStart, end))
    }
  }

  private onControlPacket (packet: mqtt.Packet): void {
    const key = packet.cmd === 'suback' ? `suback:${packet.messageId ?? 0}` : packet.cmd
    const waiter = this.pendingControl.get(key)
    if (waiter === undefined) return
    waiter.settle(packet)
  }

  private takeControlId (): number {
    const id = this.nextControlId
    this.nextControlId = id === 0xffff ? 1 : id + 1
    return id
  }

  /** Runs `send`, then waits (bounded by `signal`) for the control packet `key` and checks it. */
  private async waitFor (key: string, signal: AbortSignal, send: () => void, check: (packet: mqtt.Packet) => void): Promise<void> {
    const packet = await new Promise<mqtt.Packet>((resolve, reject) => {
      const cleanup = (): void => {
        this.pendingControl.delete(key)
        signal.removeEventListener('abort', onAbort)
      }
      const onAbort = (): void => { cleanup(); reject(new BenchTimeoutError(`no ${key.split(':')[0] ?? key} before the deadline`)) }
      if (signal.aborted) { onAbort(); return }
      signal.addEventListener('abort', onAbort)
      this.pendingControl.set(key, {
        settle: (packet) => { cleanup(); resolve(packet) },
        fail: (err) => { cleanup(); reject(err) }
      })
      send()
    })
    check(packet)
  }
}
