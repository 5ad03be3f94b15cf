/**
 * What every listener does with its connections once a byte stream is open, whatever the
 * transport: wraps the stream in a Connection, validates its CONNECT, asks the authenticator and
 * hands accepted clients to the client registry; one timer sweeps the listener's connections for
 * keepalive and connect timeouts (cheaper than a timer per connection).
 */
import type { IConnectPacket } from 'mqtt-packet'
import { Connection, type ConnectionOptions } from './connection.js'
import type { ByteStream } from './byte-stream.js'
import { validateConnect } from '../core/channel/connect.js'
import { refuseConnack } from '../core/channel/connack.js'
import { idleVerdict } from '../core/channel/keepalive.js'
import { ReasonCode } from '../core/mqtt/reason-codes.js'
import type { BrokerConfig } from '../core/config/config.js'
import type { Logger } from '../core/log.js'
import type { ConnectRequest } from '../core/channel/connect.js'
import type { ClientLink } from '../core/channel/client-link.js'
import { AuthRefusals } from './auth-refusals.js'
import { ConnectionLimit } from './connection-limit.js'
import { metrics } from '../core/metrics.js'
import { ALLOW_ALL, type Authenticator, type Credentials, type TransportInfo } from '../core/auth/identity.js'

const SWEEP_INTERVAL_MS = 500

/** What every listener is built with. */
export interface ListenerOptions {
  config: BrokerConfig
  node: string
  log: Logger
  /** Takes a client whose CONNECT was accepted (the client registry, in the broker). */
  onClient: (request: ConnectRequest, connection: ClientLink) => void
  /** Checks each accepted CONNECT's credentials. Default: everyone is let in. */
  authenticator?: Authenticator
  /** The node's bound on open connections, shared by its listeners. Default: `mqtt.maxConnections` for this listener alone. */
  connectionLimit?: ConnectionLimit
}

export class ClientAdmission {
  private readonly connections = new Set<Connection>()
  private sweeper: NodeJS.Timeout | undefined
  private readonly connectionOptions: ConnectionOptions
  private readonly authRefusals: AuthRefusals
  private readonly limit: ConnectionLimit

  constructor (private readonly options: ListenerOptions, private readonly log: Logger) {
    this.authRefusals = new AuthRefusals(log)
    const limit = this.limit = options.connectionLimit ?? new ConnectionLimit(options.config.mqtt.maxConnections, log)
    this.connectionOptions = {
      maxPacketSize: options.config.mqtt.maxPacketSize,
      writeHighWaterMark: options.config.mqtt.outgoingHighWaterBytes,
      maxOutgoingBytes: options.config.mqtt.maxOutgoingBytes,
      onConnect: (conn, packet) => { void this.onConnect(conn, packet) },
      transport: { listener: 'unbound', secure: false },
      log,
      onClosed: connection => {
        this.connections.delete(connection)
        limit.release()
      }
    }
  }

  get connectionCount (): number { return this.connections.size }

  /** Starts the keepalive / connect-timeout sweep; `transport` names the listener now that its port is known. */
  start (transport: TransportInfo): void {
    this.connectionOptions.transport = transport
    this.sweeper = setInterval(() => { this.sweep() }, SWEEP_INTERVAL_MS)
    this.sweeper.unref()
  }

  /**
   * A stream the listener opened: its bytes are MQTT from here on. `transport`: this client's own
   * (with its TLS certificate); by default the listener's. Past `mqtt.maxConnections` the stream is
   * destroyed at once (undefined).
   */
  admit (stream: ByteStream, transport?: TransportInfo): Connection | undefined {
    if (!this.limit.take(this.connectionOptions.transport.listener)) {
      stream.destroy()
      return undefined
    }
    const connection = new Connection(stream, this.connectionOptions, transport)
    this.connections.add(connection)
    return connection
  }

  /** Stops the sweep and destroys every connection (server shutdown). */
  stop (): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper)
    this.authRefusals.flush()
    this.limit.flush()
    for (const connection of this.connections) connection.destroy('server_shutdown')
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
