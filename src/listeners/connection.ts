/**
 * One client's connection (like `emqx_connection`) over a byte stream (TCP, TLS or WebSocket):
 * frames and decodes incoming bytes, hands packets to the connect handler and then to the
 * client's session actor, and writes outgoing packets coalesced into one stream write per
 * event-loop turn. It holds no session state.
 */
import type { ByteStream } from './byte-stream.js'
import mqtt, { type Packet, type IConnectPacket, type IDisconnectPacket, type IPublishPacket } from 'mqtt-packet'
import { FrameSplitter, PacketTooLargeError, splitWholeFrames } from '../core/mqtt/frame-splitter.js'
import { checkInboundFrame, connectProtocol, type PacketViolation } from '../core/mqtt/inbound-checks.js'
import { decodePublish } from '../core/mqtt/publish-codec.js'
import { decodeSubscribe } from '../core/mqtt/subscribe-codec.js'
import { PacketDecodeError } from '../core/mqtt/wire-reader.js'
import type { InboundPacket } from '../core/channel/handle-packet.js'
import type { ClientLink, CloseReason, ConnectionEvents, DisconnectNotice, LinkSettings } from '../core/channel/client-link.js'
import { packetOrder, type ConnectionPhase, type PacketOrder } from '../core/channel/packet-order.js'
import type { IdleState } from '../core/channel/keepalive.js'
import { ReasonCode } from '../core/mqtt/reason-codes.js'
import { metrics } from '../core/metrics.js'
import type { Logger } from '../core/log.js'
import type { TransportInfo } from '../core/auth/identity.js'

export interface ConnectionOptions {
  maxPacketSize: number
  /**
   * Above this many buffered outgoing bytes the client is a slow consumer: no PUBLISH is written
   * to it (QoS 0 is dropped, QoS 1/2 wait in the session queue) until the buffer drains.
   */
  writeHighWaterMark: number
  /**
   * Bytes that may be written while the buffer is past the high-water mark (acks, SUBACK, … are
   * not held back); beyond them the connection is closed with Quota exceeded.
   */
  maxOutgoingBytes: number
  onConnect: (connection: Connection, packet: IConnectPacket) => void
  /** The listener's transport (its certificate, on TLS, is added per connection). */
  transport: TransportInfo
  log: Logger
  /** Told when the connection's stream has closed (the listener forgets it). */
  onClosed: (connection: Connection) => void
}

let nextConnectionId = 1

const ACK_HEADERS = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 } as const
const PINGRESP = Buffer.from([0xd0, 0x00])
const CONNACK_HEADER = 0x20
/** Packet types decoded here rather than by mqtt-packet (publish-codec.ts, subscribe-codec.ts). */
const PUBLISH = 3
const SUBSCRIBE = 8

/**
 * The 4-byte acknowledgements (success, no properties: the reason code may be omitted in v5
 * [MQTT-3.4.2-1 §3.4.2.1]), PINGRESP and the MQTT 3.1/3.1.1 CONNACK (§3.2) without going through
 * mqtt-packet, whose generator builds about 1 KB of short-lived objects per CONNACK (measured with
 * V8's sampling heap profiler over 3,000 connects): garbage that a connect storm promotes.
 */
function fastEncode (packet: Packet, protocolVersion: 3 | 4 | 5): Buffer | undefined {
  switch (packet.cmd) {
    case 'connack':
      if (protocolVersion === 5 || packet.returnCode === undefined) return undefined
      return Buffer.from([CONNACK_HEADER, 2, packet.sessionPresent ? 1 : 0, packet.returnCode])
    case 'puback': case 'pubrec': case 'pubrel': case 'pubcomp': {
      if ((packet.reasonCode ?? 0) !== 0 || packet.properties !== undefined) return undefined
      const id = packet.messageId ?? 0
      return Buffer.from([ACK_HEADERS[packet.cmd], 2, id >> 8, id & 0xff])
    }
    case 'pingresp':
      return PINGRESP
    default:
      return undefined
  }
}

/**
 * Decodes one whole frame with mqtt-packet. The frame splitter hands over complete packets only,
 * so parsers hold no state between calls and are shared by all connections: one for CONNECT and
 * one per protocol version (a parser takes its version from the CONNECT it parsed, or its options).
 */
class FrameDecoder {
  private decoded: Packet | undefined
  private error: Error | undefined
  private parser!: ReturnType<typeof mqtt.parser>

