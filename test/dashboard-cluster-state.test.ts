/**
 * The dashboard's cluster map (web/src/cluster-state.ts): a node is up when it answered and no node
 * sees it down, down when it did not answer and no node sees it up, and partitioned when the nodes
 * that answered disagree about it.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { nodeStates } from '../web/src/cluster-state.js'
import type { NodeView } from '../web/src/types.js'

function up (name: string, sees: { up: string[], down: string[] }): NodeView {
  return { name, status: 'up', sees }
}

function states (nodes: NodeView[]): Record<string, string> {
  return Object.fromEntries(nodeStates(nodes).map(status => [status.name, status.state]))
}

describe('dashboard cluster map', () => {
  it('shows every node up when all answer and agree', () => {
    assert.deepEqual(states([up('a', { up: ['b', 'c'], down: [] }), up('b', { up: ['a', 'c'], down: [] }), up('c', { up: ['a', 'b'], down: [] })]),
      { a: 'up', b: 'up', c: 'up' })
  })

  it('shows a node down when it does not answer and nobody sees it up', () => {
    assert.deepEqual(states([up('a', { up: ['b'], down: ['c'] }), up('b', { up: ['a'], down: ['c'] }), { name: 'c', status: 'down' }]),
      { a: 'up', b: 'up', c: 'down' })
  })

  it('shows a node partitioned when some nodes see it up and others down', () => {
    // a (the page's node) lost c; b still reaches it.
    const seen = nodeStates([up('a', { up: ['b'], down: ['c'] }), up('b', { up: ['a', 'c'], down: [] }), { name: 'c', status: 'down' }])
    assert.deepEqual(seen.map(status => [status.name, status.state]), [['a', 'up'], ['b', 'up'], ['c', 'partitioned']])
    assert.deepEqual(seen[2]!.seenUpBy, ['b'])
  })

  it('shows a node that answers but that another node sees down as partitioned', () => {
    assert.deepEqual(states([up('a', { up: ['b', 'c'], down: [] }), up('b', { up: ['a'], down: ['c'] }), up('c', { up: ['a'], down: ['b'] })]),
      { a: 'up', b: 'partitioned', c: 'partitioned' })
  })

  it('lists a node only another node knows of', () => {
    assert.deepEqual(states([up('a', { up: ['b'], down: [] }), up('b', { up: ['a'], down: ['d'] })]), { a: 'up', b: 'up', d: 'down' })
  })
})
