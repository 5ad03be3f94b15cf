/**
 * Discovery and redial, a start/stop component of the cluster network: finds the nodes to
 * connect to and keeps dialing them.
 *
 * - `static`: the seeds are dialed (with backoff) until each answers a hello; after `join()` they
 *   are not dialed again.
 * - `mdns`: a discovered peer is dialed by the side with the lower peer id at once, by the other
 *   only after `DISCOVERY_TIE_BREAK_MS` if still unconnected, so a pair rarely dials twice.
 * - A member that went down, or one heard of through another node, is redialed at its last
 *   addresses until it is up again or removed.
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId, Startable } from '@libp2p/interface'
import { raceSignal } from './abort.js'
import { DISCOVERY_TIE_BREAK_MS, REDIAL_TIE_BREAK_MS } from './constants.js'
import type { ClusterLibp2p } from './libp2p-node.js'
import { guarded } from './logger.js'
import type { ClusterMembership, MemberDialer } from './membership.js'
import type { DialAddress } from './node-name.js'
import { Redialer } from './redialer.js'
import type { ClusterSettings } from './settings.js'

export interface DiscoveryComponents {
  settings: ClusterSettings
  /** The libp2p node; throws before the service starts. */
  libp2p: () => ClusterLibp2p
  /** Whether this node is in a cluster now (started and not left). */
  running: () => boolean
  membership: Pick<ClusterMembership, 'get' | 'isUp' | 'nameOfPeer' | 'ensureHello'>
}

export class Discovery implements Startable, MemberDialer {
  private readonly redialer: Redialer
  private readonly tieBreakTimers = new Map<string, NodeJS.Timeout>()
  private seedsEnabled = true

  constructor (private readonly components: DiscoveryComponents) {
    const { settings } = components
    this.redialer = new Redialer({ minMs: settings.redialMinMs, maxMs: settings.redialMaxMs, dialTimeoutMs: settings.dialTimeoutMs, logger: settings.logger })
  }

  private get settings (): ClusterSettings {
    return this.components.settings
  }

  /** Listens for mDNS discoveries (before libp2p starts, so none is missed). */
  start (): void {
    this.components.libp2p().addEventListener('peer:discovery', (event) => {
      guarded(this.settings.logger, 'peer:discovery', () => { this.onDiscovery(event.detail.id) })
    })
  }

  /** Dials the static seeds, once libp2p listens. */
  afterStart (): void {
    if (this.settings.discovery !== 'static' || !this.seedsEnabled) return
    for (const seed of this.settings.seeds) this.dialSeed(seed)
  }

  stop (): void {
    this.redialer.stop()
    for (const timer of this.tieBreakTimers.values()) clearTimeout(timer)
    this.tieBreakTimers.clear()
  }

  /** This node left its cluster: stop redialing until `rejoin()`. */
  pause (): void {
    this.redialer.stop()
  }

  /** This node joins a cluster by hand: redial again, but not the static seeds. */
  rejoin (): void {
    this.seedsEnabled = false
    this.redialer.resume()
  }

  redialMember (node: string, delayMs: number): void {
    const tieBreak = this.settings.name < node ? 0 : REDIAL_TIE_BREAK_MS
    this.redialer.want(redialKey(node), async (signal) => {
      const member = this.components.membership.get(node)
      if (member === undefined || member.status === 'up') return true
      if (member.addrs.length === 0) return false
      const connection = await raceSignal(this.components.libp2p().dial(member.addrs.map(a => multiaddr(a)), { signal }), signal)
      // Addresses may be hearsay (another member's list): done only once the node itself answered.
      return await this.components.membership.ensureHello(connection.remotePeer) === node
    }, delayMs + tieBreak)
  }

  cancelRedial (node: string): void {
    this.redialer.cancel(redialKey(node))
  }

  memberCleaned (node: string): void {
    const seed = this.settings.seeds.find(s => s.node === node)
    if (seed !== undefined && this.seedsEnabled && this.settings.discovery === 'static') this.dialSeed(seed)
  }

  private dialSeed (seed: DialAddress): void {
    if (seed.node === this.settings.name) return
    const { membership } = this.components
    this.redialer.want(seedKey(seed), async (signal) => {
      if (seed.node !== undefined && membership.isUp(seed.node)) return true
      const connection = await raceSignal(this.components.libp2p().dial(seed.multiaddr, { signal }), signal)
      const name = await membership.ensureHello(connection.remotePeer)
      if (seed.node !== undefined && name !== seed.node) this.settings.logger.warn({ seed: seed.multiaddr.toString(), expected: seed.node, actual: name }, 'seed_name_mismatch')
      return true
    }, 0)
  }

  /** mDNS: dial a discovered peer; the lower peer id dials now, the other only as a fallback. */
  private onDiscovery (peer: PeerId): void {
    if (!this.components.running() || this.settings.discovery !== 'mdns') return
    const { membership } = this.components
    const node = this.components.libp2p()
    const key = peer.toString()
    const known = membership.nameOfPeer(key)
    if (this.tieBreakTimers.has(key) || (known !== undefined && membership.isUp(known))) return
    if (node.getConnections(peer).length > 0) {
      // connected but not identified (an earlier hello failed): try the hello again
      membership.ensureHello(peer).catch((err: unknown) => { this.settings.logger.debug({ peer_id: key, err }, 'hello_failed') })
      return
    }
    const delay = node.peerId.toString() < key ? 0 : DISCOVERY_TIE_BREAK_MS
    this.tieBreakTimers.set(key, setTimeout(() => {
      this.tieBreakTimers.delete(key)
      if (!this.components.running() || node.getConnections(peer).length > 0) return
      const signal = AbortSignal.timeout(this.settings.dialTimeoutMs)
      raceSignal(node.dial(peer, { signal }), signal).catch((err: unknown) => {
        this.settings.logger.debug({ peer_id: key, err }, 'discovery_dial_failed')
      })
    }, delay))
  }
}

function redialKey (node: string): string {
  return `node:${node}`
}

function seedKey (seed: DialAddress): string {
  return `seed:${seed.multiaddr.toString()}`
}
