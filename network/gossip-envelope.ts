/**
 * The envelope of every message on the route gossip topic. Gossip is not signed (see
 * `libp2p-node.ts`; who sent a message is its direct sender, `control-trust.ts`), so gossipsub
 * names a message by a hash of its bytes, and a publication equal
 * to an earlier one (an unchanged digest, a repeated notice) would be taken for a duplicate and
 * dropped for the lifetime of gossipsub's seen cache. A per-publisher sequence number in front of
 * the control message makes every publication distinct. Pure; no I/O.
 *
 * Layout: varint sequence number, then the encoded control message (`control-codec.ts`).
 */
import { BinaryReader, BinaryWriter } from '../src/core/wire/binary.js'

export class GossipEnvelope {
  private seq = 0

  /** Wraps an encoded control message for publishing. */
  wrap (control: Uint8Array): Uint8Array {
    return new BinaryWriter(control.byteLength + 8).varint(this.seq++).raw(control).finish()
  }
}

/** The control message inside a received envelope (a view, no copy); throws `MalformedFrameError`. */
export function openGossipEnvelope (data: Uint8Array): Uint8Array {
  const reader = new BinaryReader(data)
  reader.varint()
  return reader.rest()
}
