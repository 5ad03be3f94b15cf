/**
 * The byte stream a Connection reads MQTT from and writes MQTT to. `net.Socket` and
 * `tls.TLSSocket` are byte streams as they are (no adapter on the TCP path); a WebSocket is
 * adapted by `WebSocketStream`.
 */
export interface ByteStream {
  /** Peer address, for logs. */
  readonly remoteAddress?: string | undefined
  readonly remotePort?: number | undefined
  /** Bytes written but not yet handed to the network (the slow-consumer measure). */
  readonly writableLength: number
  /** Closed or destroyed: nothing more may be written. */
  readonly destroyed: boolean
  write (data: Buffer): unknown
  /** Closes after the written bytes are sent. */
  end (): unknown
  /** Closes at once. */
  destroy (): unknown
  on (event: 'data', listener: (chunk: Buffer) => void): unknown
  on (event: 'close' | 'drain', listener: () => void): unknown
  on (event: 'error', listener: (err: Error) => void): unknown
  once (event: 'close' | 'drain', listener: () => void): unknown
}
