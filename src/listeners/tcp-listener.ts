/**
 * The MQTT listener on plain TCP: each accepted socket is a Connection as it is (no adapter, no
 * copy). The default listener (`listener.*`) and `listeners` entries of type `tcp`. Every socket
 * becomes a Connection at once, so the admission's set of connections is the set of open sockets
 * (no second set, no second close listener per socket: RawSockets is for TLS and WebSocket).
 */
import net from 'node:net'
import { ClientAdmission, type ListenerOptions } from './client-admission.js'
import { bind, boundPort, closeServer, listenerName, tcpServerOptions, type MqttListener } from './listener.js'
import { plainTransport } from '../core/auth/identity.js'

export class TcpListener implements MqttListener {
  readonly type = 'tcp'
  private readonly server: net.Server
  private readonly admission: ClientAdmission

  constructor (options: ListenerOptions, readonly host: string, private readonly configuredPort: number) {
    this.admission = new ClientAdmission(options, options.log.child({ actor: 'listener', listener: `tcp:${configuredPort}` }))
    this.server = net.createServer(tcpServerOptions(options.config.listener.tcpKeepAliveMs), socket => { this.admission.admit(socket) })
  }

  get port (): number { return boundPort(this.server) }

  get name (): string { return listenerName('tcp', this.port === 0 ? this.configuredPort : this.port) }

  get connectionCount (): number { return this.admission.connectionCount }

  async listen (signal?: AbortSignal): Promise<void> {
    await bind(this.server, this.host, this.configuredPort, signal)
    this.admission.start(plainTransport(this.name))
  }

  async close (): Promise<void> {
    this.admission.stop()
    await closeServer(this.server)
  }
}