  constructor (private readonly protocolVersion?: number) {
    this.renew()
  }

  decode (frame: Buffer): Packet | Error {
    this.decoded = undefined
    this.error = undefined
    return this.outcome(this.parser.parse(frame))
  }

  /** What the parser's callbacks reported for the frame just parsed; `left`: bytes it did not consume. */
  private outcome (left: number): Packet | Error {
    const packet = this.decoded
    if (this.error !== undefined || packet === undefined || left !== 0) {
      // mqtt-packet cannot fully reset a parser after an error (its read position survives):
      // the next frame gets a fresh one.
      this.renew()
      return this.error ?? new Error('packet shorter than its frame')
    }
    return packet
  }

  private renew (): void {
    this.parser = mqtt.parser(this.protocolVersion === undefined ? undefined : { protocolVersion: this.protocolVersion })
    this.parser.on('packet', (packet: Packet) => { this.decoded = packet })
    this.parser.on('error', (err: Error) => { this.error ??= err })
  }
}

// mqtt-packet's generator otherwise builds, on its first packet, a 2-byte Buffer for each of the
// 65,536 packet ids: about 3 MB of heap for the packets left to it (CONNACK, SUBACK, …; PUBLISH and
// the acks have their own encoders), measured per connection by the idle bench.
mqtt.writeToStream.cacheNumbers = false

const connectDecoder = new FrameDecoder()
const decoders = { 3: new FrameDecoder(3), 4: new FrameDecoder(4), 5: new FrameDecoder(5) }
/** mqtt-packet's generate options per protocol version, shared by all connections. */
const generateOptions = { 3: { protocolVersion: 3 }, 4: { protocolVersion: 4 }, 5: { protocolVersion: 5 } } as const

/**
 * The stream's listeners are these shared functions (the stream is `this`), which find their
 * connection in a property of the stream: no closures made per connection.
 */
const CONNECTION = Symbol('meshmq.connection')
type OwnedStream = ByteStream & { [CONNECTION]: Connection }

function onStreamData (this: OwnedStream, chunk: Buffer): void { this[CONNECTION].onData(chunk) }
function onStreamError (this: OwnedStream): void { this[CONNECTION].closeReason ??= 'socket_error' }
function onStreamClose (this: OwnedStream): void { this[CONNECTION].onClose() }
function onStreamDrain (this: OwnedStream): void { this[CONNECTION].onDrain() }

/** Connections with bytes queued this turn, written in one microtask (one stream write each). */
let toFlush: Connection[] = []

function flushAll (): void {
  const connections = toFlush
  toFlush = []
  for (const connection of connections) connection.flush()
}

export class Connection implements ClientLink, IdleState {
  readonly id = nextConnectionId++
  phase: ConnectionPhase = 'awaiting_connect'
  protocolVersion: 3 | 4 | 5 = 4
  /** Largest packet the client accepts, set by the session at attach [MQTT-3.1.2-24]. */
  private maxPacketSize = 268435460
  /** Keepalive timeout in ms, set by the session at attach; 0 = none. */
  private keepaliveMs = 0
  /** When the client's credentials expire, set by the session at attach; the listener's sweep closes the connection then. */
  authExpiresAt: number | undefined
  lastActivity = Date.now()
  readonly openedAt = Date.now()
  closeReason: CloseReason | undefined
  /** `address:port`, read from the stream on first use (logs) and kept. */
  private peer: string | undefined
  readonly transport: TransportInfo
  private session: ConnectionEvents | undefined
  /** Packets that arrived between CONNECT and the session's attach; created when one does. */
  private pendingPackets: InboundPacket[] | undefined
  /**
   * Holds an incomplete frame between chunks; created when a chunk first ends inside a frame and
   * kept from then on (a connection with traffic), so an idle client whose packets come whole has none.
   */
  private splitter: FrameSplitter | undefined
  /** Bytes queued this turn; created when there are some. */
  private out: Buffer[] | undefined
  private outBytes = 0
  /** Bytes written since the buffer went past the high-water mark; 0 while it is below. */
  private bytesWhileCongested = 0
  /** `congested` was found true: the session gets a `writable` event when the socket drains. */
  private drainWanted = false

  /** `transport`: the listener's, or this client's own (with its TLS certificate). */
  constructor (readonly stream: ByteStream, private readonly options: ConnectionOptions, transport: TransportInfo = options.transport) {
    this.transport = transport
    this.splitter = undefined
    ;(stream as OwnedStream)[CONNECTION] = this
    stream.on('data', onStreamData)
    stream.on('error', onStreamError)
    stream.on('close', onStreamClose)
    metrics.connectionsAccepted++
  }

