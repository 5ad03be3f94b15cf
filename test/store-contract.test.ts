/** Every store backend against the contract of src/store/store.ts (test/helpers/store-contract.ts). */
import { diskStoreContract, storeContract } from './helpers/store-contract.js'
import { LevelStore } from '../src/store/level-store.js'
import { MemoryStore } from '../src/store/memory-store.js'

storeContract('MemoryStore', () => new MemoryStore())
storeContract('LevelStore', dir => new LevelStore(dir))
diskStoreContract('LevelStore', dir => new LevelStore(dir))
