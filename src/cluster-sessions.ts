/**
 * Client ids and sessions cluster-wide: connects the client registry actor to the cluster network.
 * The client ids this node holds sessions for are replicated like its routes (`addLocalClient`);
 * the registry asks the network's replicas where another node holds one, and hears of client ids
 * another node took on (`clients-*` events) to resolve conflicts; and three services of the service
 * channel carry a takeover between nodes:
 *
 * | service                  | request                  | response                                   |
 * | ------------------------ | ------------------------ | ------------------------------------------ |
 * | `session.take-over`      | flags, username?, client id | kind byte, then the session snapshot     |
 * | `session.connected-at`   | client id                | its last connect time and owner (JSON), for conflicts |
 * | `session.deliver`        | client id, deliveries    | empty, once the registry has them          |
 *
 * A request is answered by the registry actor; the session snapshot codec is pure
 * (`src/core/session/session-snapshot.ts`).
 */
import { type Ref } from 'nact'
import { dispatch } from '../actors/actor-meters.js'
import type { ClusterNetwork } from '../network/cluster.js'
import type { ClientDirectory } from '../actors/client-registry.js'
import type { HandOverReply, RegistryMsg, SessionClaim } from '../actors/messages.js'
import type { BrokerConfig } from './core/config/config.js'
import type { Delivery } from './core/session/session-state.js'
import { decodeDeliveries, decodeSessionSnapshot, encodeDeliveries, encodeSessionSnapshot } from './core/session/session-snapshot.js'

const TAKE_OVER = 'session.take-over'
const CONNECTED_AT = 'session.connected-at'
const DELIVER = 'session.deliver'

/** Response kind bytes of `session.take-over`. */
const REPLY_KINDS = ['not_found', 'discarded', 'handed_over', 'not_authorized'] as const

/** Flag bits of a `session.take-over` request's first byte. */
const DISCARD = 1
const HAS_USERNAME = 2

/**
 * A `session.take-over` request: a flags byte (discard, has username), then with a username its
 * UTF-8 length (2 bytes, big-endian) and bytes, then the client id (UTF-8, the rest).
 */
export function encodeTakeOverRequest (clientId: string, discard: boolean, username: string | undefined): Buffer {
  const flags = Uint8Array.of((discard ? DISCARD : 0) | (username !== undefined ? HAS_USERNAME : 0))
  if (username === undefined) return Buffer.concat([flags, Buffer.from(clientId, 'utf8')])
  const name = Buffer.from(username, 'utf8')
  const length = Buffer.alloc(2)
  length.writeUInt16BE(name.length)
  return Buffer.concat([flags, length, name, Buffer.from(clientId, 'utf8')])
}

export function decodeTakeOverRequest (payload: Uint8Array): { clientId: string, discard: boolean, username: string | undefined } {
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
  const flags = bytes[0] ?? 0
  const discard = (flags & DISCARD) !== 0
  if ((flags & HAS_USERNAME) === 0) return { clientId: bytes.subarray(1).toString('utf8'), discard, username: undefined }
  if (bytes.length < 3) throw new Error(`truncated ${TAKE_OVER} request`)
  const end = 3 + bytes.readUInt16BE(1)
  if (bytes.length < end) throw new Error(`truncated ${TAKE_OVER} request`)
  return { clientId: bytes.subarray(end).toString('utf8'), discard, username: bytes.subarray(3, end).toString('utf8') }
}

const EMPTY = new Uint8Array(0)

export class ClusterSessions implements ClientDirectory {
  readonly handoverMs: number
  private readonly timeoutMs: number
  private registry: Ref<RegistryMsg> | undefined

  constructor (private readonly network: ClusterNetwork, config: BrokerConfig['cluster']['takeover']) {
    this.handoverMs = config.handoverMs
    this.timeoutMs = config.timeoutMs
  }

