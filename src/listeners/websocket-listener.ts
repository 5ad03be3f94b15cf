/**
 * The MQTT listener on WebSocket (`ws`, on a `node:http` server) and secure WebSocket (`wss`, on
 * `node:https`, with the TLS listener's options and client certificates). Upgrades are accepted on
 * the configured path only (others get 404) and only when the client offers the `mqtt`
 * subprotocol (or `mqttv3.1`, which older clients send), which is selected; each WebSocket then
 * feeds the same CONNECT handling as TCP. Bad upgrades and handshakes are logged, throttled.
 */
import http from 'node:http'
import https from 'node:https'
import type net from 'node:net'
import tls from 'node:tls'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { ClientAdmission, type ListenerOptions } from './client-admission.js'
import { bind, boundPort, listenerName, RawSockets, type MqttListener } from './listener.js'
import { reloadServerCertificates, serverTlsOptions, tlsTransport } from './tls-options.js'
import { WebSocketStream } from './websocket-stream.js'
import type { ListenerConfig } from '../core/config/schema.js'
import { DEFAULT_WEBSOCKET_PATH } from '../core/config/defaults.js'
import type { Logger } from '../core/log.js'
import type { TransportInfo } from '../core/auth/identity.js'
import { ThrottledLogEvent } from '../core/log-throttle.js'

/** Subprotocols a client may offer, in the order the server prefers them. */
export const MQTT_SUBPROTOCOLS: readonly string[] = ['mqtt', 'mqttv3.1']
/** Room over `mqtt.maxPacketSize` in one WebSocket message (a packet and the start of the next). */
const MESSAGE_SLACK_BYTES = 64 * 1024

/** The subprotocols an upgrade request offers. */
function offeredProtocols (request: http.IncomingMessage): string[] {
  const header = request.headers['sec-websocket-protocol']
  if (header === undefined) return []
  return header.split(',').map(protocol => protocol.trim()).filter(protocol => protocol !== '')
}

function pathOf (request: http.IncomingMessage): string {
  const url = request.url ?? '/'
  const query = url.indexOf('?')
  return query < 0 ? url : url.slice(0, query)
}

/** Answers an upgrade request with an HTTP error and closes its socket. */
function refuseUpgrade (socket: Duplex, status: number): void {
  socket.on('error', () => {})
  if (socket.writable) socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
  else socket.destroy()
}

export class WebSocketListener implements MqttListener {
  readonly host: string
  readonly path: string
  private server: http.Server | undefined
  private sockets: RawSockets | undefined
  private readonly webSockets: WebSocketServer
  private readonly admission: ClientAdmission
  private readonly log: Logger
  private readonly refusals: ThrottledLogEvent
  private readonly textFrames: ThrottledLogEvent
  private readonly frameErrors: ThrottledLogEvent
  private transport: TransportInfo

