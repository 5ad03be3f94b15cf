/**
 * The libp2p node under the cluster: TCP, noise (its handshake bound to the cluster secret), yamux, identify
 * (gossipsub needs it for its topology), gossipsub for the route control plane, and mDNS when that
 * discovery is chosen. Created stopped, so protocol handlers can be registered before it listens.
 *
 * Gossipsub for libp2p 3 is `@libp2p/gossipsub`; `@chainsafe/libp2p-gossipsub` 14 is built for
 * libp2p 2 and on libp2p 3 silently never sees a subscriber.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import { mdns } from '@libp2p/mdns'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { PrivateKey, Stream } from '@libp2p/interface'
import { raceSignal } from './abort.js'
import type { DialProtocol } from './request-response.js'

export type ClusterLibp2p = Libp2p<{ identify: Identify, pubsub: GossipSub }>

export interface ClusterLibp2pInit {
  privateKey: PrivateKey
  listenHost: string
  port: number
  /** Noise prologue (see `prologueFromSecret`): only nodes with the same one can connect. */
  prologue: Uint8Array
  mdns?: { serviceTag: string, intervalMs: number }
  /** Inbound connections accepted per second from one host. */
  inboundConnectionThreshold: number
  dialTimeoutMs: number
}

export async function createClusterLibp2p (init: ClusterLibp2pInit): Promise<ClusterLibp2p> {
  const host = init.listenHost.includes(':') ? `/ip6/${init.listenHost}` : `/ip4/${init.listenHost}`
  return await createLibp2p({
    start: false,
    privateKey: init.privateKey,
    addresses: { listen: [`${host}/tcp/${init.port}`] },
    transports: [tcp()],
    connectionEncrypters: [noise({ prologueBytes: init.prologue })],
    streamMuxers: [yamux()],
    connectionManager: {
      inboundConnectionThreshold: init.inboundConnectionThreshold,
      dialTimeout: init.dialTimeoutMs
    },
    peerDiscovery: init.mdns === undefined ? [] : [mdns({ serviceTag: init.mdns.serviceTag, interval: init.mdns.intervalMs })],
    services: {
      identify: identify(),
      // Unsigned: only members can connect (the cluster secret), and a message about a node counts
      // only when it comes directly from that node's peer id, never relayed (`control-trust.ts`).
      // Signing and verifying every route change with Ed25519 cost each node about 0.3 ms of CPU
      // per change (profile of the convergence bench), on the path that gates a new subscriber's
      // first delivery. See `gossip-envelope.ts`.
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false, globalSignaturePolicy: 'StrictNoSign' })
    }
  })
}

/**
 * `dialProtocol` of the node `node()` returns, bounded by the caller's signal: a stream that opens
 * after the caller gave up is aborted.
 */
export function boundedDialProtocol (node: () => ClusterLibp2p): DialProtocol {
  return async (peer, protocol, options) => await raceSignal(node().dialProtocol(peer, protocol, options), options.signal, discardStream)
}

function discardStream (stream: Stream): void {
  stream.abort(new Error('opened after its caller gave up'))
}
