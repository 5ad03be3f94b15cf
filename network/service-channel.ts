/**
 * Application services between members: one request, one response, on a fresh direct stream of
 * `SERVICE_PROTOCOL`, for the broker's cluster-wide features (session takeover, retained and will
 * replication) that need to ask one node something. The network knows nothing of what a service
 * carries: a request is a service name and opaque bytes, a response opaque bytes or an error text.
 *
 * Trust: a request is served only when its connection's peer id is pinned to a member that is up;
 * the handler gets that member's name, never a name the request claims. A handler that throws
 * answers with the error's message; the caller gets a `ServiceError`.
 *
 * Frames (length-prefixed): request = string service, bytes payload; response = bool ok, then
 * bytes payload (ok) or string error.
 */
import { lpStream } from '@libp2p/utils'
import type { Connection, PeerId, Stream, StreamHandler } from '@libp2p/interface'
import { MAX_CONTROL_FRAME_BYTES } from './constants.js'
import { MalformedFrameError, RequestFailedError, ServiceError, UnknownNodeError, UnknownServiceError } from './errors.js'
import type { ClusterLogger } from './logger.js'
import type { DialProtocol } from './request-response.js'
import { BinaryReader, BinaryWriter } from '../src/core/wire/binary.js'

/** Direct stream: one application-service request and its response. */
export const SERVICE_PROTOCOL = '/meshmq/service/1'

const LP_OPTIONS = { maxDataLength: MAX_CONTROL_FRAME_BYTES, maxBufferSize: MAX_CONTROL_FRAME_BYTES + 16 }

/** Serves one service: `from` is the member that asked (by its pinned peer id). */
export type ServiceHandler = (from: string, payload: Uint8Array, signal: AbortSignal) => Uint8Array | Promise<Uint8Array>

export interface ServiceChannelInit {
  /** The member name a connected peer id is pinned to, if that member is up. */
  memberOfPeer: (peerId: string) => string | undefined
  /** The peer id of a member, if known. */
  peerOf: (node: string) => PeerId | undefined
  dial: DialProtocol
  /** Bound of one exchange on the serving side. */
  timeoutMs: number
  logger: ClusterLogger
}

export interface ServiceRequestOptions {
  signal?: AbortSignal
}

export class ServiceChannel {
  private readonly handlers = new Map<string, ServiceHandler>()

  constructor (private readonly init: ServiceChannelInit) {}

  /** Registers the handler of `service` (one per service; a second registration replaces it). */
  serve (service: string, handler: ServiceHandler): void {
    this.handlers.set(service, handler)
  }

  /**
   * Asks `node` and returns its answer. Throws `ServiceError` when its handler failed,
   * `RequestFailedError` on timeout, an unknown node or a broken stream.
   */
  async request (node: string, service: string, payload: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    const peer = this.init.peerOf(node)
    if (peer === undefined) throw new RequestFailedError(SERVICE_PROTOCOL, node, { cause: new UnknownNodeError(node) })
    let stream: Stream | undefined
    let reply: BinaryReader
    try {
      stream = await this.init.dial(peer, SERVICE_PROTOCOL, { signal })
      const lp = lpStream(stream, LP_OPTIONS)
      await lp.write(new BinaryWriter().string(service).bytes(payload).finish(), { signal })
      reply = new BinaryReader((await lp.read({ signal })).subarray())
      await stream.close({ signal })
    } catch (err) {
      stream?.abort(err instanceof Error ? err : new Error(String(err)))
      throw new RequestFailedError(SERVICE_PROTOCOL, node, { cause: err })
    }
    if (reply.bool()) return reply.bytes()
    throw new ServiceError(node, service, reply.string())
  }

  /** The libp2p stream handler of `SERVICE_PROTOCOL`. */
  readonly handler: StreamHandler = async (stream: Stream, connection: Connection) => {
    const signal = AbortSignal.timeout(this.init.timeoutMs)
    const peerId = connection.remotePeer.toString()
    try {
      const lp = lpStream(stream, LP_OPTIONS)
      const request = new BinaryReader((await lp.read({ signal })).subarray())
      const service = request.string()
      const payload = request.bytes()
      let answer: BinaryWriter
      try {
        const from = this.init.memberOfPeer(peerId)
        if (from === undefined) throw new MalformedFrameError(`service ${service} asked by ${peerId}, not a member that is up`)
        const handler = this.handlers.get(service)
        if (handler === undefined) throw new UnknownServiceError(service)
        const result = await handler(from, payload, signal)
        answer = new BinaryWriter().bool(true).bytes(result)
      } catch (err) {
        this.init.logger.debug({ service, peer_id: peerId, err }, 'service_request_failed')
        answer = new BinaryWriter().bool(false).string(err instanceof Error ? err.message : String(err))
      }
      await lp.write(answer.finish(), { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      this.init.logger.debug({ protocol: SERVICE_PROTOCOL, peer_id: peerId, err }, 'request_failed')
    }
  }
}
