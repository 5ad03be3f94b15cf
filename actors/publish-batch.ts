/**
 * Collects the messages published during one actor turn and sends them as one actor message per
 * trie shard (and one to the retainer for RETAIN=1), so the publish path pays the actor hop per
 * batch, not per message (like `emqx_broker:publish/1` feeding the router).
 */
import { type Ref } from 'nact'
import { dispatch } from './actor-meters.js'
import type { Message } from '../src/core/mqtt/message.js'
import type { BrokerContext } from './broker-context.js'
import { shardForTopic } from '../src/core/routing/shard-index.js'
import type { SessionMsg } from './messages.js'

export class PublishBatch {
  private readonly perShard: Array<Message[] | undefined>
  /** Per shard, the routing tokens parallel to its messages; only for shards where one is waited on. */
  private tokens: Array<number[] | undefined> | undefined
  private retained: Message[] = []
  private pending = false

  /**
   * `fromPeer`: messages forwarded by another node (routed here, never retained here again).
   * `sysTopics`: the node's own `$SYS` messages, a fixed set of topics the retained store keeps
   * whatever its bound, so monitoring goes on when clients have filled it.
   * `reportTo`: the session told which of its messages added with a token were routed where.
   */
  constructor (private readonly broker: BrokerContext, private readonly fromPeer = false, private readonly sysTopics = false,
    private readonly reportTo?: Ref<SessionMsg>) {
    this.perShard = new Array<Message[] | undefined>(broker.shards.length)
  }

  /** Adds a message; with a `token` (not 0) the shard reports whether it found a destination. */
  add (message: Message, token = 0): void {
    const shard = shardForTopic(message.topic, this.perShard.length)
    const batch = this.perShard[shard]
    if (batch === undefined) this.perShard[shard] = [message]
    else batch.push(message)
    const tokens = this.tokens?.[shard]
    if (tokens !== undefined) tokens.push(token)
    else if (token !== 0) {
      const list = new Array<number>(batch === undefined ? 0 : batch.length - 1).fill(0)
      list.push(token)
      this.tokens ??= new Array<number[] | undefined>(this.perShard.length)
      this.tokens[shard] = list
    }
    // A RETAIN=1 publish replaces (or with an empty payload clears) the retained message [MQTT-3.3.1-5].
    if (message.retain && !this.fromPeer) this.retained.push(message)
    this.pending = true
  }

  flush (): void {
    if (!this.pending) return
    this.pending = false
    for (let i = 0; i < this.perShard.length; i++) {
      const messages = this.perShard[i]
      if (messages === undefined) continue
      this.perShard[i] = undefined
      const tokens = this.tokens?.[i]
      if (tokens !== undefined && this.tokens !== undefined) {
        this.tokens[i] = undefined
        if (this.reportTo !== undefined) {
          dispatch(this.broker.shards[i]!, { type: 'publish', messages, report: { session: this.reportTo, tokens } })
          continue
        }
      }
      dispatch(this.broker.shards[i]!, this.fromPeer ? { type: 'publish', messages, fromPeer: true } : { type: 'publish', messages })
    }
    if (this.retained.length > 0) {
      dispatch(this.broker.retainer, this.sysTopics ? { type: 'retain', messages: this.retained, unbounded: true } : { type: 'retain', messages: this.retained })
      this.retained = []
    }
  }
}
