/**
 * What the broker sees of an MQTT listener, whatever its transport, and the server plumbing the
 * listeners share: binding, tracking the raw sockets so a close ends them all (also those still
 * in a TLS handshake or an HTTP upgrade), and TCP keepalive.
 */
import type net from 'node:net'
import type { ListenerType } from '../core/config/schema.js'

export interface MqttListener {
  readonly type: ListenerType
  /** Address bound. */
  readonly host: string
  /** Port bound (the OS-chosen one when configured as 0); 0 before `listen`. */
  readonly port: number
  /** HTTP path of a WebSocket listener. */
  readonly path?: string
  /** `tcp:1883`, `tls:8883`, `ws:8083/mqtt`, … (the port bound); what clients' `TransportInfo.listener` says. */
  readonly name: string
  /** Open MQTT connections. */
  readonly connectionCount: number
  listen: (signal?: AbortSignal) => Promise<void>
  /**
   * TLS listeners (`tls`, `wss`): reads the certificate files again and serves new handshakes with
   * them; connections already open keep theirs. Throws ListenerFileError, or the TLS error of a
   * certificate and key that do not go together, and keeps the files in force.
   */
  reloadCertificates?: () => Promise<void>
  /** Destroys every connection and releases the port. */
  close: () => Promise<void>
}

/** A listener's name: type, port and, for WebSocket, path. */
export function listenerName (type: ListenerType, port: number, path?: string): string {
  return `${type}:${port}${path ?? ''}`
}

/** The port a listening server is bound to, or 0. */
export function boundPort (server: net.Server): number {
  const address = server.address()
  return typeof address === 'object' && address !== null ? address.port : 0
}

/** Binds `server`; rejects with the bind error (`EADDRINUSE`, …). */
export async function bind (server: net.Server, host: string, port: number, signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => { reject(err) }
    server.once('error', onError)
    server.listen({ host, port, backlog: 4096, signal }, () => {
      server.off('error', onError)
      resolve()
    })
  })
}

/**
 * The raw sockets a server accepted and that are still open, with TCP keepalive set on each:
 * probes find a peer that vanished without a FIN or RST (a half-open socket), also when its MQTT
 * keepalive is 0.
 */
export class RawSockets {
  private readonly sockets = new Set<net.Socket>()

  /** `keepAliveMs`: first probe after this much silence; 0 = off. */
  constructor (server: net.Server, keepAliveMs: number) {
    const sockets = this.sockets
    // One listener function for all sockets (the socket is `this`), not a closure per socket.
    function forget (this: net.Socket): void { sockets.delete(this) }
    server.on('connection', (socket: net.Socket) => {
      if (keepAliveMs > 0) socket.setKeepAlive(true, keepAliveMs)
      sockets.add(socket)
      socket.on('close', forget)
    })
  }

  /** Destroys every socket, then closes the server. */
  async closeServer (server: net.Server): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await closeServer(server)
  }
}

/** Stops `server` accepting and resolves when its sockets are gone (destroy them first). */
export async function closeServer (server: net.Server): Promise<void> {
  await new Promise<void>(resolve => server.close(() => { resolve() }))
}

/**
 * The options of a plain TCP server: no Nagle delay, and TCP keepalive on each accepted socket
 * (first probe after `keepAliveMs` of silence; 0 = off), so a half-open socket is found.
 */
export function tcpServerOptions (keepAliveMs: number): net.ServerOpts {
  return keepAliveMs > 0 ? { noDelay: true, keepAlive: true, keepAliveInitialDelay: keepAliveMs } : { noDelay: true }
}
