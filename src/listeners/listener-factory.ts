/** Builds the listener of one `listeners` entry (or of the default `listener.*` TCP listener). */
import { TcpListener } from './tcp-listener.js'
import { TlsListener } from './tls-listener.js'
import { WebSocketListener } from './websocket-listener.js'
import type { ListenerOptions } from './client-admission.js'
import type { MqttListener } from './listener.js'
import type { ListenerConfig } from '../core/config/schema.js'

export function createListener (entry: ListenerConfig, options: ListenerOptions): MqttListener {
  switch (entry.type) {
    case 'tcp': return new TcpListener(options, entry.host ?? '0.0.0.0', entry.port)
    case 'tls': return new TlsListener(options, entry)
    case 'ws': case 'wss': return new WebSocketListener(options, { ...entry, type: entry.type })
  }
}

/** The default TCP listener (`listener.host`, `listener.port`). */
export function createDefaultListener (options: ListenerOptions): MqttListener {
  const { host, port } = options.config.listener
  return new TcpListener(options, host, port)
}
