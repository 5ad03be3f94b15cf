/**
 * The Noise prologue derived from the cluster secret. Both ends of a Noise handshake mix the
 * prologue into the handshake hash, which authenticates every handshake message, so a node with
 * another secret cannot complete the handshake: it is refused before any cluster protocol runs.
 * scrypt makes an offline guess of the secret from a captured handshake expensive.
 *
 * This replaces a libp2p private network (pnet), which wrapped every connection in XSalsa20 under
 * the same key: pnet also hid the handshake itself from outsiders (ephemeral keys, and the peer
 * id a responder proves), but its WebAssembly cipher cost 10-12% of a forwarding node's CPU on
 * top of Noise's own encryption.
 */
import { scryptSync } from 'node:crypto'
import { InvalidClusterSecretError } from './errors.js'

/** Fixed salt: every node must derive the same prologue from the same secret. */
const SALT = 'meshmq/noise-prologue/1'
const KEY_BYTES = 32
const SCRYPT_COST = 1 << 14

export function prologueFromSecret (secret: string): Uint8Array {
  if (secret.length === 0) throw new InvalidClusterSecretError()
  return new Uint8Array(scryptSync(secret, SALT, KEY_BYTES, { N: SCRYPT_COST, r: 8, p: 1 }))
}