  /** Wires the registry to the network: its view of the other nodes, and the services it answers. */
  attach (registry: Ref<RegistryMsg>): void {
    this.registry = registry
    const net = this.network
    net.addEventListener('clients-changed', e => {
      if (e.detail.added.length > 0) dispatch(registry, { type: 'remote_clients_added', node: e.detail.node, clientIds: e.detail.added })
    })
    net.addEventListener('clients-replaced', e => {
      if (e.detail.clientIds.length > 0) dispatch(registry, { type: 'remote_clients_added', node: e.detail.node, clientIds: e.detail.clientIds })
    })
    net.serve(TAKE_OVER, async (from, payload, signal) => {
      const { clientId, discard, username } = decodeTakeOverRequest(payload)
      const reply = await this.ask<HandOverReply>(signal, resolve => ({ type: 'hand_over', clientId, from, discard, username, reply: resolve }))
      const kind = Uint8Array.of(REPLY_KINDS.indexOf(reply.kind))
      return reply.kind === 'handed_over' ? Buffer.concat([kind, encodeSessionSnapshot(reply.snapshot)]) : kind
    })
    net.serve(CONNECTED_AT, async (_from, payload, signal) => {
      const clientId = Buffer.from(payload).toString('utf8')
      const claim = await this.ask<SessionClaim | undefined>(signal, resolve => ({ type: 'connected_at', clientId, reply: resolve }))
      return Buffer.from(JSON.stringify({ connectedAt: claim?.connectedAt ?? null, owner: claim?.owner ?? null }))
    })
    net.serve(DELIVER, (from, payload) => {
      const { clientId, deliveries } = decodeDeliveries(payload)
      dispatch(registry, { type: 'handover_deliver', clientId, from, deliveries })
      return EMPTY
    })
  }

  clientAdded (clientId: string): void { this.network.addLocalClient(clientId) }
  clientRemoved (clientId: string): void { this.network.removeLocalClient(clientId) }
  holdersOf (clientId: string): string[] { return this.network.clientHolders(clientId) }

  async takeOver (node: string, clientId: string, discard: boolean, username: string | undefined): Promise<HandOverReply> {
    const payload = encodeTakeOverRequest(clientId, discard, username)
    const response = await this.network.request(node, TAKE_OVER, payload, { signal: AbortSignal.timeout(this.timeoutMs) })
    const kind = REPLY_KINDS[response[0] ?? -1]
    if (kind === undefined) throw new Error(`bad ${TAKE_OVER} response from ${node}`)
    if (kind !== 'handed_over') return { kind }
    const snapshot = decodeSessionSnapshot(response.subarray(1))
    if (snapshot.clientId !== clientId) throw new Error(`${node} handed over the session of another client id`)
    return { kind, snapshot }
  }

  async sessionClaim (node: string, clientId: string): Promise<SessionClaim | undefined> {
    const response = await this.network.request(node, CONNECTED_AT, Buffer.from(clientId, 'utf8'), { signal: AbortSignal.timeout(this.timeoutMs) })
    const { connectedAt, owner } = JSON.parse(Buffer.from(response).toString('utf8')) as { connectedAt: unknown, owner?: unknown }
    return typeof connectedAt === 'number' ? { connectedAt, owner: typeof owner === 'string' ? owner : undefined } : undefined
  }

  async forwardDeliveries (node: string, clientId: string, deliveries: Delivery[]): Promise<void> {
    await this.network.request(node, DELIVER, encodeDeliveries(clientId, deliveries), { signal: AbortSignal.timeout(this.timeoutMs) })
  }

  /** Asks the registry and waits for its reply, bounded by the request's signal. */
  private async ask<T> (signal: AbortSignal, message: (resolve: (value: T) => void) => RegistryMsg): Promise<T> {
    const registry = this.registry
    if (registry === undefined) throw new Error('registry not attached')
    return await new Promise<T>((resolve, reject) => {
      const onAbort = (): void => { reject(new Error('the registry did not answer in time')) }
      if (signal.aborted) {
        onAbort()
        return
      }
      signal.addEventListener('abort', onAbort, { once: true })
      dispatch(registry, message(value => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      }))
    })
  }
}
