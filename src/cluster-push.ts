/**
 * Pushes this node's changes of a replicated set to every running member: changes made within
 * `PUSH_DELAY_MS` go out together, in chunks of bounded size, one service request per member and
 * chunk, one at a time per member, in order (a will set then cleared must arrive in that order).
 * Chunks waiting for a member are bounded (`MAX_QUEUED_BYTES`): past it the chunk is not queued,
 * and a push that fails is not retried; both are reported (`missed`) so that the member is
 * repaired by a pull instead. Pending changes are bounded (`MAX_PENDING`): past it they are pushed
 * at once.
 */
import type { ClusterNetwork } from '../network/cluster.js'

/** Changes wait this long for others to go out with them. */
const PUSH_DELAY_MS = 5
/** Changes pending at most before a push goes out at once. */
const MAX_PENDING = 4096
/** Bytes of chunks waiting for one member (behind the one in flight) before further ones are skipped. */
const MAX_QUEUED_BYTES = 64 * 1024 * 1024

export class ClusterPusher<T> {
  private pending: T[] = []
  private timer: NodeJS.Timeout | undefined
  /** Per member with a push in flight, the chunks waiting behind it and their bytes. */
  private readonly queues = new Map<string, { chunks: Uint8Array[], bytes: number }>()

  /**
   * `encode` writes items from an index into one bounded chunk (see `cluster-sync-codec.ts`);
   * `missed(node)` is told of a member that did not get a push.
   */
  constructor (private readonly network: ClusterNetwork, private readonly service: string,
    private readonly encode: (items: readonly T[], from: number) => { bytes: Uint8Array, next: number },
    private readonly missed: (node: string, err?: unknown) => void) {}

  add (items: readonly T[]): void {
    for (const item of items) this.pending.push(item)
    if (this.pending.length >= MAX_PENDING) this.flush()
    else this.timer ??= setTimeout(() => { this.flush() }, PUSH_DELAY_MS)
  }

  /** Sends what is pending now. */
  flush (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    const items = this.pending
    if (items.length === 0) return
    this.pending = []
    const members = this.network.started ? this.network.runningMembers() : []
    if (members.length === 0) return
    for (let from = 0; from < items.length;) {
      const { bytes, next } = this.encode(items, from)
      from = next
      for (const node of members) this.send(node, bytes)
    }
  }

  /** Drops what is pending (this node left its cluster). */
  clear (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.pending = []
    this.queues.clear()
  }

  private send (node: string, bytes: Uint8Array): void {
    const queue = this.queues.get(node)
    if (queue === undefined) {
      this.queues.set(node, { chunks: [], bytes: 0 })
      this.sendNext(node, bytes)
    } else if (queue.bytes + bytes.length <= MAX_QUEUED_BYTES) {
      queue.chunks.push(bytes)
      queue.bytes += bytes.length
    } else {
      this.missed(node)
    }
  }

  private sendNext (node: string, bytes: Uint8Array): void {
    this.network.request(node, this.service, bytes)
      .catch((err: unknown) => { this.missed(node, err) })
      .finally(() => {
        const queue = this.queues.get(node)
        const next = queue?.chunks.shift()
        if (queue === undefined || next === undefined) {
          this.queues.delete(node)
          return
        }
        queue.bytes -= next.length
        this.sendNext(node, next)
      })
  }
}
