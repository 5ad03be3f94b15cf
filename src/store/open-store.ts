/**
 * The node's store by its persistence mode: in memory for `off`, else LevelDB in
 * `<node.dataDir>/store` (created, owner only), opened. Rejects as `Store.open` does
 * (`StoreCorruptError`, `StoreLockedError`): the node does not start on a store it cannot read.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { BrokerConfig } from '../core/config/config.js'
import type { Logger } from '../core/log.js'
import { LevelStore } from './level-store.js'
import { MemoryStore } from './memory-store.js'
import type { Store } from './store.js'

/** The store's directory under a node's data directory. */
export function storeDirectory (dataDir: string): string {
  return join(dataDir, 'store')
}

export async function openStore (config: BrokerConfig, log: Logger): Promise<Store> {
  if (config.persistence.mode === 'off') {
    const store = new MemoryStore()
    await store.open()
    return store
  }
  const location = storeDirectory(config.node.dataDir)
  await mkdir(location, { recursive: true, mode: 0o700 })
  const store = new LevelStore(location)
  await store.open()
  log.info({ location, mode: config.persistence.mode }, 'store_opened')
  return store
}
