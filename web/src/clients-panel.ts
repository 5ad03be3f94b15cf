/** Clients: search by client id prefix and username, a page at a time, kick (after a confirm). */
import { ApiError, type Api } from './api.js'
import { byId, fill, h } from './dom.js'
import type { ClientView, Page } from './types.js'

const PAGE_SIZE = 25

export class ClientsPanel {
  private page = 1
  private readonly form = byId('clients-form', HTMLFormElement)
  private readonly prefix = byId('clients-prefix', HTMLInputElement)
  private readonly username = byId('clients-username', HTMLInputElement)
  private readonly rows = byId('clients-rows', HTMLTableSectionElement)
  private readonly status = byId('clients-status', HTMLElement)
  private readonly previous = byId('clients-previous', HTMLButtonElement)
  private readonly next = byId('clients-next', HTMLButtonElement)

  constructor (private readonly api: Api) {
    this.form.addEventListener('submit', event => { event.preventDefault(); this.page = 1; void this.load() })
    this.previous.addEventListener('click', () => { this.page = Math.max(1, this.page - 1); void this.load() })
    this.next.addEventListener('click', () => { this.page++; void this.load() })
  }

  async load (): Promise<void> {
    const query = new URLSearchParams({ page: String(this.page), limit: String(PAGE_SIZE) })
    if (this.prefix.value !== '') query.set('clientid', this.prefix.value)
    if (this.username.value !== '') query.set('username', this.username.value)
    try {
      const result = await this.api.get<Page<ClientView>>(`/api/v1/clients?${query.toString()}`)
      fill(this.rows, ...result.data.map(client => this.row(client)))
      const pages = Math.max(1, Math.ceil(result.meta.count / PAGE_SIZE))
      fill(this.status, `${result.meta.count} clients · page ${this.page} of ${pages}`)
      this.previous.disabled = this.page <= 1
      this.next.disabled = this.page >= pages
    } catch (err) {
      fill(this.status, `could not list clients: ${(err as Error).message}`)
    }
  }

  private row (client: ClientView): HTMLTableRowElement {
    const kick = h('button', { type: 'button', class: 'danger' }, 'kick')
    kick.addEventListener('click', () => { void this.kick(client.clientId) })
    return h('tr', { 'data-clientid': client.clientId },
      h('td', {}, client.clientId), h('td', {}, client.node), h('td', {}, client.username ?? ''),
      h('td', {}, client.connected ? 'connected' : 'offline'), h('td', {}, client.remoteAddress ?? ''),
      h('td', {}, client.protocolVersion === 5 ? '5' : client.protocolVersion === undefined ? '' : '3.1.1'),
      h('td', { class: 'num' }, client.subscriptions ?? 0), h('td', { class: 'num' }, (client.inflight ?? 0) + (client.queued ?? 0)),
      h('td', {}, kick))
  }

  private async kick (clientId: string): Promise<void> {
    if (!confirm(`Kick ${clientId}? Its connection is closed and its session ended, a persistent one too.`)) return
    try {
      await this.api.remove(`/api/v1/clients/${encodeURIComponent(clientId)}`)
      fill(this.status, `kicked ${clientId}`)
    } catch (err) {
      fill(this.status, err instanceof ApiError && err.status === 404 ? `${clientId} is gone already` : `kick failed: ${(err as Error).message}`)
    }
    await this.load()
  }
}
