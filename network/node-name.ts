/**
 * Where to dial a node: a node address `name@host[:port]` (parsed by the core rules in
 * `src/core/config/node-name.ts`) or a multiaddr, as a multiaddr.
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_CLUSTER_PORT_BASE } from '../src/core/config/defaults.js'
import { InvalidNodeAddressError, isIPv4Literal, isIPv6Literal, parseNodeAddress } from '../src/core/config/node-name.js'

/** Where to reach a node: its multiaddr, and its name when the address said it. */
export interface DialAddress {
  node?: string
  multiaddr: Multiaddr
}

/**
 * Parses `name@host:port`, `name@[ipv6]:port`, `name@host` (port by the node-name rule from
 * `basePort`) or a multiaddr such as `/ip4/10.0.0.2/tcp/4372`. Throws `InvalidNodeAddressError`.
 */
export function parseDialAddress (address: string, basePort = DEFAULT_CLUSTER_PORT_BASE): DialAddress {
  if (address.startsWith('/')) {
    try {
      return { multiaddr: multiaddr(address) }
    } catch (err) {
      throw new InvalidNodeAddressError(address, err instanceof Error ? err.message : String(err))
    }
  }
  const { node, host, port } = parseNodeAddress(address, basePort)
  return { node, multiaddr: hostPortMultiaddr(host, port) }
}

/** `/ip4/…`, `/ip6/…` or `/dns/…` plus `/tcp/port`. */
function hostPortMultiaddr (host: string, port: number): Multiaddr {
  if (isIPv4Literal(host)) return multiaddr(`/ip4/${host}/tcp/${port}`)
  if (isIPv6Literal(host)) return multiaddr(`/ip6/${host}/tcp/${port}`)
  return multiaddr(`/dns/${host}/tcp/${port}`)
}
