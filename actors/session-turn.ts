/**
 * What one turn of a session actor sends to the rest of the node, collected during the turn and
 * sent at its end: subscription changes first (one message per trie shard), so a client that
 * subscribes and then publishes in one read gets its own message, then publishes (one batch per
 * shard, publish-batch.ts). It also holds the acks that wait for their message's routing and, when
 * the node's store makes acks wait (`persistence.mode` batch or sync), for the commit of what the
 * routing and the turn recorded (routed-acks.ts). Each part is created with its first use: many
 * clients only subscribe.
 */
import { type Ref } from 'nact'
import { dispatch } from './actor-meters.js'
import { RoutedAcks, type AckPacket, type InboundAck } from '../src/core/channel/routed-acks.js'
import type { Message } from '../src/core/mqtt/message.js'
import { shardsForFilter } from '../src/core/routing/shard-index.js'
import type { BrokerContext } from './broker-context.js'
import type { SessionMsg, SubscriptionChange } from './messages.js'
import { PublishBatch } from './publish-batch.js'

/** Whether the node's store makes acks wait for its commits (`persistence.mode` batch or sync). */
export function acksWaitForStore (broker: BrokerContext): boolean {
  return broker.durable?.immediate === false
}

export class SessionTurn {
  private outbox: PublishBatch | undefined
  private routedAcks: RoutedAcks | undefined
  private subscriptionChanges: Array<SubscriptionChange[] | undefined> | undefined
  /** The highest store position an `acks_durable` is asked for. */
  private awaitedSeq = -1

  constructor (private readonly broker: BrokerContext, private readonly self: Ref<SessionMsg>) {}

  /** Whether acks wait for the store's commits. */
  get waitsForStore (): boolean {
    return acksWaitForStore(this.broker)
  }

  publish (message: Message): void {
    this.batch().add(message)
  }

  /**
   * Publishes `message`; its `ack` leaves once the trie shard reported the routing (see `routed`).
   * A PUBACK of a message without RETAIN waits for the store writes of its routing alone; others
   * (PUBREC, whose packet id the session records; a retained message, which the retainer writes)
   * for the commit of everything appended before the routing was known.
   */
  publishThenAck (message: Message, ack: InboundAck): void {
    const token = (this.routedAcks ??= new RoutedAcks()).wait(ack, ack.cmd === 'puback' && !message.retain)
    this.batch().add(message, token)
  }

  /** Whether `ack`, which needs no routing, must wait behind acks that do or for a commit (it is queued then). */
  queuesAck (ack: InboundAck): boolean {
    if (this.routedAcks?.waiting !== true && !this.waitsForStore) return false
    this.routedAcks ??= new RoutedAcks()
    this.routedAcks.ready(ack)
    return true
  }

  /**
   * The trie shards routed messages whose acks wait, and appended the store writes numbered in
   * `written`: the acks now due, in order (none yet when they wait for a commit).
   */
  routed (tokens: number[], matched: boolean[], written: [number, number] | undefined): AckPacket[] {
    const acks = this.routedAcks
    if (acks === undefined) return []
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i]!
      if (token !== 0) acks.resolve(token, matched[i] ?? true)
    }
    const durable = this.broker.durable
    if (durable === undefined || durable.immediate) return acks.take()
    const waiting = acks.awaitWrites(tokens, written !== undefined)
    if (written !== undefined && waiting.length > 0) {
      const self = this.self
      durable.afterSettled(written[0], written[1], () => { dispatch(self, { type: 'acks_settled', tokens: waiting }) })
    }
    return acks.take(durable.committed)
  }

  /** The writes of the routing of `tokens` are committed or cancelled: the acks now due, in order. */
  acksSettled (tokens: number[]): AckPacket[] {
    const acks = this.routedAcks
    const durable = this.broker.durable
    if (acks === undefined || durable === undefined) return []
    acks.settle(tokens)
    return acks.take(durable.committed)
  }

  /**
   * At the end of a turn, after the session's own writes: the acks whose routing is now known are
   * stamped with the store's position. Returns those already durable; for the others an
   * `acks_durable` message comes when the commit covering them is done.
   */
  stampAcks (): AckPacket[] {
    const durable = this.broker.durable
    const acks = this.routedAcks
    if (acks === undefined || durable === undefined || durable.immediate) return []
    const highest = acks.stamp(durable.appended)
    if (highest < 0) return []
    if (highest > durable.committed && highest > this.awaitedSeq) {
      this.awaitedSeq = highest
      const self = this.self
      durable.afterDurable(highest, () => { dispatch(self, { type: 'acks_durable', seq: highest }) })
    }
    return acks.take(durable.committed)
  }

  /** The store is durable up to `seq`: the acks now due, in order. */
  durableUpTo (seq: number): AckPacket[] {
    return this.routedAcks?.take(seq) ?? []
  }

  /** The connection is gone: acks still waiting are not sent, as for a connection lost before its acks went out. */
  dropAcks (): void {
    this.routedAcks?.clear()
  }

  /** Queues a subscription change for the shards that index `filter`. */
  changeSubscription (filter: string, change: SubscriptionChange): void {
    this.subscriptionChanges ??= new Array(this.broker.shards.length)
    for (const i of shardsForFilter(filter, this.broker.shards.length)) (this.subscriptionChanges[i] ??= []).push(change)
  }

  /** Sends what the turn produced: the subscription changes, then the publishes. */
  flush (): void {
    const changes = this.subscriptionChanges
    if (changes !== undefined) {
      this.subscriptionChanges = undefined
      changes.forEach((list, i) => { if (list !== undefined) dispatch(this.broker.shards[i]!, { type: 'subscriptions', changes: list }) })
    }
    this.outbox?.flush()
  }

  private batch (): PublishBatch {
    this.outbox ??= new PublishBatch(this.broker, false, false, this.self)
    return this.outbox
  }
}
