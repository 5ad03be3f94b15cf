/**
 * One request, one response, on a fresh direct stream: the shape of the hello, snapshot and
 * membership-notice protocols. Both ends are bounded by a timeout; a failure aborts the stream.
 */
import { lpStream } from '@libp2p/utils'
import type { Connection, PeerId, Stream, StreamHandler } from '@libp2p/interface'
import { MAX_CONTROL_FRAME_BYTES } from './constants.js'
import { RequestFailedError } from './errors.js'
import { decodeControl, encodeControl, type ControlMessage } from './control-codec.js'
import type { ClusterLogger } from './logger.js'

/** Opens a stream for `protocol` to a peer (e.g. `libp2p.dialProtocol`). */
export type DialProtocol = (peer: PeerId, protocol: string, options: { signal: AbortSignal }) => Promise<Stream>

const LP_OPTIONS = { maxDataLength: MAX_CONTROL_FRAME_BYTES, maxBufferSize: MAX_CONTROL_FRAME_BYTES + 16 }

/**
 * Sends `request` to `peer` and returns its response. Throws `RequestFailedError` (its `cause`
 * says why) on timeout, stream failure or an undecodable response.
 */
export async function requestResponse (
  dial: DialProtocol, peer: PeerId, node: string, protocol: string, request: ControlMessage, timeoutMs: number
): Promise<ControlMessage> {
  const signal = AbortSignal.timeout(timeoutMs)
  let stream: Stream | undefined
  try {
    stream = await dial(peer, protocol, { signal })
    const lp = lpStream(stream, LP_OPTIONS)
    await lp.write(encodeControl(request), { signal })
    const response = decodeControl((await lp.read({ signal })).subarray())
    await stream.close({ signal })
    return response
  } catch (err) {
    stream?.abort(err instanceof Error ? err : new Error(String(err)))
    throw new RequestFailedError(protocol, node, { cause: err })
  }
}

/** Answers one request per stream with `respond`; a failing exchange is logged at debug level. */
export function responder (
  protocol: string,
  respond: (request: ControlMessage, connection: Connection) => ControlMessage | Promise<ControlMessage>,
  timeoutMs: number,
  logger: ClusterLogger
): StreamHandler {
  return async (stream, connection) => {
    const signal = AbortSignal.timeout(timeoutMs)
    try {
      const lp = lpStream(stream, LP_OPTIONS)
      const request = decodeControl((await lp.read({ signal })).subarray())
      const response = await respond(request, connection)
      await lp.write(encodeControl(response), { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      logger.debug({ protocol, peer: connection.remotePeer.toString(), err }, 'request_failed')
    }
  }
}
