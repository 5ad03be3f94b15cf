/**
 * Node names (`name@host`, unique and immutable in a cluster), the EMQX cluster port rule, and
 * node addresses (`name@host[:port]` or a multiaddr) used by seeds and `join()`.
 */
import { isIPv4, isIPv6 } from 'node:net'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_CLUSTER_PORT_BASE } from './constants.js'
import { InvalidNodeAddressError, InvalidNodeNameError } from './errors.js'

export interface NodeName {
  /** The whole name, `base@host`. */
  full: string
  /** The part before `@`, e.g. `meshmq2`. */
  base: string
  /** The part after `@`: an IPv4/IPv6 literal or a host name. */
  host: string
}

const BASE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/
const HOSTNAME_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/
const MAX_NAME_LENGTH = 255

export function parseNodeName (nodeName: string): NodeName {
  if (nodeName.length > MAX_NAME_LENGTH) throw new InvalidNodeNameError(nodeName, `longer than ${MAX_NAME_LENGTH} characters`)
  const at = nodeName.indexOf('@')
  if (at < 0) throw new InvalidNodeNameError(nodeName, 'missing "@"')
  const base = nodeName.slice(0, at)
  const host = nodeName.slice(at + 1)
  if (!BASE_PATTERN.test(base)) throw new InvalidNodeNameError(nodeName, `bad name part "${base}"`)
  if (!isValidHost(host)) throw new InvalidNodeNameError(nodeName, `bad host part "${host}"`)
  return { full: nodeName, base, host }
}

export function isValidNodeName (nodeName: string): boolean {
  try {
    parseNodeName(nodeName)
    return true
  } catch {
    return false
  }
}

/** The EMQX rule: base port + the numeric suffix of the name part (`meshmq2@h` → 4372, `meshmq@h` → 4370). */
export function defaultClusterPort (nodeName: string, basePort = DEFAULT_CLUSTER_PORT_BASE): number {
  const { base } = parseNodeName(nodeName)
  const suffix = /(\d+)$/.exec(base)?.[1]
  const port = basePort + (suffix === undefined ? 0 : Number.parseInt(suffix, 10))
  if (port > 65535) throw new InvalidNodeNameError(nodeName, `numeric suffix gives cluster port ${port} > 65535`)
  return port
}

/** Where to reach a node: its multiaddr, and its name when the address said it. */
export interface NodeAddress {
  node?: string
  multiaddr: Multiaddr
}

/**
 * Parses `name@host:port`, `name@[ipv6]:port`, `name@host` (port from `defaultClusterPort`) or a
 * multiaddr such as `/ip4/10.0.0.2/tcp/4372`.
 */
export function parseNodeAddress (address: string, basePort = DEFAULT_CLUSTER_PORT_BASE): NodeAddress {
  if (address.startsWith('/')) {
    try {
      return { multiaddr: multiaddr(address) }
    } catch (err) {
      throw new InvalidNodeAddressError(address, err instanceof Error ? err.message : String(err))
    }
  }
  const at = address.indexOf('@')
  if (at < 0) throw new InvalidNodeAddressError(address, 'missing "@"')
  const base = address.slice(0, at)
  const { host, port } = splitHostPort(address, address.slice(at + 1))
  const node = `${base}@${host}`
  try {
    parseNodeName(node)
  } catch (err) {
    throw new InvalidNodeAddressError(address, err instanceof Error ? err.message : String(err))
  }
  return { node, multiaddr: hostPortMultiaddr(host, port ?? defaultClusterPort(node, basePort)) }
}

/** `/ip4/…`, `/ip6/…` or `/dns/…` plus `/tcp/port`. */
export function hostPortMultiaddr (host: string, port: number): Multiaddr {
  if (isIPv4(host)) return multiaddr(`/ip4/${host}/tcp/${port}`)
  if (isIPv6(host)) return multiaddr(`/ip6/${host}/tcp/${port}`)
  return multiaddr(`/dns/${host}/tcp/${port}`)
}

function splitHostPort (address: string, hostPort: string): { host: string, port?: number } {
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']')
    if (close < 0) throw new InvalidNodeAddressError(address, 'unclosed "["')
    const host = hostPort.slice(1, close)
    const rest = hostPort.slice(close + 1)
    if (rest === '') return { host }
    if (!rest.startsWith(':')) throw new InvalidNodeAddressError(address, `unexpected "${rest}" after "]"`)
    return { host, port: parsePort(address, rest.slice(1)) }
  }
  if (isIPv6(hostPort)) return { host: hostPort }
  const colon = hostPort.lastIndexOf(':')
  if (colon < 0) return { host: hostPort }
  return { host: hostPort.slice(0, colon), port: parsePort(address, hostPort.slice(colon + 1)) }
}

function parsePort (address: string, text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number.parseInt(text, 10) : NaN
  if (!(port >= 1 && port <= 65535)) throw new InvalidNodeAddressError(address, `bad port "${text}"`)
  return port
}

function isValidHost (host: string): boolean {
  return isIPv4(host) || isIPv6(host) || (host.length <= 253 && HOSTNAME_PATTERN.test(host))
}
