/**
 * A raw MQTT client on `node:net` + `mqtt-packet`, for edge cases MQTT.js hides: it sends any
 * packet or any bytes, queues what the broker sends, and waits for a packet or for the socket to
 * close — always with a timeout.
 */
import { connect as netConnect, type Socket } from 'node:net'
import mqtt, { type Packet, type PacketCmd, type IConnectPacket, type IConnackPacket } from 'mqtt-packet'
import { waitFor, WaitTimeoutError } from './wait.js'

/** A packet of the given command. */
export type PacketOf<C extends PacketCmd> = Extract<Packet, { cmd: C }>

/** The broker sent a packet other than the one the test expected (or one when it expected none). */
export class UnexpectedPacketError extends Error {
  override name = 'UnexpectedPacketError'
  constructor (readonly expected: string, readonly packet: Packet) {
    super(`expected ${expected}, got ${describePacket(packet)}`)
  }
}

/** The socket closed while the test was waiting for a packet. */
export class SocketClosedError extends Error {
  override name = 'SocketClosedError'
  constructor (readonly waitingFor: string) {
    super(`socket closed while waiting for ${waitingFor}`)
  }
}

/** The broker sent bytes the client could not decode. */
export class ServerPacketDecodeError extends Error {
  override name = 'ServerPacketDecodeError'
  constructor (cause: Error, readonly frame: Buffer) {
    super(`could not decode a packet from the broker: ${cause.message} (bytes ${frame.toString('hex').slice(0, 200)})`, { cause })
  }
}

export type ProtocolVersion = 3 | 4 | 5

export interface RawClientOptions {
  protocolVersion?: ProtocolVersion
  host?: string
  /** Bound on the TCP connect itself. */
  timeoutMs?: number
}

/** Default bound on every wait of a raw client. */
export const RAW_WAIT_MS = 2000

/** A short, readable summary of a packet for assertion messages. */
export function describePacket (packet: Packet): string {
  const { cmd } = packet
  const parts: string[] = [cmd]
  if ('reasonCode' in packet && typeof packet.reasonCode === 'number') parts.push(`reasonCode=0x${packet.reasonCode.toString(16)}`)
  if ('returnCode' in packet && typeof packet.returnCode === 'number') parts.push(`returnCode=${packet.returnCode}`)
  if (packet.cmd === 'publish') parts.push(`topic=${packet.topic}`, `qos=${packet.qos}`)
  if (packet.messageId !== undefined) parts.push(`id=${packet.messageId}`)
  return parts.join(' ')
}

/** Splits the broker's byte stream into whole packets by their fixed header (§2.1). */
class FrameReader {
  private buffer: Buffer = Buffer.alloc(0)

  push (chunk: Buffer): Buffer[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
    const frames: Buffer[] = []
    for (;;) {
      let length = 0
      let multiplier = 1
      let pos = 1
      let complete = false
      while (pos < this.buffer.length && pos <= 4) {
        const byte = this.buffer[pos++]!
        length += (byte & 0x7f) * multiplier
        multiplier *= 128
        if ((byte & 0x80) === 0) { complete = true; break }
      }
      if (!complete || this.buffer.length < pos + length) return frames
      frames.push(this.buffer.subarray(0, pos + length))
      this.buffer = this.buffer.subarray(pos + length)
    }
  }
}

interface Waiter {
  accepts: (packet: Packet) => boolean
  resolve: (packet: Packet) => void
  reject: (err: Error) => void
  what: string
}

export class RawClient {
  readonly protocolVersion: ProtocolVersion
  /** Every packet received so far, in order, with its bytes as they were on the wire. */
  readonly history: Array<{ packet: Packet, bytes: Buffer }> = []
  private readonly queue: Packet[] = []
  private readonly waiters = new Set<Waiter>()
  private readonly closeWaiters = new Set<() => void>()
  private closedFlag = false
  private decodeError: ServerPacketDecodeError | undefined
  private readonly parser: ReturnType<typeof mqtt.parser>
  private readonly frames = new FrameReader()
  private currentFrame: Buffer = Buffer.alloc(0)

