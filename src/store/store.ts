/**
 * The storage interface every backend implements (in the spirit of aedes-persistence's abstract
 * interface): an ordered key-value store of byte values under string keys, written in atomic
 * batches. Keys are compared as UTF-8 bytes; `entries(prefix)` yields in that order. The records
 * the broker keeps in it and their keys are in records.ts; the group commit that feeds it is
 * group-commit.ts. Every backend passes the contract suite, test/helpers/store-contract.ts.
 */

/** One write of a batch. */
export type StoreOp =
  | { type: 'put', key: string, value: Uint8Array }
  | { type: 'del', key: string }

export interface WriteOptions {
  /** Whether the batch is on disk (fsync'd) when the returned promise resolves. */
  sync: boolean
}

export interface Store {
  /** Where the store lives (a directory), undefined for the in-memory backend. */
  readonly location: string | undefined
  /** Opens the store; rejects with `StoreCorruptError` when it cannot be read, `StoreLockedError` when another process has it. */
  open: () => Promise<void>
  /** Writes the batch atomically: all of it or none of it is there after a crash. Rejects with `StoreFullError` when the disk is full. */
  write: (ops: readonly StoreOp[], options: WriteOptions) => Promise<void>
  get: (key: string) => Promise<Uint8Array | undefined>
  /** The entries whose key starts with `prefix`, in key order. */
  entries: (prefix: string) => AsyncIterable<[string, Uint8Array]>
  close: () => Promise<void>
}

/** What `check` found: ok, or the problem in words an operator can act on. */
export interface StoreCheckReport {
  ok: boolean
  /** Records read. */
  records: number
  problems: string[]
}

/** The store's files cannot be read as a store (truncated, corrupted): the node does not start on it. */
export class StoreCorruptError extends Error {
  override name = 'StoreCorruptError'
  constructor (readonly location: string, detail: string, options?: ErrorOptions) {
    super(`the store at ${location} cannot be read (${detail}); run 'meshmq ctl store check --data-dir <dir>' and 'meshmq ctl store repair --data-dir <dir>' (see README, Persistence)`, options)
  }
}

/** Another process holds the store open. */
export class StoreLockedError extends Error {
  override name = 'StoreLockedError'
  constructor (readonly location: string, options?: ErrorOptions) {
    super(`the store at ${location} is in use by another process (is another meshmq running with this data directory?)`, options)
  }
}

/** A write failed because the disk (or the file system's quota) is full. */
export class StoreFullError extends Error {
  override name = 'StoreFullError'
  constructor (readonly location: string | undefined, options?: ErrorOptions) {
    super(`the store at ${location ?? '(memory)'} cannot be written: no space left on the device`, options)
  }
}

/** A write failed for another reason (I/O error): the node stops acknowledging what it cannot keep. */
export class StoreWriteError extends Error {
  override name = 'StoreWriteError'
}
