/**
 * A well-behaved client that must keep exchanging messages with the broker after every test of a
 * file of hostile input: `check()` publishes a QoS 1 message to itself and asserts it comes back.
 */
import assert from 'node:assert/strict'
import { connectClient, Inbox, type Cleanup } from './mqtt-client.js'
import { uniqueName, withTimeout } from './wait.js'

export interface Bystander {
  /** Publishes one more round and asserts the bystander receives it and is still connected. */
  check: () => Promise<void>
}

export async function startBystander (t: Cleanup, port: number): Promise<Bystander> {
  const topic = uniqueName('bystander')
  const client = await connectClient(t, port, { clientId: uniqueName('bystander'), keepalive: 0 })
  const inbox = new Inbox(client)
  await client.subscribeAsync(topic, { qos: 1 })
  let round = 0
  return {
    check: async () => {
      const payload = `round-${round++}`
      await withTimeout(client.publishAsync(topic, payload, { qos: 1 }), 5000, 'the bystander to get its PUBACK')
      const messages = await inbox.waitForCount(round)
      assert.equal(messages[round - 1]?.payload.toString(), payload, 'the bystander still receives its own messages')
      assert.equal(client.connected, true, 'the bystander is still connected')
    }
  }
}
