/**
 * The libp2p private-network (pnet) swarm key derived from the cluster secret. Every connection is
 * wrapped in XSalsa20 keyed by it before noise runs, so a node with another secret cannot even
 * complete the noise handshake. scrypt makes an offline guess of the secret from captured traffic
 * expensive.
 */
import { scryptSync } from 'node:crypto'
import { InvalidClusterSecretError } from './errors.js'

/** Fixed salt: every node must derive the same key from the same secret. */
const SALT = 'meshmq/pnet-swarm-key/1'
const KEY_BYTES = 32
const SCRYPT_COST = 1 << 14

/** The swarm key in the v1 PSK file format that `@libp2p/pnet` reads. */
export function swarmKeyFromSecret (secret: string): Uint8Array {
  if (secret.length === 0) throw new InvalidClusterSecretError()
  const key = scryptSync(secret, SALT, KEY_BYTES, { N: SCRYPT_COST, r: 8, p: 1 })
  return new TextEncoder().encode(`/key/swarm/psk/1.0.0/\n/base16/\n${key.toString('hex')}`)
}
