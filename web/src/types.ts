/** The shapes of the API answers the page reads (README "HTTP API and metrics"). */

export interface LinkView { peer: string, connected: boolean, pending: number, inflight: number, bytes: number }

export interface NodeView {
  name: string
  status: 'up' | 'down'
  version?: string
  uptimeSeconds?: number
  connections?: number
  sessions?: number
  subscriptions?: number
  routes?: number
  links?: LinkView[]
  messagesReceived?: number
  messagesSent?: number
  sees?: { up: string[], down: string[] }
}

export interface ListenerView { type: string, name: string, host: string, port: number, path?: string }

export interface DashboardInfo {
  node: string
  version: string
  listeners: ListenerView[]
  logStream: { available: boolean, recentLines: number, maxStreams: number, queueLines: number, queueBytes: number }
}

export interface Page<T> { data: T[], meta: { page: number, limit: number, count: number } }

export interface ClientView {
  clientId: string
  node: string
  username: string | null
  connected: boolean
  connectedAt: number | null
  remoteAddress?: string
  listener?: string
  protocolVersion?: number
  subscriptions?: number
  inflight?: number
  queued?: number
}

export interface RouteView { filter: string, nodes: string[] }

export interface RetainedView { topic: string, qos: number, payload: string, encoding: 'utf8' | 'base64', payloadBytes: number }
