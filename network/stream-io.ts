/**
 * Helpers for libp2p v3 message streams carrying length-prefixed frames: a frame reader that never
 * throws out of an event listener (a throw there kills the process) and write backpressure on the
 * buffered byte count (`onDrain` alone does not bound memory). Writers batch their frames, since
 * each `send()` costs one yamux frame and one noise encryption.
 */
import { LengthPrefixedDecoder } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { abortReason } from './abort.js'
import { MAX_DECODER_BUFFER_BYTES } from './constants.js'

/**
 * Calls `onFrames` with the frame bodies of every 'message' event. If decoding or `onFrames`
 * throws, the stream is aborted with the error instead.
 */
export function readFrames (stream: Stream, maxFrameBytes: number, onFrames: (frames: Uint8Array[]) => void): void {
  const decoder = new LengthPrefixedDecoder({ maxDataLength: maxFrameBytes, maxBufferSize: MAX_DECODER_BUFFER_BYTES })
  stream.addEventListener('message', (event) => {
    try {
      const frames: Uint8Array[] = []
      for (const frame of decoder.decode(event.data)) frames.push(frame.subarray())
      if (frames.length > 0) onFrames(frames)
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  })
}

/**
 * Resolves once the stream buffers at most `lowWaterMark` bytes, or is no longer open. Rejects if
 * `signal` aborts first.
 */
export async function waitWritable (stream: Stream, lowWaterMark: number, signal?: AbortSignal): Promise<void> {
  while (stream.writeBufferLength > lowWaterMark && stream.status === 'open') {
    signal?.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        stream.removeEventListener('drain', done)
        stream.removeEventListener('idle', done)
        stream.removeEventListener('close', done)
        signal?.removeEventListener('abort', aborted)
        resolve()
      }
      const aborted = (): void => {
        done()
        if (signal !== undefined) reject(abortReason(signal))
      }
      stream.addEventListener('drain', done)
      stream.addEventListener('idle', done)
      stream.addEventListener('close', done)
      signal?.addEventListener('abort', aborted)
    })
  }
}

/** Aborts the stream unless it is already closed. */
export function abortQuietly (stream: Stream, reason: Error): void {
  if (stream.status === 'open' || stream.status === 'closing') stream.abort(reason)
}
