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
 * A record under a key never written before (`putNew`: a delivery's or a forwarded message's,
 * numbered from one sequence) is encoded only when its commit starts, and when it is deleted
 * before then (the subscriber or the peer acknowledged it within the window) neither the put nor
 * the delete reaches the store (`stats.cancelled`): a QoS 1 message acknowledged at once costs
 * no I/O.
 *
 * Every write has a sequence number (`appended`); `afterDurable(seq, done)` calls `done` once
 * every write up to `seq` is committed. The acks of QoS 1/2 publishes wait on it (see
 * SessionTurn), so an acknowledged message is on disk before its PUBACK leaves.
 * `afterSettled(from, to, done)` waits only for the writes numbered in (from, to]: each is either
 * committed or cancelled. A trie shard's routing turn appends the records of its messages in one
 * such range (deliveries to persistent sessions, messages queued for other nodes), so a QoS 1
 * PUBACK leaves when they are on disk or when the subscribers and peers acknowledged them,
 * whichever comes first, without waiting for other clients' writes.
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

/** Waits for the writes of a range: `live` of them still pending, and the commit `inFlight` (0: none) that took the others. */
interface RangeWaiter { live: number, inFlight: number, done: () => void }

/**
 * A write waiting for its commit: a put's value may be encoded only when the commit starts. `seq`
 * is the sequence number it was appended with; `waiters` wait for it to be committed or cancelled.
 */
type PendingOp = (
  | { type: 'put', key: string, value: Uint8Array | (() => Uint8Array), size: number }
  | { type: 'del', key: string, size: number }
) & { seq: number, waiters?: RangeWaiter[] }

/** Bytes a write is counted for beyond its key and value. */
const OP_OVERHEAD_BYTES = 32