  get remoteAddress (): string {
    this.peer ??= `${this.stream.remoteAddress ?? '?'}:${this.stream.remotePort ?? 0}`
    return this.peer
  }

  get connected (): boolean { return this.phase === 'connected' }

  get keepaliveTimeoutMs (): number { return this.keepaliveMs }

  /** Bytes waiting to be written: those of this turn and those in the socket's buffer. */
  private get bufferedBytes (): number {
    return this.stream.writableLength + this.outBytes
  }

  /**
   * Whether the outgoing buffer is past the high-water mark (slow consumer). When it is, the
   * session gets a `writable` event once the socket has drained.
   */
  get congested (): boolean {
    if (this.bufferedBytes <= this.options.writeHighWaterMark) return false
    if (!this.drainWanted) {
      // Listened for only while wanted: an idle connection carries no drain listener.
      this.drainWanted = true
      this.stream.once('drain', onStreamDrain)
    }
    return true
  }

  /** Called by the session actor once it owns this connection; flushes packets that arrived meanwhile. */
  attach (settings: LinkSettings, session: ConnectionEvents): void {
    this.maxPacketSize = settings.maxPacketSize
    this.keepaliveMs = settings.keepaliveTimeoutMs
    this.authExpiresAt = settings.authExpiresAt
    if (this.phase === 'closed') {
      session.connectionEvent({ type: 'closed', connectionId: this.id, reason: this.closeReason ?? 'peer_closed' })
      return
    }
    this.session = session
    this.phase = 'connected'
    const packets = this.pendingPackets
    if (packets !== undefined) {
      this.pendingPackets = undefined
      session.connectionEvent({ type: 'packets', connectionId: this.id, packets })
    }
  }

  setProtocolVersion (version: 3 | 4 | 5): void {
    this.protocolVersion = version
  }

  private get generateOpts (): { protocolVersion: number } {
    return generateOptions[this.protocolVersion]
  }

  /** Encodes and queues a packet; returns false when it was not sent (too large for the client, or closed). */
  send (packet: Packet): boolean {
    if (this.phase === 'closed') return false
    return this.sendBytes(fastEncode(packet, this.protocolVersion) ?? mqtt.generate(packet, this.generateOpts))
  }

  /**
   * Queues already-encoded packet bytes, written with the others of this turn in one socket write.
   * A client that does not read gets no PUBLISH past the high-water mark (the session asks
   * `congested`), but acks and other replies still go; once those exceed `maxOutgoingBytes` the
   * connection is closed (v5: DISCONNECT 0x97 Quota exceeded) instead of buffering without bound.
   */
  sendBytes (bytes: Buffer): boolean {
    if (this.phase === 'closed') return false
    if (bytes.length > this.maxPacketSize) return false
    if (this.bufferedBytes > this.options.writeHighWaterMark) {
      this.bytesWhileCongested += bytes.length
      if (this.bytesWhileCongested > this.options.maxOutgoingBytes) {
        this.closeOutgoingFull()
        return false
      }
    } else {
      this.bytesWhileCongested = 0
    }
    this.push(bytes)
    return true
  }

  /**
   * Coalesces the writes of one turn, but at most up to the high-water mark: the actors may run
   * many messages in one turn, and bytes held here past the mark would read as a congested socket
   * (`congested`, `sendBytes`) while the socket may be taking everything.
   */
  private push (bytes: Buffer): void {
    if (this.out === undefined) {
      this.out = [bytes]
      if (toFlush.length === 0) queueMicrotask(flushAll)
      toFlush.push(this)
    } else {
      this.out.push(bytes)
    }
    this.outBytes += bytes.length
    // Written at once past the mark; flushAll then finds nothing left here.
    if (this.outBytes >= this.options.writeHighWaterMark) this.flush()
  }

  private closeOutgoingFull (): void {
    metrics.connectionsClosedOutgoingFull++
    this.options.log.warn({ remote: this.remoteAddress, buffered_bytes: this.bufferedBytes, limit: this.options.maxOutgoingBytes }, 'outgoing_buffer_full')
    this.close('outgoing_buffer_full', { reasonCode: ReasonCode.QuotaExceeded })
  }

