/** Topics and routes: the cluster's route table (filter → nodes with a subscriber) and the retained messages. */
import type { Api } from './api.js'
import { byId, fill, h } from './dom.js'
import type { Page, RetainedView, RouteView } from './types.js'

const LIMIT = 100

export class TopicsPanel {
  private readonly routes = byId('routes-rows', HTMLTableSectionElement)
  private readonly retained = byId('retained-rows', HTMLTableSectionElement)
  private readonly status = byId('topics-status', HTMLElement)
  private readonly filter = byId('retained-filter', HTMLInputElement)

  constructor (private readonly api: Api) {
    byId('topics-form', HTMLFormElement).addEventListener('submit', event => { event.preventDefault(); void this.load() })
  }

  async load (): Promise<void> {
    try {
      const topic = this.filter.value === '' ? '#' : this.filter.value
      const [routes, retained] = await Promise.all([
        this.api.get<Page<RouteView>>(`/api/v1/routes?limit=${LIMIT}`),
        this.api.get<Page<RetainedView>>(`/api/v1/retained?limit=${LIMIT}&topic=${encodeURIComponent(topic)}`)
      ])
      fill(this.routes, ...routes.data.map(route => h('tr', {}, h('td', {}, route.filter), h('td', {}, route.nodes.join(', ')))))
      fill(this.retained, ...retained.data.map(message => h('tr', {},
        h('td', {}, message.topic), h('td', { class: 'num' }, message.qos),
        h('td', { class: 'payload' }, message.encoding === 'base64' ? `base64 ${message.payload}` : message.payload),
        h('td', { class: 'num' }, message.payloadBytes))))
      fill(this.status, `${routes.meta.count} routes · ${retained.meta.count} retained (first ${LIMIT} shown)`)
    } catch (err) {
      fill(this.status, `could not read routes: ${(err as Error).message}`)
    }
  }
}
