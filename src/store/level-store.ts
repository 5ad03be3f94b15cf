/**
 * The disk backend: LevelDB (classic-level) in a directory (`<node.dataDir>/store`). Chosen over
 * lmdb and SQLite in bench/results/2026-11-30-store-candidates.md: its commits and fsyncs run on
 * libuv's thread pool, never on the event loop; its write-ahead log and block checksums let a
 * truncated or damaged store be reported and repaired (`ClassicLevel.repair`) rather than crash
 * the process; and the npm package carries its prebuilt binaries.
 *
 * Keys are UTF-8 strings, values byte strings; LevelDB orders keys by their bytes. A batch is
 * LevelDB's atomic write batch, fsync'd when `sync` is asked. LevelDB refuses every write after a
 * failed flush of its own (disk full while writing a table file) until it is reopened, so a write
 * after one that failed reopens the database first.
 */
import { ClassicLevel } from 'classic-level'
import { StoreCorruptError, StoreFullError, StoreLockedError, StoreWriteError, type Store, type StoreOp, type WriteOptions } from './store.js'

type Db = ClassicLevel<string, Uint8Array>
type LevelIterator = { next: () => Promise<[string, Uint8Array] | undefined>, close: () => Promise<void> }

export interface LevelStoreOptions {
  /** Creates the store when the directory holds none (default); `false` for check and repair. */
  createIfMissing?: boolean
}

export class LevelStore implements Store {
  private db: Db | undefined
  /** A write failed: the next one reopens the database first. */
  private reopen = false

  constructor (readonly location: string, private readonly options: LevelStoreOptions = {}) {}

  /**
   * Rejects with `StoreLockedError` when a process holds the store in `location`, without opening
   * it: LevelDB takes the lock first and refuses an existing store under `errorIfExists` before it
   * reads (and rewrites) anything.
   */
  static async assertUnlocked (location: string): Promise<void> {
    const db = new ClassicLevel(location, { createIfMissing: false, errorIfExists: true })
    try {
      await db.open()
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause ?? err
      if (codeOf(cause) === 'LEVEL_LOCKED') throw new StoreLockedError(location, { cause: err })
      return
    }
    await db.close()
  }

  async open (): Promise<void> {
    const db = new ClassicLevel<string, Uint8Array>(this.location, {
      keyEncoding: 'utf8',
      valueEncoding: 'view',
      createIfMissing: this.options.createIfMissing ?? true
    })
    try {
      await db.open()
    } catch (err) {
      throw this.openError(err)
    }
    this.db = db
  }

  async write (ops: readonly StoreOp[], options: WriteOptions): Promise<void> {
    if (this.reopen) await this.reopenAfterFailure()
    const db = this.opened()
    try {
      // A chained batch: each put and del goes into LevelDB's batch (copied) as it is made, at a
      // ninth of the event loop time of the array form (bench/results/2026-11-30-store-candidates.md).
      const batch = db.batch()
      for (const op of ops) {
        if (op.type === 'put') batch.put(op.key, op.value)
        else batch.del(op.key)
      }
      await batch.write({ sync: options.sync })
    } catch (err) {
      this.reopen = true
      if (isDiskFull(err)) throw new StoreFullError(this.location, { cause: err })
      throw new StoreWriteError(`store write failed at ${this.location}: ${(err as Error).message}`, { cause: err })
    }
  }

  async get (key: string): Promise<Uint8Array | undefined> {
    try {
      return await this.opened().get(key)
    } catch (err) {
      throw this.readError(err)
    }
  }

  async * entries (prefix: string): AsyncIterable<[string, Uint8Array]> {
    const iterator = this.opened().iterator(prefix === '' ? {} : { gte: prefix })
    try {
      for (let entry = await this.next(iterator); entry !== undefined && entry[0].startsWith(prefix); entry = await this.next(iterator)) {
        yield entry
      }
    } finally {
      await iterator.close()
    }
  }

  private async next (iterator: LevelIterator): Promise<[string, Uint8Array] | undefined> {
    try {
      return await iterator.next()
    } catch (err) {
      throw this.readError(err)
    }
  }

  async close (): Promise<void> {
    const db = this.db
    this.db = undefined
    await db?.close()
  }

  private opened (): Db {
    if (this.db === undefined || this.db.status !== 'open') throw new Error(`the store at ${this.location} is not open`)
    return this.db
  }

  private async reopenAfterFailure (): Promise<void> {
    this.reopen = false
    await this.db?.close().catch(() => {})
    this.db = undefined
    try {
      await this.open()
    } catch (err) {
      this.reopen = true
      if (isDiskFull(err)) throw new StoreFullError(this.location, { cause: err })
      throw err
    }
  }

  private openError (err: unknown): Error {
    const cause = (err as { cause?: unknown }).cause ?? err
    if (codeOf(cause) === 'LEVEL_LOCKED') return new StoreLockedError(this.location, { cause: err })
    if (isDiskFull(cause)) return new StoreFullError(this.location, { cause: err })
    if (isCorruption(cause)) return new StoreCorruptError(this.location, messageOf(cause), { cause })
    return err instanceof Error ? err : new Error(String(err))
  }

  private readError (err: unknown): Error {
    if (isCorruption(err)) return new StoreCorruptError(this.location, messageOf(err), { cause: err })
    return err instanceof Error ? err : new Error(String(err))
  }
}

function codeOf (err: unknown): unknown {
  return (err as { code?: unknown } | undefined)?.code
}

function messageOf (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function isDiskFull (err: unknown): boolean {
  return codeOf(err) === 'ENOSPC' || /No space left on device/i.test(messageOf(err))
}

/**
 * LevelDB reports a damaged file as `Corruption: …`, and a table or log cut short or gone as an
 * I/O error naming the file ("….ldb: Invalid argument", "MANIFEST-…: No such file").
 */
function isCorruption (err: unknown): boolean {
  const message = messageOf(err)
  if (codeOf(err) === 'LEVEL_CORRUPTION' || /Corruption/.test(message)) return true
  return /\.(ldb|sst|log)\b|MANIFEST|CURRENT/.test(message) && !/Permission denied/.test(message)
}
