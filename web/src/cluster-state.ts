/**
 * What the cluster map shows of each node, from the node list of the node the page talks to and
 * each answering node's own view of the others (`sees`): `up` when it answered and no node sees it
 * down, `down` when it did not answer and no node sees it up, `partitioned` when the nodes disagree
 * (some see it up, others down: a split, or a failure not yet detected everywhere).
 */
import type { NodeView } from './types.js'

export type NodeState = 'up' | 'down' | 'partitioned'

export interface NodeStatus {
  name: string
  state: NodeState
  /** Nodes up that see it up, and that see it down (itself excluded). */
  seenUpBy: string[]
  seenDownBy: string[]
  /** Its own answer, when it gave one. */
  view: NodeView | undefined
}

export function nodeStates (nodes: readonly NodeView[]): NodeStatus[] {
  const answered = nodes.filter(node => node.status === 'up')
  const names = new Set(nodes.map(node => node.name))
  for (const node of answered) for (const name of [...node.sees?.up ?? [], ...node.sees?.down ?? []]) names.add(name)
  return [...names].sort().map(name => {
    const view = answered.find(node => node.name === name)
    const others = answered.filter(node => node.name !== name)
    const seenUpBy = others.filter(node => node.sees?.up.includes(name) === true).map(node => node.name)
    const seenDownBy = others.filter(node => node.sees?.down.includes(name) === true).map(node => node.name)
    const state: NodeState = view !== undefined
      ? (seenDownBy.length > 0 ? 'partitioned' : 'up')
      : (seenUpBy.length > 0 ? 'partitioned' : 'down')
    return { name, state, seenUpBy, seenDownBy, view }
  })
}
