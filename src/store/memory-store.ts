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
    await Promise.resolve()
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
    await Promise.resolve()
  }

  async get (key: string): Promise<Uint8Array | undefined> {
    this.assertOpen()
    const value = this.map.get(key)
    return await Promise.resolve(value === undefined ? undefined : value.slice())
  }

  /** The entries under `prefix` as they are at the call. */
  entries (prefix: string): AsyncIterable<[string, Uint8Array]> {
    this.assertOpen()
    this.sorted ??= [...this.map.keys()].sort(compareUtf8)
    const found: Array<[string, Uint8Array]> = []
    for (const key of this.sorted) {
      const value = key.startsWith(prefix) ? this.map.get(key) : undefined
      if (value !== undefined) found.push([key, value.slice()])
    }
    return asyncIterable(found)
  }

  async close (): Promise<void> {
    this.opened = false
    await Promise.resolve()
  }

  private assertOpen (): void {
    if (!this.opened) throw new Error('store is not open')
  }
}

function asyncIterable<T> (items: readonly T[]): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]: () => {
      let index = 0
      return { next: async () => await Promise.resolve(index < items.length ? { value: items[index++]!, done: false } : { value: undefined, done: true as const }) }
    }
  }
}

/** Orders keys as their UTF-8 bytes (what a disk backend's byte order gives). */
export function compareUtf8 (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}
