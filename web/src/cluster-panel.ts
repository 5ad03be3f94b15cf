/** The cluster map: a card per node (state, numbers) and its forward links to each peer. */
import { compact, duration, fill, h } from './dom.js'
import { nodeStates, type NodeStatus } from './cluster-state.js'
import type { LinkView, NodeView } from './types.js'

function linkRow (link: LinkView): HTMLElement {
  const state = link.connected ? (link.pending + link.inflight > 0 ? 'backlog' : 'connected') : 'pending'
  return h('li', { class: `link ${state}`, 'data-peer': link.peer },
    h('span', { class: 'dot' }), link.peer, ' ',
    h('span', { class: 'muted' }, link.connected ? 'connected' : 'not connected'),
    link.pending + link.inflight > 0 ? h('span', { class: 'badge' }, `${link.pending} pending · ${link.inflight} unacked · ${compact(link.bytes)}B`) : null)
}

function card (status: NodeStatus, self: string): HTMLElement {
  const view = status.view
  const note = status.state === 'partitioned'
    ? (status.seenDownBy.length > 0 ? `seen down by ${status.seenDownBy.join(', ')}` : `not answering here; seen up by ${status.seenUpBy.join(', ')}`)
    : null
  return h('article', { class: `node ${status.state}`, 'data-node': status.name, 'data-state': status.state },
    h('header', {}, h('span', { class: 'dot' }), h('strong', {}, status.name), status.name === self ? h('span', { class: 'badge' }, 'this page') : null,
      h('span', { class: 'state' }, status.state)),
    note === null ? null : h('p', { class: 'warn' }, note),
    view === undefined
      ? h('p', { class: 'muted' }, 'no answer')
      : h('dl', {},
        h('dt', {}, 'uptime'), h('dd', {}, duration(view.uptimeSeconds ?? 0)),
        h('dt', {}, 'connections'), h('dd', {}, compact(view.connections ?? 0)),
        h('dt', {}, 'sessions'), h('dd', {}, compact(view.sessions ?? 0)),
        h('dt', {}, 'subscriptions'), h('dd', {}, compact(view.subscriptions ?? 0)),
        h('dt', {}, 'routes'), h('dd', {}, compact(view.routes ?? 0)),
        h('dt', {}, 'version'), h('dd', {}, view.version ?? '')),
    view?.links === undefined || view.links.length === 0 ? null : h('ul', { class: 'links' }, ...view.links.map(linkRow)))
}

export function renderCluster (container: Element, summary: Element, nodes: readonly NodeView[], self: string): void {
  const states = nodeStates(nodes)
  fill(container, ...states.map(status => card(status, self)))
  const count = (state: string): number => states.filter(status => status.state === state).length
  fill(summary, `${count('up')} up · ${count('down')} down · ${count('partitioned')} partitioned`)
}
