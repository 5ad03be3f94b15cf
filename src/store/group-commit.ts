/**
 * Group commit: the one writer of the node's store. Actors append writes synchronously during
 * their turns (`put`, `del`); the writes gather and go to the store as one atomic batch, fsync'd
 * by the persistence mode (`mode` in PersistenceConfig):
 *
 * - `batch`: a commit starts `batchMs` after the first write waiting, or at once when
 *   `commitBytes` wait; `sync`: as soon as the previous commit is done. Either way writes made
 *   while a commit is under way form the next one, so one fsync covers many acks.
 * - `none` and `off`: the same batches without fsync; nothing waits for them (`immediate`).
 *
 * Every write has a sequence number (`appended`); `afterDurable(seq, done)` calls `done` once
 * every write up to `seq` is committed. The acks of QoS 1/2 publishes wait on it (see
 * SessionTurn), so an acknowledged message is on disk before its PUBACK leaves.
 *
 * Writes after `close()` (an actor's last turn as the node stops) are not kept: counted in
 * `stats.afterClose` and logged once, never thrown at the actor.
 *
 * A failed commit (disk full, I/O error) keeps its writes and is tried again every `retryMs`;
 * meanwhile `failure` is set (the broker refuses new QoS 1/2 publishes with it) and waiters keep
 * waiting: an ack not yet durable does not leave until it is. Nothing written is dropped: the
 * writes stay in order until a commit takes them.
 */
import type { PersistenceMode } from '../core/config/config.js'
import type { Logger } from '../core/log.js'
import { StoreFullError, StoreWriteError, type Store, type StoreOp } from './store.js'

export interface GroupCommitInit {
  store: Store
  mode: PersistenceMode
  batchMs: number
  commitBytes: number
  retryMs: number
  log: Logger
}

interface Waiter { seq: number, done: () => void }

/** Bytes a write is counted for beyond its key and value. */
const OP_OVERHEAD_BYTES = 32

export class GroupCommit {
  private pending: StoreOp[] = []
  private pendingBytes = 0
  private waiters: Waiter[] = []
  private appendedSeq = 0
  private durableSeq = 0
  private committing: Promise<void> | undefined
  /** A commit is due at the end of this turn. */
  private due = false
  private timer: NodeJS.Timeout | undefined
  private closed = false
  /** Set while commits fail; cleared by the next one that succeeds. */
  failure: Error | undefined
  /** Commits done, and the writes and bytes they carried (for `$SYS` and the benchmark). */
  readonly stats = { commits: 0, writes: 0, bytes: 0, failures: 0, afterClose: 0 }

  constructor (private readonly init: GroupCommitInit) {}

  /** Whether acks need not wait for commits (`none`, `off`). */
  get immediate (): boolean {
    return this.init.mode === 'none' || this.init.mode === 'off'
  }

  /** Sequence number of the last write appended. */
  get appended (): number {
    return this.appendedSeq
  }

  /** Sequence number of the last write committed. */
  get committed (): number {
    return this.durableSeq
  }

  /** Bytes of writes waiting for a commit. */
  get waitingBytes (): number {
    return this.pendingBytes
  }

  put (key: string, value: Uint8Array): number {
    return this.append({ type: 'put', key, value }, key.length + value.byteLength)
  }

  del (key: string): number {
    return this.append({ type: 'del', key }, key.length)
  }

  /** Calls `done` once every write up to `seq` is committed (at once when it is, or when `immediate`). */
  afterDurable (seq: number, done: () => void): void {
    if (this.immediate || seq <= this.durableSeq) {
      done()
      return
    }
    this.waiters.push({ seq, done })
  }

  /** Commits everything appended so far; resolves when it is written (rejects while the store fails). */
  async flush (): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    while (this.committing !== undefined || this.pending.length > 0) {
      if (this.committing !== undefined) await this.committing
      else await this.commit()
      if (this.failure !== undefined) throw this.failure
    }
  }

  /** Commits what waits and stops; later writes are refused. */
  async close (): Promise<void> {
    try {
      await this.flush()
    } finally {
      this.closed = true
      clearTimeout(this.timer)
      this.timer = undefined
    }
  }

  private append (op: StoreOp, size: number): number {
    if (this.closed) {
      if (this.stats.afterClose++ === 0) this.init.log.warn({ key: op.key.slice(0, 200) }, 'store_write_after_close')
      return this.appendedSeq
    }
    this.pending.push(op)
    this.pendingBytes += size + OP_OVERHEAD_BYTES
    this.appendedSeq++
    this.schedule()
    return this.appendedSeq
  }

  private schedule (): void {
    if (this.committing !== undefined || this.failure !== undefined || this.due) return
    if (this.init.mode === 'sync' || this.pendingBytes >= this.init.commitBytes) {
      clearTimeout(this.timer)
      this.timer = undefined
      // At this turn's end, so the writes of one turn go together.
      this.due = true
      queueMicrotask(() => {
        this.due = false
        void this.commit()
      })
      return
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined
      void this.commit()
    }, this.init.batchMs)
  }

  private async commit (): Promise<void> {
    if (this.committing !== undefined) return
    const ops = this.pending
    const bytes = this.pendingBytes
    const seq = this.appendedSeq
    if (ops.length === 0) return
    this.pending = []
    this.pendingBytes = 0
    const sync = this.init.mode === 'batch' || this.init.mode === 'sync'
    const done = this.init.store.write(ops, { sync })
    this.committing = done.then(() => {}, () => {})
    try {
      await done
    } catch (err) {
      this.failed(ops, bytes, err)
      return
    }
    this.committing = undefined
    this.stats.commits++
    this.stats.writes += ops.length
    this.stats.bytes += bytes
    if (this.failure !== undefined) {
      this.init.log.warn({ failures: this.stats.failures }, 'store_write_recovered')
      this.failure = undefined
    }
    this.durableSeq = seq
    this.release(seq)
    if (this.pending.length > 0) this.schedule()
  }

  /** A commit failed: its writes go back in front of those since, to be tried again after `retryMs`. */
  private failed (ops: StoreOp[], bytes: number, err: unknown): void {
    const error = err instanceof StoreFullError || err instanceof StoreWriteError
      ? err
      : new StoreWriteError(`store write failed: ${(err as Error).message}`, { cause: err })
    this.stats.failures++
    if (this.failure === undefined) this.init.log.error({ err: error, writes: ops.length }, 'store_write_failed')
    this.failure = error
    this.pending = ops.concat(this.pending)
    this.pendingBytes += bytes
    this.committing = undefined
    if (!this.closed) {
      this.timer = setTimeout(() => {
        this.timer = undefined
        void this.commit()
      }, this.init.retryMs)
    }
  }

  private release (seq: number): void {
    if (this.waiters.length === 0) return
    const due = this.waiters.filter(waiter => waiter.seq <= seq)
    if (due.length === 0) return
    this.waiters = this.waiters.filter(waiter => waiter.seq > seq)
    for (const waiter of due) waiter.done()
  }
}
