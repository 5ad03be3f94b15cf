/**
 * The MQTT listener on plain TCP: each accepted socket is a Connection as it is (no adapter, no
 * copy). The default listener (`listener.*`) and `listeners` entries of type `tcp`.
 */
import net from 'node:net'
import { ClientAdmission, type ListenerOptions } from './client-admission.js'
import { bind, boundPort, listenerName, RawSockets, type MqttListener } from './listener.js'
import { plainTransport } from '../core/auth/identity.js'

export class TcpListener implements MqttListener {
  readonly type = 'tcp'
  private readonly server: net.Server
  private readonly admission: ClientAdmission
  private readonly sockets: RawSockets

  constructor (options: ListenerOptions, readonly host: string, private readonly configuredPort: number) {
    this.admission = new ClientAdmission(options, options.log.child({ actor: 'listener', listener: `tcp:${configuredPort}` }))
    this.server = net.createServer({ noDelay: true }, socket => { this.admission.admit(socket) })
    this.sockets = new RawSockets(this.server, options.config.listener.tcpKeepAliveMs)
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
    await this.sockets.closeServer(this.server)
  }
}