  private constructor (readonly socket: Socket, protocolVersion: ProtocolVersion) {
    this.protocolVersion = protocolVersion
    this.parser = mqtt.parser({ protocolVersion })
    this.parser.on('packet', (packet: Packet) => this.onPacket(packet))
    this.parser.on('error', (err: Error) => {
      this.decodeError ??= new ServerPacketDecodeError(err, this.currentFrame)
      for (const waiter of this.waiters) waiter.reject(this.decodeError)
      this.waiters.clear()
    })
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.frames.push(chunk)) {
        this.currentFrame = frame
        this.parser.parse(frame)
      }
    })
    socket.on('error', () => { /* surfaced as a close */ })
    socket.on('close', () => this.onClose())
  }

  /** Opens a TCP connection to the broker; sends nothing yet. */
  static async open (port: number, options: RawClientOptions = {}): Promise<RawClient> {
    const socket = netConnect({ port, host: options.host ?? '127.0.0.1' })
    socket.setNoDelay(true)
    try {
      await waitFor<undefined>(`TCP connect to port ${port}`, ({ resolve, reject }) => {
        const onConnect = (): void => { resolve(undefined) }
        socket.once('connect', onConnect).once('error', reject)
        return () => { socket.off('connect', onConnect).off('error', reject) }
      }, { timeoutMs: options.timeoutMs ?? RAW_WAIT_MS })
    } catch (err) {
      socket.destroy()
      throw err
    }
    return new RawClient(socket, options.protocolVersion ?? 4)
  }

  /**
   * Opens a connection and completes the CONNECT/CONNACK handshake; the CONNACK must report success.
   * `fields` override the defaults (clean session, keepalive 0 so the broker never times the test client out).
   */
  static async connected (port: number, fields: Partial<IConnectPacket> = {}, options: RawClientOptions = {}): Promise<{ client: RawClient, connack: IConnackPacket }> {
    const version = options.protocolVersion ?? fields.protocolVersion ?? 4
    const client = await RawClient.open(port, { ...options, protocolVersion: version })
    try {
      const connack = await client.handshake(fields)
      const code = version === 5 ? connack.reasonCode : connack.returnCode
      if (code !== 0) throw new UnexpectedPacketError('a successful CONNACK', connack)
      return { client, connack }
    } catch (err) {
      client.destroy()
      throw err
    }
  }

  get isClosed (): boolean { return this.closedFlag }

  /** Builds a CONNECT for this client's protocol version with the given fields. */
  connectPacket (fields: Partial<IConnectPacket> = {}): IConnectPacket {
    return {
      cmd: 'connect',
      protocolId: this.protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: this.protocolVersion,
      clean: true,
      keepalive: 0,
      clientId: '',
      ...fields
    }
  }

  /** Sends CONNECT and returns the CONNACK, whatever its code. */
  async handshake (fields: Partial<IConnectPacket> = {}, timeoutMs = RAW_WAIT_MS): Promise<IConnackPacket> {
    this.send(this.connectPacket(fields))
    return await this.expect('connack', timeoutMs)
  }

  /** Encodes and sends a packet with this client's protocol version. */
  send (packet: Packet): void {
    this.sendBytes(mqtt.generate(packet, { protocolVersion: this.protocolVersion }))
  }

  /** Sends arbitrary bytes. Writes after close are ignored. */
  sendBytes (bytes: Uint8Array): void {
    if (this.closedFlag || this.socket.destroyed) return
    this.socket.write(bytes)
  }

  /** The next packet the broker sends (in arrival order). */
  async next (timeoutMs = RAW_WAIT_MS): Promise<Packet> {
    return await this.take(() => true, 'any packet', timeoutMs)
  }

  /** The next packet, which must be a `cmd`; any other packet fails with UnexpectedPacketError. */
  async expect<C extends PacketCmd> (cmd: C, timeoutMs = RAW_WAIT_MS): Promise<PacketOf<C>> {
    const packet = await this.next(timeoutMs)
    if (packet.cmd !== cmd) throw new UnexpectedPacketError(cmd, packet)
    return packet as PacketOf<C>
  }

  /**
   * The first queued or arriving packet that is a `cmd` and satisfies `predicate`; packets that do not
   * match stay queued for later `next`/`expect` calls.
   */
  async waitFor<C extends PacketCmd> (cmd: C, predicate: (packet: PacketOf<C>) => boolean = () => true, timeoutMs = RAW_WAIT_MS): Promise<PacketOf<C>> {
    const accepts = (p: Packet): boolean => p.cmd === cmd && predicate(p as PacketOf<C>)
    return await this.take(accepts, cmd, timeoutMs) as PacketOf<C>
  }

  /**
   * Resolves after `ms` if the broker sent no packet (or none satisfying `predicate`) and kept the
   * connection open. Fails with UnexpectedPacketError on such a packet, and with SocketClosedError
   * if the connection is or becomes closed: a dropped client receives nothing, which is no proof.
   */
  async expectSilence (ms: number, predicate: (packet: Packet) => boolean = () => true): Promise<void> {
    const what = `silence for ${ms} ms`
    let packet: Packet
    try {
      packet = await this.take(predicate, what, ms)
    } catch (err) {
      if (err instanceof WaitTimeoutError) return
      throw err
    }
    throw new UnexpectedPacketError(`no packet within ${ms} ms`, packet)
  }

  /** Resolves once the broker has closed the connection; rejects with WaitTimeoutError otherwise. */
  async closed (timeoutMs = RAW_WAIT_MS): Promise<void> {
    if (this.closedFlag) return
    await waitFor<undefined>('the broker to close the connection', ({ resolve }) => {
      const onClose = (): void => { resolve(undefined) }
      this.closeWaiters.add(onClose)
      return () => { this.closeWaiters.delete(onClose) }
    }, { timeoutMs })
  }

  /** Closes the socket abruptly, without DISCONNECT (an abnormal close for the broker). */
  destroy (): void {
    this.socket.destroy()
  }

  private async take (accepts: (packet: Packet) => boolean, what: string, timeoutMs: number): Promise<Packet> {
    const index = this.queue.findIndex(accepts)
    if (index >= 0) return this.queue.splice(index, 1)[0]!
    if (this.decodeError !== undefined) throw this.decodeError
    if (this.closedFlag) throw new SocketClosedError(what)
    return await waitFor<Packet>(what, ({ resolve, reject }) => {
      const waiter: Waiter = { accepts, resolve, reject, what }
      this.waiters.add(waiter)
      return () => { this.waiters.delete(waiter) }
    }, { timeoutMs })
  }

  private onPacket (packet: Packet): void {
    this.history.push({ packet, bytes: this.currentFrame })
    for (const waiter of this.waiters) {
      if (waiter.accepts(packet)) {
        this.waiters.delete(waiter)
        waiter.resolve(packet)
        return
      }
    }
    this.queue.push(packet)
  }

  private onClose (): void {
    this.closedFlag = true
    for (const waiter of this.waiters) waiter.reject(new SocketClosedError(waiter.what))
    this.waiters.clear()
    for (const resolve of this.closeWaiters) resolve()
    this.closeWaiters.clear()
  }
}
