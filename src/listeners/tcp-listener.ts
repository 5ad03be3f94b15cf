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
import { AuthRefusals } from './auth-refusals.js'
import { metrics } from '../core/metrics.js'
import { ALLOW_ALL, plainTransport, type Authenticator, type Credentials } from '../core/auth/identity.js'

const SWEEP_INTERVAL_MS = 500

export interface ListenerOptions {
  config: BrokerConfig
  node: string
  log: Logger
  /** Takes a client whose CONNECT was accepted (the client registry, in the broker). */
  onClient: (request: ConnectRequest, connection: ClientLink) => void
  /** Checks each accepted CONNECT's credentials. Default: everyone is let in. */
  authenticator?: Authenticator
}

export class MqttListener {
  private readonly server: net.Server
  private readonly connections = new Set<Connection>()
  private sweeper: NodeJS.Timeout | undefined
  private readonly log: Logger
  private readonly authRefusals: AuthRefusals
  /** Shared by every connection. */
  private readonly connectionOptions: ConnectionOptions

  constructor (private readonly options: ListenerOptions) {
    this.log = options.log.child({ actor: 'listener' })
    this.authRefusals = new AuthRefusals(this.log)
    this.connectionOptions = {
      maxPacketSize: options.config.mqtt.maxPacketSize,
      writeHighWaterMark: options.config.mqtt.outgoingHighWaterBytes,
      maxOutgoingBytes: options.config.mqtt.maxOutgoingBytes,
      onConnect: (conn, packet) => { void this.onConnect(conn, packet) },
      transport: plainTransport(`tcp:${options.config.listener.port}`),
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
    this.authRefusals.flush()
    for (const connection of this.connections) connection.destroy('server_shutdown')
    await new Promise<void>(resolve => this.server.close(() => resolve()))
  }

  private accept (socket: net.Socket): void {
    // TCP keepalive probes find a peer that vanished without a FIN or RST (a half-open socket),
    // also when its MQTT keepalive is 0.
    const keepAliveMs = this.options.config.listener.tcpKeepAliveMs
    if (keepAliveMs > 0) socket.setKeepAlive(true, keepAliveMs)
    const connection = new Connection(socket, this.connectionOptions)
    this.connections.add(connection)
    socket.once('close', () => this.connections.delete(connection))
  }

  private async onConnect (connection: Connection, packet: IConnectPacket): Promise<void> {
    const decision = validateConnect(packet, this.options.config, this.options.node)
    if (!decision.ok) {
      this.log.info({ remote: connection.remoteAddress, clientid: packet.clientId.slice(0, 256), reason: decision.reason, reason_code: decision.reasonCode }, 'connect_refused')
      // A refused CONNECT gets a CONNACK with the reason, then the connection closes [MQTT-3.2.2-5];
      // an MQTT 3.1.1 refusal without a return code for it closes at once [MQTT-3.2.2-6].
      if (decision.connack) connection.send(refuseConnack(connection.protocolVersion, decision.reasonCode))
      connection.close('connect_refused')
      return
    }
    const { request } = decision
    const credentials: Credentials = { clientId: request.clientId, protocolVersion: request.protocolVersion, transport: connection.transport }
    if (request.username !== undefined) credentials.username = request.username
    if (packet.password !== undefined) credentials.password = packet.password
    const verdict = await (this.options.authenticator ?? ALLOW_ALL).authenticate(credentials)
    if (connection.phase === 'closed') return
    if (!verdict.ok) {
      const reasonCode = verdict.refusal === 'bad_credentials' ? ReasonCode.BadUserNameOrPassword : ReasonCode.NotAuthorized
      this.authRefusals.record({ remote: connection.remoteAddress, clientid: request.clientId.slice(0, 256), username: request.username?.slice(0, 256), reason: verdict.reason, reason_code: reasonCode })
      // Bad credentials: CONNACK 0x86 (v5) / 0x04 (v3.1.1); not authorized: 0x87 / 0x05 [MQTT-3.2.2-5].
      connection.send(refuseConnack(connection.protocolVersion, reasonCode))
      connection.close('not_authorized')
      return
    }
    request.identity = verdict.identity
    if (verdict.expiresAt !== undefined) request.authExpiresAt = verdict.expiresAt
    this.options.onClient(request, connection)
  }

  /**
   * Closes connections past their keepalive (1.5 × keepalive) [MQTT-3.1.2-24], idle past
   * `mqtt.maxIdleWithoutKeepaliveMs` with keepalive 0, past the connect timeout, or past the
   * expiry of their credentials (logged `auth_expired`).
   */
  private sweep (): void {
    const now = Date.now()
    const limits = { connectTimeoutMs: this.options.config.mqtt.connectTimeoutMs, maxIdleWithoutKeepaliveMs: this.options.config.mqtt.maxIdleWithoutKeepaliveMs }
    for (const connection of this.connections) {
      const verdict = idleVerdict(connection, limits, now)
      if (verdict === undefined) continue
      this.log.info({ remote: connection.remoteAddress }, verdict)
      if (verdict === 'connect_timeout') {
        connection.close('connect_timeout')
      } else if (verdict === 'auth_expired') {
        // As EMQX when a client's credentials expire (emqx_channel.erl, `connection_auth_expire`
        // timeout: DISCONNECT ?RC_NOT_AUTHORIZED): v5 gets DISCONNECT 0x87, v3.1.1 the close.
        metrics.connectionsAuthExpired++
        connection.close('auth_expired', { reasonCode: ReasonCode.NotAuthorized })
      } else {
        connection.close(verdict, { reasonCode: ReasonCode.KeepAliveTimeout })
      }
    }
  }
}