  /** @internal The stream drained (onStreamDrain). */
  onDrain (): void {
    this.drainWanted = false
    if (this.phase !== 'connected' || this.session === undefined) return
    this.session.connectionEvent({ type: 'writable', connectionId: this.id })
  }

  /** @internal Writes the bytes queued this turn in one stream write (flushAll, close). */
  flush (): void {
    const out = this.out
    if (out === undefined) return
    const data = out.length === 1 ? out[0]! : Buffer.concat(out, this.outBytes)
    this.out = undefined
    metrics.bytesSent += this.outBytes
    this.outBytes = 0
    if (!this.stream.destroyed) this.stream.write(data)
  }

  /**
   * Closes the connection. With `disconnect` (v5 only) a DISCONNECT with that reason code is sent
   * first [MQTT-4.13.2-1]; pending writes are flushed before the socket ends.
   */
  close (reason: CloseReason, disconnect?: DisconnectNotice): void {
    if (this.phase === 'closed') return
    this.closeReason ??= reason
    if (disconnect !== undefined && this.protocolVersion === 5 && this.phase !== 'awaiting_connect') {
      const packet: IDisconnectPacket = { cmd: 'disconnect', reasonCode: disconnect.reasonCode }
      if (disconnect.reasonString !== undefined) packet.properties = { reasonString: disconnect.reasonString }
      // Past the outgoing bounds too: the DISCONNECT is the last packet.
      const bytes = mqtt.generate(packet, this.generateOpts)
      if (bytes.length <= this.maxPacketSize) this.push(bytes)
    }
    this.phase = 'closed'
    this.flush()
    this.stream.end()
    const timer = setTimeout(() => this.stream.destroy(), 2000)
    timer.unref()
    this.stream.once('close', () => clearTimeout(timer))
  }

  /** Closes with an abrupt socket destroy (no flush), e.g. on server shutdown. */
  destroy (reason: CloseReason): void {
    this.closeReason ??= reason
    this.phase = 'closed'
    this.stream.destroy()
  }

  /** @internal Bytes from the stream (onStreamData). */
  onData (chunk: Buffer): void {
    if (this.phase === 'closed') return
    metrics.bytesReceived += chunk.length
    this.lastActivity = Date.now()
    const batch: InboundPacket[] = []
    const onFrame = (frame: Buffer): void => {
      if (this.phase === 'closed') return
      const packet = this.decode(frame)
      if (packet !== undefined) batch.push(packet)
    }
    try {
      const splitter = this.splitter
      if (splitter !== undefined) {
        splitter.push(chunk, onFrame)
      } else {
        const rest = splitWholeFrames(chunk, this.options.maxPacketSize, onFrame)
        if (rest !== undefined) (this.splitter = new FrameSplitter(this.options.maxPacketSize)).push(rest, onFrame)
      }
    } catch (err) {
      if (err instanceof PacketTooLargeError) {
        this.options.log.info({ remote: this.remoteAddress, size: err.size, limit: err.limit }, 'packet_too_large')
        this.close('packet_too_large', { reasonCode: ReasonCode.PacketTooLarge })
      } else {
        this.options.log.info({ remote: this.remoteAddress, err: (err as Error).message }, 'malformed_packet')
        this.close('malformed_packet', { reasonCode: ReasonCode.MalformedPacket })
      }
    }
    if (batch.length === 0) return
    metrics.packetsReceived += batch.length
    if (this.session !== undefined) {
      this.session.connectionEvent({ type: 'packets', connectionId: this.id, packets: batch })
    } else if (this.pendingPackets === undefined) {
      this.pendingPackets = batch
    } else {
      for (const packet of batch) this.pendingPackets.push(packet)
    }
  }

