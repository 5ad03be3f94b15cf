/**
 * The in-memory backend: `persistence.mode` `off`, and the reference the contract suite holds the
 * disk backend to. Nothing survives the process. Values are copied in and out, as a disk backend's
 * would be, so a caller reusing a buffer cannot change what is stored.
 */
import type { Store, StoreOp, WriteOptions } from './store.js'

export class MemoryStore implements Store {
  readonly location = undefined
  private readonly map = new Map<string, Uint8Array>()
  private sorted: string[] | undefined
  private opened = false

  async open (): Promise<void> {
    this.opened = true
  }

  async write (ops: readonly StoreOp[], _options: WriteOptions): Promise<void> {
    this.assertOpen()
    for (const op of ops) {
      if (op.type === 'put') {
        if (!this.map.has(op.key)) this.sorted = undefined
        this.map.set(op.key, Uint8Array.prototype.slice.call(op.value))
      } else if (this.map.delete(op.key)) {
        this.sorted = undefined
      }
    }
  }

  async get (key: string): Promise<Uint8Array | undefined> {
    this.assertOpen()
    const value = this.map.get(key)
    return value === undefined ? undefined : value.slice()
  }

  async * entries (prefix: string): AsyncIterable<[string, Uint8Array]> {
    this.assertOpen()
    this.sorted ??= [...this.map.keys()].sort(compareUtf8)
    for (const key of this.sorted.filter(key => key.startsWith(prefix))) {
      const value = this.map.get(key)
      if (value !== undefined) yield [key, value.slice()]
    }
  }

  async close (): Promise<void> {
    this.opened = false
  }

  private assertOpen (): void {
    if (!this.opened) throw new Error('store is not open')
  }
}

/** Orders keys as their UTF-8 bytes (what a disk backend's byte order gives). */
export function compareUtf8 (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}