  constructor (private readonly options: ListenerOptions, private readonly entry: ListenerConfig & { type: 'ws' | 'wss' }) {
    this.host = entry.host ?? '0.0.0.0'
    this.path = entry.path ?? DEFAULT_WEBSOCKET_PATH
    this.transport = { listener: entry.type, secure: entry.type === 'wss' }
    this.log = options.log.child({ actor: 'listener', listener: listenerName(entry.type, entry.port, this.path) })
    this.admission = new ClientAdmission(options, this.log)
    this.refusals = new ThrottledLogEvent(line => { this.log.info(line, 'websocket_upgrade_refused') })
    this.textFrames = new ThrottledLogEvent(line => { this.log.info(line, 'websocket_text_frame') })
    this.frameErrors = new ThrottledLogEvent(line => { this.log.info(line, 'websocket_frame_refused') })
    this.webSockets = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: options.config.mqtt.maxPacketSize + MESSAGE_SLACK_BYTES,
      handleProtocols: protocols => MQTT_SUBPROTOCOLS.find(protocol => protocols.has(protocol)) ?? false
    })
    // ws's own refusals (a bad key or version): logged like ours, answered 400.
    this.webSockets.on('wsClientError', (err: Error, socket: Duplex, request: http.IncomingMessage) => {
      this.refuse(socket, request, 400, err.message)
    })
  }

  get type (): 'ws' | 'wss' { return this.entry.type }

  get port (): number { return this.server === undefined ? 0 : boundPort(this.server) }

  get name (): string { return listenerName(this.entry.type, this.port === 0 ? this.entry.port : this.port, this.path) }

  get connectionCount (): number { return this.admission.connectionCount }

  /** Reads the certificate files (wss) and binds. */
  async listen (signal?: AbortSignal): Promise<void> {
    const { config } = this.options
    const timeouts = { headersTimeout: config.mqtt.connectTimeoutMs, requestTimeout: config.mqtt.connectTimeoutMs }
    let server: http.Server
    if (this.entry.type === 'wss') {
      server = https.createServer({ ...await serverTlsOptions(this.entry, this.name, config.mqtt.connectTimeoutMs), ...timeouts, noDelay: true })
      const handshakeFailures = new ThrottledLogEvent(line => { this.log.info(line, 'tls_handshake_failed') })
      server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
        handshakeFailures.add({ count: 1 }, { remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`, err: err.message })
      })
    } else {
      server = http.createServer({ ...timeouts, noDelay: true })
    }
    // Plain HTTP requests: 426 on the MQTT path, 404 elsewhere.
    server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
      response.writeHead(pathOf(request) === this.path ? 426 : 404, { Connection: 'close' }).end()
    })
    server.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => { this.upgrade(request, socket, head) })
    this.sockets = new RawSockets(server, config.listener.tcpKeepAliveMs)
    this.server = server
    await bind(server, this.host, this.entry.port, signal)
    this.transport = { listener: this.name, secure: this.entry.type === 'wss' }
    this.admission.start(this.transport)
  }

  async reloadCertificates (): Promise<void> {
    if (this.entry.type === 'wss' && this.server instanceof https.Server) await reloadServerCertificates(this.server, this.entry, this.name)
  }

  async close (): Promise<void> {
    this.admission.stop()
    this.refusals.flush()
    this.textFrames.flush()
    this.frameErrors.flush()
    if (this.server !== undefined && this.sockets !== undefined) await this.sockets.closeServer(this.server)
  }

  private upgrade (request: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    if (pathOf(request) !== this.path) {
      this.refuse(socket, request, 404, 'path')
      return
    }
    // As EMQX's fail_if_no_subprotocol: a client that does not speak MQTT over WebSocket is turned away.
    if (!offeredProtocols(request).some(protocol => MQTT_SUBPROTOCOLS.includes(protocol))) {
      this.refuse(socket, request, 400, 'no mqtt subprotocol')
      return
    }
    this.webSockets.handleUpgrade(request, socket, head, (ws: WebSocket) => { this.accept(ws, request.socket) })
  }

  private accept (ws: WebSocket, socket: net.Socket): void {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`
    const stream = new WebSocketStream(ws, socket, () => { this.textFrames.add({ count: 1 }, { remote }) })
    // Frames ws refuses (a message over maxPayload: close 1009; a bad frame: 1002) close the connection.
    ws.on('error', (err: Error & { code?: string }) => { this.frameErrors.add({ count: 1 }, { remote, code: err.code, err: err.message }) })
    const transport = socket instanceof tls.TLSSocket ? tlsTransport(this.transport, socket) : this.transport
    this.admission.admit(stream, transport)
  }

  private refuse (socket: Duplex, request: http.IncomingMessage, status: number, reason: string): void {
    const raw = request.socket
    this.refusals.add({ count: 1 }, { remote: `${raw.remoteAddress ?? '?'}:${raw.remotePort ?? 0}`, status, reason, path: pathOf(request).slice(0, 256) })
    refuseUpgrade(socket, status)
  }
}
