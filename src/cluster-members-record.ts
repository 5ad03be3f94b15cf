/**
 * Keeps the names of the node's cluster members in its store (`m/members`), rewritten when a
 * member comes up, leaves or is cleaned, or the node leaves its cluster. A restarted node reads it
 * to know whether it was in a cluster: a standalone node publishes the wills of clients it held
 * when it went down, in a cluster the other members do (cluster-wills.ts).
 */
import type { ClusterNetwork } from '../network/cluster.js'
import type { GroupCommit } from './store/group-commit.js'
import { MEMBERS_KEY, encodeMembers } from './store/records.js'

export function recordMembers (network: ClusterNetwork, commit: GroupCommit, self: string, remembered: readonly string[]): void {
  let last = JSON.stringify([...remembered].sort())
  const write = (): void => {
    const { runningNodes, stoppedNodes } = network.status()
    const members = [...runningNodes, ...stoppedNodes].filter(name => name !== self).sort()
    const text = JSON.stringify(members)
    if (text === last) return
    last = text
    commit.put(MEMBERS_KEY, encodeMembers(members))
  }
  for (const event of ['node-up', 'node-left', 'node-cleaned', 'left'] as const) network.addEventListener(event, write)
}
