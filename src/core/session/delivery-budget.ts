/**
 * The node's budget for messages held for its clients (session queues), shared by every session,
 * and the pressure signal that meters what other nodes forward here. Sessions `hold`/`release`
 * the bytes they queue and say when they are `backlogged` (online, acking, but their queue is past
 * its high-water mark); the cluster's forward receiver stops taking inbound forwards while the node
 * is under pressure and resumes on relief, so a backlog between nodes waits at the sender (bounded
 * there) instead of overflowing the queues of clients that keep up.
 *
 * Bytes held for offline clients are parked: they count against the limit but put no pressure on
 * the node, as they drain only when their clients return (else persistent sessions of clients
 * that stay away would hold every inbound forward back until they expire).
 */

export interface DeliveryBudgetInit {
  /** Bytes all session queues of the node may hold together. */
  limitBytes: number
  /** Above this many held bytes (not parked) the node is under pressure. Default 50 % of `limitBytes`. */
  highWaterBytes?: number
  /** Pressure from held bytes (not parked) ends below this. Default 25 % of `limitBytes`. */
  lowWaterBytes?: number
}

export class DeliveryBudget {
  readonly limitBytes: number
  readonly highWaterBytes: number
  readonly lowWaterBytes: number
  /** Bytes held in session queues now. */
  heldBytes = 0
  /** Messages held in session queues now. */
  heldMessages = 0
  /** Of `heldBytes`, those held for offline clients (see `park`). */
  parkedBytes = 0
  private readonly backloggedSessions = new Set<string>()
  private overHighWater = false
  private readonly reliefListeners = new Set<() => void>()

  constructor (init: DeliveryBudgetInit) {
    this.limitBytes = init.limitBytes
    this.highWaterBytes = init.highWaterBytes ?? Math.floor(init.limitBytes / 2)
    this.lowWaterBytes = init.lowWaterBytes ?? Math.floor(init.limitBytes / 4)
  }

  /** Whether `bytes` more fit in the node's budget. */
  fits (bytes: number): boolean {
    return this.heldBytes + bytes <= this.limitBytes
  }

  /** A session queued a message of `bytes`; `parked` when its client is offline. */
  hold (bytes: number, parked = false): void {
    this.heldBytes += bytes
    this.heldMessages++
    if (parked) this.parkedBytes += bytes
    else this.checkHighWater()
  }

  /** A session took a queued message of `bytes` out of its queue (sent, expired or dropped); `parked` as it was held. */
  release (bytes: number, parked = false): void {
    const wasPressured = this.isPressured()
    this.heldBytes = Math.max(0, this.heldBytes - bytes)
    this.heldMessages = Math.max(0, this.heldMessages - 1)
    if (parked) this.parkedBytes = Math.max(0, this.parkedBytes - bytes)
    this.checkLowWater(wasPressured)
  }

  /** A session's held `bytes` are parked (its client went offline) or unparked (it came back). */
  park (bytes: number, parked: boolean): void {
    const wasPressured = this.isPressured()
    this.parkedBytes = Math.max(0, this.parkedBytes + (parked ? bytes : -bytes))
    if (parked) this.checkLowWater(wasPressured)
    else this.checkHighWater()
  }

  /** Held bytes that put pressure on the node: those of online clients. */
  private get pressingBytes (): number { return this.heldBytes - this.parkedBytes }

  private checkHighWater (): void {
    if (!this.overHighWater && this.pressingBytes > this.highWaterBytes) this.overHighWater = true
  }

  private checkLowWater (wasPressured: boolean): void {
    if (this.overHighWater && this.pressingBytes < this.lowWaterBytes) this.overHighWater = false
    if (wasPressured && !this.isPressured()) this.relieved()
  }

  /** Marks the session `id` as backlogged (true) or not (false). */
  setBacklogged (id: string, backlogged: boolean): void {
    const wasPressured = this.isPressured()
    if (backlogged) this.backloggedSessions.add(id)
    else this.backloggedSessions.delete(id)
    if (wasPressured && !this.isPressured()) this.relieved()
  }

  /** Sessions backlogged now. */
  get backlogged (): number { return this.backloggedSessions.size }

  /** Whether inbound forwards should wait: a session is backlogged or held bytes are past the high-water mark. */
  get pressured (): boolean { return this.isPressured() }

  private isPressured (): boolean {
    return this.overHighWater || this.backloggedSessions.size > 0
  }

  /** Calls `listener` each time the pressure ends; returns a function that removes it. */
  onRelief (listener: () => void): () => void {
    this.reliefListeners.add(listener)
    return () => { this.reliefListeners.delete(listener) }
  }

  private relieved (): void {
    for (const listener of [...this.reliefListeners]) listener()
  }
}
