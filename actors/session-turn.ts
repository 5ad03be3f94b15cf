/**
 * What one turn of a session actor sends to the rest of the node, collected during the turn and
 * sent at its end: subscription changes first (one message per trie shard), so a client that
 * subscribes and then publishes in one read gets its own message, then publishes (one batch per
 * shard, publish-batch.ts). It also holds the MQTT 5 acks that wait for their message's routing
 * (routed-acks.ts). Each part is created with its first use: many clients only subscribe.
 */
import { dispatch, type Ref } from 'nact'
import type { IPubackPacket, IPubrecPacket } from 'mqtt-packet'
import { RoutedAcks, type InboundAck } from '../src/core/channel/routed-acks.js'
import type { Message } from '../src/core/mqtt/message.js'
import { shardsForFilter } from '../src/core/routing/shard-index.js'
import type { BrokerContext } from './broker-context.js'
import type { SessionMsg, SubscriptionChange } from './messages.js'
import { PublishBatch } from './publish-batch.js'

export class SessionTurn {
  private outbox: PublishBatch | undefined
  private routedAcks: RoutedAcks | undefined
  private subscriptionChanges: Array<SubscriptionChange[] | undefined> | undefined

  constructor (private readonly broker: BrokerContext, private readonly self: Ref<SessionMsg>) {}

  publish (message: Message): void {
    this.batch().add(message)
  }

  /** Publishes `message`; its `ack` leaves once the trie shard reported the routing (see `routed`). */
  publishThenAck (message: Message, ack: InboundAck): void {
    const token = (this.routedAcks ??= new RoutedAcks()).wait(ack)
    this.batch().add(message, token)
  }

  /** Whether `ack`, which needs no routing, must wait behind acks that do (it is queued then). */
  queuesAck (ack: InboundAck): boolean {
    if (this.routedAcks?.waiting !== true) return false
    this.routedAcks.ready(ack)
    return true
  }

  /** The trie shards routed messages whose acks wait: the acks now due, in order. */
  routed (tokens: number[], matched: boolean[]): Array<IPubackPacket | IPubrecPacket> {
    const acks = this.routedAcks
    if (acks === undefined) return []
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i]!
      if (token !== 0) acks.resolve(token, matched[i] ?? true)
    }
    return acks.take()
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
