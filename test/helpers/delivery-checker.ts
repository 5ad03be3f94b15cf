/**
 * The loss and duplicate checker of the delivery acceptance tests: publishers report each message
 * the broker acknowledged (PUBACK), subscribers each message they received with its DUP flag, and
 * the checker says, per subscriber, which acknowledged messages never arrived (lost), which arrived
 * more than once, and whether each repeat was a redelivery marked DUP (allowed for QoS 1) or not.
 * Messages are identified by their payload (e.g. `p1:42`). Pure.
 */

/** What one subscriber got of the acknowledged messages. */
export interface SubscriberReport {
  subscriber: string
  /** Acknowledged messages the subscriber should have. */
  expected: number
  /** Acknowledged messages it received at least once. */
  received: number
  /** Acknowledged messages it never received. */
  lost: number
  /** Extra copies received with DUP set: QoS 1 redeliveries. */
  dupRedeliveries: number
  /** Extra copies received without DUP: duplicates the broker must not produce. */
  duplicates: number
  /** Messages received that no publisher reported acknowledged (published but not acked yet, or foreign). */
  unacknowledged: number
}

export class DeliveryChecker {
  private readonly acknowledged = new Set<string>()
  private readonly copies = new Map<string, Map<string, number>>()
  private readonly dupCopies = new Map<string, number>()
  private readonly plainCopies = new Map<string, number>()

  constructor (readonly subscribers: readonly string[]) {
    for (const subscriber of subscribers) {
      this.copies.set(subscriber, new Map())
      this.dupCopies.set(subscriber, 0)
      this.plainCopies.set(subscriber, 0)
    }
  }

  /** The broker acknowledged the message `id`: every subscriber must get it. */
  acked (id: string): void {
    this.acknowledged.add(id)
  }

  get ackedCount (): number {
    return this.acknowledged.size
  }

  /** `subscriber` received `id`, with the DUP flag `dup`. */
  received (subscriber: string, id: string, dup: boolean): void {
    const copies = this.copies.get(subscriber)
    if (copies === undefined) throw new RangeError(`unknown subscriber ${subscriber}`)
    const seen = copies.get(id) ?? 0
    copies.set(id, seen + 1)
    if (seen === 0) return
    if (dup) this.dupCopies.set(subscriber, (this.dupCopies.get(subscriber) ?? 0) + 1)
    else this.plainCopies.set(subscriber, (this.plainCopies.get(subscriber) ?? 0) + 1)
  }

  /** Whether every subscriber has every acknowledged message. */
  get complete (): boolean {
    return this.reports().every(report => report.lost === 0)
  }

  /** Acknowledged messages `subscriber` has not received, at most `limit` of them. */
  missing (subscriber: string, limit = Number.POSITIVE_INFINITY): string[] {
    const copies = this.copies.get(subscriber) ?? new Map<string, number>()
    const missing: string[] = []
    for (const id of this.acknowledged) {
      if (missing.length >= limit) break
      if (!copies.has(id)) missing.push(id)
    }
    return missing
  }

  reports (): SubscriberReport[] {
    return this.subscribers.map(subscriber => {
      const copies = this.copies.get(subscriber) ?? new Map<string, number>()
      let received = 0
      for (const id of this.acknowledged) if (copies.has(id)) received++
      let unacknowledged = 0
      for (const id of copies.keys()) if (!this.acknowledged.has(id)) unacknowledged++
      return {
        subscriber,
        expected: this.acknowledged.size,
        received,
        lost: this.acknowledged.size - received,
        dupRedeliveries: this.dupCopies.get(subscriber) ?? 0,
        duplicates: this.plainCopies.get(subscriber) ?? 0,
        unacknowledged
      }
    })
  }
}