export class GroupCommit {
  /** Writes in order; a cancelled fresh put leaves a hole. */
  private pending: Array<PendingOp | undefined> = []
  private pendingBytes = 0
  /** Keys never written before, put since the last commit started: their index in `pending`. */
  private readonly fresh = new Map<string, number>()
  private waiters: Waiter[] = []
  /** Range waiters whose pending writes are all settled, waiting only for the commit in flight. */
  private inFlightWaiters: RangeWaiter[] = []
  private appendedSeq = 0
  private durableSeq = 0
  private committing: Promise<void> | undefined
  /** Sequence number the commit in flight covers (0 when none is). */
  private committingSeq = 0
  /** A commit is due at the end of this turn. */
  private due = false
  private timer: NodeJS.Timeout | undefined
  private closed = false
  /** Set while commits fail; cleared by the next one that succeeds. */
  failure: Error | undefined
  /** Commits done, and the writes and bytes they carried (for `$SYS` and the benchmark). */
  readonly stats = { commits: 0, writes: 0, bytes: 0, failures: 0, afterClose: 0, cancelled: 0 }

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
    const index = this.fresh.get(key)
    const op = index === undefined ? undefined : this.pending[index]
    if (op?.type !== 'put') return this.append({ type: 'put', key, value, size: key.length + value.byteLength + OP_OVERHEAD_BYTES, seq: 0 })
    // Still waiting, never written: the new value replaces it (and a delete can still cancel it).
    const size = key.length + value.byteLength + OP_OVERHEAD_BYTES
    this.pendingBytes += size - op.size
    op.value = value
    op.size = size
    return this.advance()
  }

  /** Puts a record under a key never written before, `encode`d when its commit starts; `bytes` is about its size. */
  putNew (key: string, encode: () => Uint8Array, bytes: number): number {
    const seq = this.append({ type: 'put', key, value: encode, size: key.length + bytes + OP_OVERHEAD_BYTES, seq: 0 })
    if (!this.closed) this.fresh.set(key, this.pending.length - 1)
    return seq
  }

  del (key: string): number {
    const index = this.fresh.get(key)
    const op = index === undefined ? undefined : this.pending[index]
    if (index === undefined || op === undefined) return this.append({ type: 'del', key, size: key.length + OP_OVERHEAD_BYTES, seq: 0 })
    // Put and deleted before any commit took it: neither reaches the store.
    this.fresh.delete(key)
    this.pending[index] = undefined
    this.pendingBytes -= op.size
    this.stats.cancelled++
    if (op.waiters !== undefined) this.settled(op.waiters)
    return this.advance()
  }

  /** Calls `done` once every write up to `seq` is committed (at once when it is, or when `immediate`). */
  afterDurable (seq: number, done: () => void): void {
    if (this.immediate || seq <= this.durableSeq) {
      done()
      return
    }
    this.waiters.push({ seq, done })
  }

  /**
   * Calls `done` once each write numbered in (from, to] is committed or cancelled (at once when
   * they are, or when `immediate`). The range must be of writes appended in one turn.
   */
  afterSettled (from: number, to: number, done: () => void): void {
    if (this.immediate || to <= this.durableSeq || to <= from) {
      done()
      return
    }
    const waiter: RangeWaiter = { live: 0, inFlight: from < this.committingSeq ? this.committingSeq : 0, done }
    // The range's writes are the newest ones still pending (or taken by the commit in flight).
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const op = this.pending[i]
      if (op === undefined) continue
      if (op.seq <= from) break
      if (op.seq > to) continue
      waiter.live++
      ;(op.waiters ??= []).push(waiter)
    }
    if (waiter.live > 0) return
    if (waiter.inFlight === 0) done()
    else this.inFlightWaiters.push(waiter)
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

  private append (op: PendingOp): number {
    if (this.closed) {
      if (this.stats.afterClose++ === 0) this.init.log.warn({ key: op.key.slice(0, 200) }, 'store_write_after_close')
      return this.appendedSeq
    }
    this.pending.push(op)
    this.pendingBytes += op.size
    op.seq = this.advance()
    return op.seq
  }

  /** A write was appended (or replaced or cancelled one): it has the next sequence number. */
  private advance (): number {
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
    const pending = this.pending
    const bytes = this.pendingBytes
    const seq = this.appendedSeq
    if (pending.length === 0) return
    this.pending = []
    this.pendingBytes = 0
    this.fresh.clear()
    const ops: StoreOp[] = []
    const taken: PendingOp[] = []
    for (const op of pending) {
      if (op === undefined) continue
      if (op.type === 'put' && typeof op.value === 'function') op.value = op.value()
      ops.push(op.type === 'del' ? { type: 'del', key: op.key } : { type: 'put', key: op.key, value: op.value as Uint8Array })
      taken.push(op)
    }
    if (ops.length === 0) {
      // Every write of the window cancelled out: durable as it is.
      this.durableSeq = seq
      this.release(seq)
      if (this.pending.length > 0) this.schedule()
      return
    }
    const sync = this.init.mode === 'batch' || this.init.mode === 'sync'
    const done = this.init.store.write(ops, { sync })
    this.committing = done.then(() => {}, () => {})
    this.committingSeq = seq
    try {
      await done
    } catch (err) {
      this.failed(taken, bytes, err)
      return
    }
    this.committing = undefined
    this.committingSeq = 0
    this.stats.commits++
    this.stats.writes += ops.length
    this.stats.bytes += bytes
    if (this.failure !== undefined) {
      this.init.log.warn({ failures: this.stats.failures }, 'store_write_recovered')
      this.failure = undefined
    }
    this.durableSeq = seq
    for (const op of taken) if (op.waiters !== undefined) this.settled(op.waiters)
    this.release(seq)
    if (this.pending.length > 0) this.schedule()
  }

  /**
   * A commit failed: its writes (with their waiters) go back in front of those since, to be tried
   * again after `retryMs`; range waiters on it wait until a commit gets past it.
   */
  private failed (taken: PendingOp[], bytes: number, err: unknown): void {
    const error = err instanceof StoreFullError || err instanceof StoreWriteError
      ? err
      : new StoreWriteError(`store write failed: ${(err as Error).message}`, { cause: err })
    this.stats.failures++
    if (this.failure === undefined) this.init.log.error({ err: error, writes: taken.length }, 'store_write_failed')
    this.failure = error
    this.pending = [...taken, ...this.pending]
    for (const [key, index] of this.fresh) this.fresh.set(key, index + taken.length)
    this.pendingBytes += bytes
    this.committing = undefined
    this.committingSeq = 0
    if (!this.closed) {
      this.timer = setTimeout(() => {
        this.timer = undefined
        void this.commit()
      }, this.init.retryMs)
    }
  }

  /** One write of each of `waiters` was committed or cancelled. */
  private settled (waiters: RangeWaiter[]): void {
    for (const waiter of waiters) {
      if (--waiter.live > 0) continue
      if (waiter.inFlight === 0 || waiter.inFlight <= this.durableSeq) waiter.done()
      else this.inFlightWaiters.push(waiter)
    }
  }

  private release (seq: number): void {
    if (this.inFlightWaiters.length > 0) {
      const due = this.inFlightWaiters.filter(waiter => waiter.inFlight <= seq)
      this.inFlightWaiters = this.inFlightWaiters.filter(waiter => waiter.inFlight > seq)
      for (const waiter of due) waiter.done()
    }
    if (this.waiters.length === 0) return
    const due = this.waiters.filter(waiter => waiter.seq <= seq)
    if (due.length === 0) return
    this.waiters = this.waiters.filter(waiter => waiter.seq > seq)
    for (const waiter of due) waiter.done()
  }
}
