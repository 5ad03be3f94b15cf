/**
 * The MQTT listener on TLS (`node:tls`): a TLS socket is a Connection's byte stream as it is.
 * With a `caFile` clients are asked for a certificate; a verified one names the client to the
 * authenticator (`TransportInfo.certificate`). Failed handshakes are logged, throttled, and touch
 * no other client.
 */
import tls from 'node:tls'
import { ClientAdmission, type ListenerOptions } from './client-admission.js'
import { bind, boundPort, listenerName, RawSockets, type MqttListener } from './listener.js'
import { reloadServerCertificates, serverTlsOptions, tlsTransport } from './tls-options.js'
import type { ListenerConfig } from '../core/config/schema.js'
import type { Logger } from '../core/log.js'
import type { TransportInfo } from '../core/auth/identity.js'
import { ThrottledLogEvent } from '../core/log-throttle.js'

export class TlsListener implements MqttListener {
  readonly type = 'tls'
  readonly host: string
  private server: tls.Server | undefined
  private sockets: RawSockets | undefined
  private readonly admission: ClientAdmission
  private readonly log: Logger
  private readonly handshakeFailures: ThrottledLogEvent
  private transport: TransportInfo = { listener: 'tls', secure: true }

  constructor (private readonly options: ListenerOptions, private readonly entry: ListenerConfig) {
    this.host = entry.host ?? '0.0.0.0'
    this.log = options.log.child({ actor: 'listener', listener: listenerName('tls', entry.port) })
    this.admission = new ClientAdmission(options, this.log)
    this.handshakeFailures = new ThrottledLogEvent(line => { this.log.info(line, 'tls_handshake_failed') })
  }

  get port (): number { return this.server === undefined ? 0 : boundPort(this.server) }

  get name (): string { return listenerName('tls', this.port === 0 ? this.entry.port : this.port) }

  get connectionCount (): number { return this.admission.connectionCount }

  /** Reads the certificate files and binds. */
  async listen (signal?: AbortSignal): Promise<void> {
    const { config } = this.options
    const secure = await serverTlsOptions(this.entry, this.name, config.mqtt.connectTimeoutMs)
    const server = tls.createServer({ ...secure, noDelay: true }, socket => {
      this.admission.admit(socket, tlsTransport(this.transport, socket))
    })
    server.on('tlsClientError', (err, socket) => {
      this.handshakeFailures.add({ count: 1 }, { remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`, err: err.message })
    })
    this.sockets = new RawSockets(server, config.listener.tcpKeepAliveMs)
    this.server = server
    await bind(server, this.host, this.entry.port, signal)
    this.transport = { listener: this.name, secure: true }
    this.admission.start(this.transport)
  }

  async reloadCertificates (): Promise<void> {
    if (this.server !== undefined) await reloadServerCertificates(this.server, this.entry, this.name)
  }

  async close (): Promise<void> {
    this.admission.stop()
    this.handshakeFailures.flush()
    if (this.server !== undefined && this.sockets !== undefined) await this.sockets.closeServer(this.server)
  }
}
