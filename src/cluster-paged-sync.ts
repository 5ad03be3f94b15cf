/**
 * A whole set pulled from a peer in pages of bounded size (`SYNC_CHUNK_BYTES`), over the service
 * channel: the first request takes a snapshot of the set on the serving node (an array of
 * immutable items), later ones read on from an offset in it, so the pages of one pull are one
 * consistent set whatever changes meanwhile (changes reach the puller by push as well). Snapshots
 * are held a short while after their last read, a few at a time; a puller whose snapshot is gone
 * starts over, a bounded number of times.
 */
import { decodePage, decodePageRequest, encodePage, encodePageRequest, type Page } from './cluster-sync-codec.js'
import type { ClusterNetwork } from '../network/cluster.js'

/** A snapshot unread for this long is dropped. */
const SNAPSHOT_IDLE_MS = 30_000
/**
 * Snapshots held at once (the oldest goes first). A peer pulls one set at a time, so this covers
 * 8 peers pulling at once; a snapshot holds references to the set's messages, which stay in memory
 * with it even once replaced in the store.
 */
const MAX_SNAPSHOTS = 8
/** A pull whose snapshot was dropped starts over at most this many times. */
const MAX_PULL_RESTARTS = 3

/** The message of the error a page request for a dropped snapshot gets. */
const SNAPSHOT_GONE = 'snapshot gone'

interface Snapshot<T> { items: readonly T[], readAt: number }

/** The serving side: answers page requests from snapshots of the set. */
export class PagedSnapshots<T> {
  private readonly snapshots = new Map<number, Snapshot<T>>()
  private nextId = 1

  /**
   * `take` returns the current set; `encode` writes items from an index into one bounded chunk
   * and returns it with the index after its last item.
   */
  constructor (private readonly take: () => Promise<readonly T[]>,
    private readonly encode: (items: readonly T[], from: number) => { bytes: Uint8Array, next: number }) {}

  async serve (payload: Uint8Array): Promise<Uint8Array> {
    const request = decodePageRequest(payload)
    const now = Date.now()
    for (const [id, snapshot] of this.snapshots) if (now - snapshot.readAt > SNAPSHOT_IDLE_MS) this.snapshots.delete(id)
    let id = request.snapshot
    let snapshot = this.snapshots.get(id)
    if (id === 0) {
      snapshot = { items: await this.take(), readAt: now }
      id = this.nextId++
      this.snapshots.set(id, snapshot)
      while (this.snapshots.size > MAX_SNAPSHOTS) this.snapshots.delete(this.snapshots.keys().next().value!)
    }
    if (snapshot === undefined) throw new Error(SNAPSHOT_GONE)
    snapshot.readAt = now
    const offset = Math.min(request.offset, snapshot.items.length)
    const { bytes, next } = this.encode(snapshot.items, offset)
    if (next >= snapshot.items.length) this.snapshots.delete(id)
    return encodePage({ snapshot: id, total: snapshot.items.length, next, items: bytes })
  }
}

/**
 * Pulls `service`'s whole set from `node`, handing each page's bytes to `apply` (awaited: it paces
 * the pull). Returns the number of items; throws when a request fails.
 */
export async function pullPages (network: ClusterNetwork, node: string, service: string, apply: (items: Uint8Array) => Promise<void>, signal?: AbortSignal): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    let snapshot = 0
    let offset = 0
    try {
      for (;;) {
        const page: Page = decodePage(await network.request(node, service, encodePageRequest({ snapshot, offset }), signal === undefined ? {} : { signal }))
        await apply(page.items)
        if (page.next >= page.total) return page.total
        if (page.next <= offset && page.total > 0) throw new Error(`page of ${service} from ${node} made no progress at ${offset}`)
        snapshot = page.snapshot
        offset = page.next
      }
    } catch (err) {
      if (attempt >= MAX_PULL_RESTARTS || !(err instanceof Error) || !err.message.includes(SNAPSHOT_GONE)) throw err
    }
  }
}
