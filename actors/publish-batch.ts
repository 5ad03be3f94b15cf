/**
 * Collects the messages published during one actor turn and sends them as one actor message per
 * trie shard (and one to the retainer for RETAIN=1), so the publish path pays the actor hop per
 * batch, not per message (like `emqx_broker:publish/1` feeding the router).
 */
import { dispatch } from 'nact'
import type { Message } from '../src/core/mqtt/message.js'
import type { BrokerContext } from './broker-context.js'
import { shardForTopic } from '../src/core/routing/shard-index.js'

export class PublishBatch {
  private readonly perShard: Array<Message[] | undefined>
  private retained: Message[] = []
  private pending = false

  /**
   * `fromPeer`: messages forwarded by another node (routed here, never retained here again).
   * `sysTopics`: the node's own `$SYS` messages, a fixed set of topics the retained store keeps
   * whatever its bound, so monitoring goes on when clients have filled it.
   */
  constructor (private readonly broker: BrokerContext, private readonly fromPeer = false, private readonly sysTopics = false) {
    this.perShard = new Array<Message[] | undefined>(broker.shards.length)
  }

  add (message: Message): void {
    const shard = shardForTopic(message.topic, this.perShard.length)
    const batch = this.perShard[shard]
    if (batch === undefined) this.perShard[shard] = [message]
    else batch.push(message)
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
      dispatch(this.broker.shards[i]!, this.fromPeer ? { type: 'publish', messages, fromPeer: true } : { type: 'publish', messages })
    }
    if (this.retained.length > 0) {
      dispatch(this.broker.retainer, this.sysTopics ? { type: 'retain', messages: this.retained, unbounded: true } : { type: 'retain', messages: this.retained })
      this.retained = []
    }
  }
}
