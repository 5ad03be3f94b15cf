/** Errors of the binary wire formats (cluster frames, store records). */

/** Bytes that do not decode as the format they are read as. */
export class MalformedFrameError extends Error {
  override name = 'MalformedFrameError'
  constructor (detail: string) {
    super(`malformed cluster frame: ${detail}`)
  }
}
