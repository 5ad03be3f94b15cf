/**
 * The MQTT TCP listener: accepts sockets, wraps each in a Connection, validates CONNECT and hands
 * accepted clients to the client registry; one timer sweeps all connections for keepalive and
 * connect timeouts (cheaper than a timer per connection).
 */
import net from 'node:net'
import type { IConnectPacket } from 'mqtt-packet'
import { Connection, type ConnectionOptions } from './connection.js'
import { validateConnect } from '../core/channel/connect.js'
import { refuseConnack } from '../core/channel/connack.js'
import { idleVerdict } from '../core/channel/keepalive.js'
import { ReasonCode } from '../core/mqtt/reason-codes.js'
import type { BrokerConfig } from '../core/config/config.js'
import type { Logger } from '../core/log.js'
import type { ConnectRequest } from '../core/channel/connect.js'
import type { ClientLink } from '../core/channel/client-link.js'

const SWEEP_INTERVAL_MS = 500

export interface ListenerOptions {
  config: BrokerConfig
  node: string
  log: Logger
  /** Takes a client whose CONNECT was accepted (the client registry, in the broker). */
  onClient: (request: ConnectRequest, connection: ClientLink) => void
}

export class MqttListener {
  private readonly server: net.Server
  private readonly connections = new Set<Connection>()
  private sweeper: NodeJS.Timeout | undefined
  private readonly log: Logger
  /** Shared by every connection. */
  private readonly connectionOptions: ConnectionOptions

  constructor (private readonly options: ListenerOptions) {
    this.log = options.log.child({ actor: 'listener' })
    this.connectionOptions = {
      maxPacketSize: options.config.mqtt.maxPacketSize,
      writeHighWaterMark: options.config.mqtt.outgoingHighWaterBytes,
      maxOutgoingBytes: options.config.mqtt.maxOutgoingBytes,
      onConnect: (conn, packet) => this.onConnect(conn, packet),
      log: this.log
    }
    this.server = net.createServer({ noDelay: true }, socket => this.accept(socket))
  }

  get port (): number {
    const address = this.server.address()
    return typeof address === 'object' && address !== null ? address.port : 0
  }

  get connectionCount (): number { return this.connections.size }

  async listen (signal?: AbortSignal): Promise<void> {
    const { host, port } = this.options.config.listener
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err)
      this.server.once('error', onError)
      this.server.listen({ host, port, backlog: 4096, signal }, () => {
        this.server.off('error', onError)
        resolve()
      })
    })
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS)
    this.sweeper.unref()
    this.log.info({ host, port: this.port }, 'listener_started')
  }

  async close (): Promise<void> {
    if (this.sweeper !== undefined) clearInterval(this.sweeper)
    for (const connection of this.connections) connection.destroy('server_shutdown')
    await new Promise<void>(resolve => this.server.close(() => resolve()))
  }

  private accept (socket: net.Socket): void {
    const connection = new Connection(socket, this.connectionOptions)
    this.connections.add(connection)
    socket.once('close', () => this.connections.delete(connection))
  }

  private onConnect (connection: Connection, packet: IConnectPacket): void {
    const decision = validateConnect(packet, this.options.config, this.options.node)
    if (!decision.ok) {
      this.log.info({ remote: connection.remoteAddress, clientid: packet.clientId, reason: decision.reason, reason_code: decision.reasonCode }, 'connect_refused')
      // A refused CONNECT gets a CONNACK with the reason, then the connection closes [MQTT-3.2.2-5].
      connection.send(refuseConnack(connection.protocolVersion, decision.reasonCode))
      connection.close('connect_refused')
      return
    }
    this.options.onClient(decision.request, connection)
  }

  /** Closes connections past their keepalive (1.5 × keepalive) [MQTT-3.1.2-24] or connect timeout. */
  private sweep (): void {
    const now = Date.now()
    const connectTimeout = this.options.config.mqtt.connectTimeoutMs
    for (const connection of this.connections) {
      const verdict = idleVerdict(connection, connectTimeout, now)
      if (verdict === undefined) continue
      this.log.info({ remote: connection.remoteAddress }, verdict)
      if (verdict === 'connect_timeout') connection.close('connect_timeout')
      else connection.close('keepalive_timeout', { reasonCode: ReasonCode.KeepAliveTimeout })
    }
  }
}