  /** Decodes one frame; closes the connection and returns undefined on bad input. */
  private decode (frame: Buffer): InboundPacket | undefined {
    const type = frame[0]! >> 4
    const order = packetOrder(this.phase, type)
    if (order === 'packet' && (type === PUBLISH || type === SUBSCRIBE)) {
      try {
        if (type === PUBLISH) return decodePublish(frame, this.protocolVersion)
        // A SUBSCRIBE with MQTT 5 properties goes the general way below.
        const subscribe = decodeSubscribe(frame, this.protocolVersion)
        if (subscribe !== undefined) return subscribe
      } catch (err) {
        const reasonCode = err instanceof PacketDecodeError ? err.reasonCode : ReasonCode.MalformedPacket
        this.closeOnViolation(order, frame, { reasonCode, reason: (err as Error).message })
        return undefined
      }
    }
    if (order === 'second_connect') {
      // A second CONNECT is a protocol violation [MQTT-3.1.0-2]; it is not decoded, as decoding a
      // CONNECT would switch the shared parser's protocol version.
      this.options.log.info({ remote: this.remoteAddress }, 'second_connect')
      this.close('protocol_error', { reasonCode: ReasonCode.ProtocolError })
      return undefined
    }
    if (order === 'connect' && this.refuseProtocolLevel(frame)) return undefined
    if (order !== 'first_packet_not_connect') {
      // What mqtt-packet lets through: ill-formed UTF-8, packet identifier 0, empty SUBSCRIBE, … (inbound-checks.ts).
      const violation = checkInboundFrame(frame, this.protocolVersion)
      if (violation !== undefined) {
        this.closeOnViolation(order, frame, violation)
        return undefined
      }
    }
    const packet = (order === 'packet' ? decoders[this.protocolVersion] : connectDecoder).decode(frame)
    if (packet instanceof Error) {
      this.closeOnViolation(order, frame, { reasonCode: ReasonCode.MalformedPacket, reason: packet.message })
      return undefined
    }
    if (order === 'first_packet_not_connect') {
      // The first packet from the client must be CONNECT [MQTT-3.1.0-1].
      this.options.log.info({ remote: this.remoteAddress, cmd: packet.cmd }, 'first_packet_not_connect')
      this.close('protocol_error')
      return undefined
    }
    if (packet.cmd === 'connect') {
      metrics.packetsReceived++
      this.phase = 'connecting'
      this.setProtocolVersion(packet.protocolVersion ?? 4)
      this.options.onConnect(this, packet)
      return undefined
    }
    // PUBLISH frames never reach mqtt-packet once connected (decoded above).
    return packet as Exclude<Packet, IPublishPacket>
  }

  /**
   * Closes the connection on a Malformed Packet or Protocol Error. A v5 client is told the reason
   * code first: in a DISCONNECT [MQTT-4.13.1-1], or for its CONNECT in a CONNACK, which the server
   * may send before closing [MQTT-3.1.4-1]. A 3.1.1 client sees the close [MQTT-4.8.0-1], without
   * a CONNACK for its CONNECT [MQTT-3.1.4-1].
   */
  private closeOnViolation (order: PacketOrder, frame: Buffer, violation: PacketViolation): void {
    const protocolError = violation.reasonCode === ReasonCode.ProtocolError
    this.options.log.info({ remote: this.remoteAddress, err: violation.reason, reason_code: violation.reasonCode }, protocolError ? 'protocol_error' : 'malformed_packet')
    const reason: CloseReason = protocolError ? 'protocol_error' : 'malformed_packet'
    if (order === 'connect') {
      const protocol = connectProtocol(frame)
      if (protocol?.name === 'MQTT' && protocol.level === 5) this.sendBytes(Buffer.from([0x20, 0x03, 0x00, violation.reasonCode, 0x00]))
      this.close(reason)
      return
    }
    this.close(reason, { reasonCode: violation.reasonCode, reasonString: violation.reason })
  }

  /**
   * A CONNECT with a protocol name we know but a level we do not gets CONNACK 0x01 before the
   * close [MQTT-3.1.2-2]. mqtt-packet would refuse it without a word, or take levels 131 and 132
   * as a mosquitto bridge (not supported here), so the level is read first.
   */
  private refuseProtocolLevel (frame: Buffer): boolean {
    const protocol = connectProtocol(frame)
    if (protocol === undefined || (protocol.name !== 'MQTT' && protocol.name !== 'MQIsdp')) return false
    const { level } = protocol
    if (level === 3 || level === 4 || level === 5) return false
    this.options.log.info({ remote: this.remoteAddress, level }, 'unsupported_protocol_version')
    this.sendBytes(Buffer.from([0x20, 0x02, 0x00, 0x01]))
    this.close('connect_refused')
    return true
  }

  /** @internal The stream closed (onStreamClose). */
  onClose (): void {
    const wasConnected = this.phase === 'connected'
    this.phase = 'closed'
    this.closeReason ??= 'peer_closed'
    this.options.onClosed(this)
    if (this.session !== undefined) {
      this.session.connectionEvent({ type: 'closed', connectionId: this.id, reason: this.closeReason })
    }
    if (wasConnected || this.session !== undefined) this.session = undefined
  }
}
