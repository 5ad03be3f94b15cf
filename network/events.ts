/** The events of the cluster network service (see `cluster.ts` for when each fires). */
import type { Message } from '../src/core/mqtt/message.js'
import type { ForwardDropReason } from './forward-drops.js'

export type NodeDownReason = 'disconnected' | 'unresponsive'

export interface ClusterEvents {
  'node-up': { node: string, incarnation: number, restarted: boolean }
  'node-down': { node: string, reason: NodeDownReason }
  'node-left': { node: string, forced: boolean }
  'node-cleaned': { node: string, downForMs: number }
  'partition-healed': { node: string, downForMs: number }
  'routes-replaced': { node: string, filters: string[] }
  'routes-changed': { node: string, added: string[], removed: string[] }
  /** `node` holds sessions for exactly `clientIds` (after a snapshot; empty when it left or was removed). */
  'clients-replaced': { node: string, clientIds: string[] }
  /** The net change of the client ids `node` holds sessions for. */
  'clients-changed': { node: string, added: string[], removed: string[] }
  message: { from: string, messages: Message[] }
  /** Messages to or from `node` were dropped (every drop, whenever it happens; see `forward-drops.ts`). */
  'messages-dropped': { node: string, reason: ForwardDropReason, count: number }
  left: { reason: 'leave' | 'removed' | 'join', by?: string }
}

/** Dispatches one of the service's events; what components get instead of the event target. */
export type EmitClusterEvent = <K extends keyof ClusterEvents>(type: K, detail: ClusterEvents[K]) => void
