/**
 * The name of a node started without one (zero-config LAN cluster). Pure: the caller passes the
 * host's interfaces (`os.networkInterfaces()`) and the name its data directory remembers.
 *
 * The rule, in order:
 * 1. the name recorded in the data directory (`node.json`), so a node keeps its name for good;
 * 2. with `manual` discovery, `meshmq@127.0.0.1` (`DEFAULT_NODE_NAME`: one host, as before);
 * 3. `meshmq@<primary IPv4>`: the first IPv4 address, in interface order, that is not internal
 *    (loopback) and not link-local (169.254.0.0/16), on an interface whose name is not that of a
 *    container or VM bridge (`docker0`, `br-…`, `veth…`, `virbr…`, …); failing that, the first such
 *    address on a container or VM bridge;
 * 4. `meshmq@127.0.0.1` when the host has no other IPv4 address.
 */
import { DEFAULT_NODE_NAME } from './defaults.js'
import type { DiscoveryStrategy } from './schema.js'

/** Name part of a node named by this rule. */
export const DEFAULT_NODE_BASE = 'meshmq'

/** One address of a network interface, as `os.networkInterfaces()` lists it. */
export interface InterfaceAddress {
  address: string
  /** `'IPv4'` or `'IPv6'` (Node 18.0–18.3 gave 4 or 6). */
  family: string | number
  internal: boolean
}

/** Interfaces by name, in the order the system lists them (`os.networkInterfaces()`). */
export type InterfaceMap = Readonly<Record<string, readonly InterfaceAddress[] | undefined>>

/** How the name was chosen, for the start-up log. */
export type NodeNameSource = 'remembered' | 'manual-discovery' | 'interface' | 'no-interface'

export interface ChosenNodeName {
  name: string
  source: NodeNameSource
  /** The interface whose address gave the host part (source `interface`). */
  interface?: string
}

/** Interface names of container and VM bridges and their virtual ports. */
const VIRTUAL_INTERFACE = /^(docker|br-|veth|virbr|vboxnet|vmnet|cni|flannel|cali|lxcbr|lxdbr|podman)/

function isIPv4 (entry: InterfaceAddress): boolean {
  return entry.family === 'IPv4' || entry.family === 4
}

function isLinkLocal (address: string): boolean {
  return address.startsWith('169.254.')
}

/**
 * The host's primary IPv4 address by rule 3 above, with its interface; undefined when it has
 * none but loopback and link-local ones.
 */
export function primaryIPv4 (interfaces: InterfaceMap): { address: string, interface: string } | undefined {
  const candidates: Array<{ address: string, interface: string, virtual: boolean }> = []
  for (const [name, entries] of Object.entries(interfaces)) {
    for (const entry of entries ?? []) {
      if (entry.internal || !isIPv4(entry) || isLinkLocal(entry.address)) continue
      candidates.push({ address: entry.address, interface: name, virtual: VIRTUAL_INTERFACE.test(name) })
    }
  }
  const chosen = candidates.find(candidate => !candidate.virtual) ?? candidates[0]
  return chosen === undefined ? undefined : { address: chosen.address, interface: chosen.interface }
}

/** The name of a node given none, by the rule at the top of this file. */
export function chooseNodeName (input: { remembered?: string | undefined, discovery: DiscoveryStrategy, interfaces: InterfaceMap }): ChosenNodeName {
  if (input.remembered !== undefined) return { name: input.remembered, source: 'remembered' }
  if (input.discovery === 'manual') return { name: DEFAULT_NODE_NAME, source: 'manual-discovery' }
  const primary = primaryIPv4(input.interfaces)
  if (primary === undefined) return { name: DEFAULT_NODE_NAME, source: 'no-interface' }
  return { name: `${DEFAULT_NODE_BASE}@${primary.address}`, source: 'interface', interface: primary.interface }
}
