/**
 * Node names and addresses, the one set of rules the config, the command line and the cluster
 * network all use: a node name is `name@host` (unique and immutable in a cluster), its cluster
 * port follows the EMQX rule (4370 + the numeric suffix of the name part), and a node address
 * (seeds, `cluster join`) is `name@host[:port]`. Pure: no I/O, no `node:net`.
 */
import { DEFAULT_CLUSTER_PORT_BASE } from './defaults.js'

/** A node name is not `name@host` by the rules below. */
export class InvalidNodeNameError extends Error {
  override name = 'InvalidNodeNameError'
  constructor (readonly nodeName: string, readonly detail: string) {
    super(`invalid node name "${nodeName}": ${detail} (expected name@host, e.g. meshmq1@10.0.0.1)`)
  }
}

/** A seed or join address is not `name@host[:port]` (the network also takes a multiaddr). */
export class InvalidNodeAddressError extends Error {
  override name = 'InvalidNodeAddressError'
  constructor (readonly address: string, readonly detail: string) {
    super(`invalid node address "${address}": ${detail} (expected name@host[:port] or a multiaddr)`)
  }
}

export interface NodeName {
  /** The whole name, `base@host`. */
  full: string
  /** The part before `@`, e.g. `meshmq2`. */
  base: string
  /** The part after `@`: an IPv4/IPv6 literal or a host name. */
  host: string
}

/** A node to contact: its name and its cluster address. */
export interface NodeAddress {
  node: string
  host: string
  port: number
}

const BASE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/
const HOSTNAME_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/
const IPV4_OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)'
const IPV4_PATTERN = new RegExp(`^${IPV4_OCTET}(?:\\.${IPV4_OCTET}){3}$`)
const MAX_NAME_LENGTH = 255
const MAX_HOSTNAME_LENGTH = 253
const MAX_PORT = 65535

export function isIPv4Literal (host: string): boolean {
  return IPV4_PATTERN.test(host)
}

export function isIPv6Literal (host: string): boolean {
  return host.includes(':') && /^[0-9A-Fa-f:.]+$/.test(host) && URL.canParse(`http://[${host}]/`)
}

function isValidHost (host: string): boolean {
  return isIPv4Literal(host) || isIPv6Literal(host) || (host.length <= MAX_HOSTNAME_LENGTH && HOSTNAME_PATTERN.test(host))
}

/**
 * Parses `name@host`: a name part of letters, digits, `_`, `.` and `-` that starts with a letter or
 * digit, and a host that is an IPv4 or IPv6 literal or a host name. Throws `InvalidNodeNameError`.
 */
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

/**
 * The EMQX rule: base port + the numeric suffix of the name part (`meshmq2@h` → 4372,
 * `meshmq@h` → 4370). Throws `InvalidNodeNameError` when that is above 65535.
 */
export function clusterPortFor (nodeName: string, basePort = DEFAULT_CLUSTER_PORT_BASE): number {
  const { base } = parseNodeName(nodeName)
  const suffix = /(\d+)$/.exec(base)?.[1]
  const port = basePort + (suffix === undefined ? 0 : Number.parseInt(suffix, 10))
  if (port > MAX_PORT) throw new InvalidNodeNameError(nodeName, `its numeric suffix gives cluster port ${port}, above ${MAX_PORT}`)
  return port
}

/**
 * Parses `name@host:port`, `name@[ipv6]:port` or `name@host` (port by `clusterPortFor`); a bare
 * IPv6 host takes no port. Throws `InvalidNodeAddressError`.
 */
export function parseNodeAddress (address: string, basePort = DEFAULT_CLUSTER_PORT_BASE): NodeAddress {
  const at = address.indexOf('@')
  if (at < 0) throw new InvalidNodeAddressError(address, 'missing "@"')
  const { host, port } = splitHostPort(address, address.slice(at + 1))
  const node = `${address.slice(0, at)}@${host}`
  try {
    parseNodeName(node)
    return { node, host, port: port ?? clusterPortFor(node, basePort) }
  } catch (err) {
    if (err instanceof InvalidNodeNameError) throw new InvalidNodeAddressError(address, err.detail)
    throw err
  }
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
  if (isIPv6Literal(hostPort)) return { host: hostPort }
  const colon = hostPort.lastIndexOf(':')
  if (colon < 0) return { host: hostPort }
  return { host: hostPort.slice(0, colon), port: parsePort(address, hostPort.slice(colon + 1)) }
}

function parsePort (address: string, text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number.parseInt(text, 10) : NaN
  if (!(port >= 1 && port <= MAX_PORT)) throw new InvalidNodeAddressError(address, `bad port "${text}", expected 1 to ${MAX_PORT}`)
  return port
}
