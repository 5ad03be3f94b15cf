/**
 * A QoS 1 (or 2) publisher at a steady rate for delivery tests: an MQTT.js client publishes numbered
 * messages (`<prefix><n>`) on one topic, at most `maxInflight` unacknowledged at a time (below the
 * broker's Receive Maximum), and reports each message the broker acknowledged (PUBACK, or PUBCOMP
 * at QoS 2). Bounded: it stops when told, and `stop()` waits a bounded time for the last acks.
 */
import type { MqttClient } from 'mqtt'
import { waitUntil } from './wait.js'

const TICK_MS = 10

export class PacedPublisher {
  /** Messages published (PUBLISH written) and acknowledged (PUBACK received) so far. */
  sent = 0
  acked = 0
  /** Publishes that failed (an error instead of PUBACK). */
  failed = 0
  private outstanding = 0
  private timer: NodeJS.Timeout | undefined

  constructor (
    private readonly client: MqttClient,
    private readonly topic: string,
    private readonly onAcked: (id: string) => void,
    private readonly maxInflight = 16,
    private readonly qos: 1 | 2 = 1
  ) {}

  /** Publishes `rate` messages per second with ids `prefix` + n until `stop()`. */
  start (rate: number, prefix: string): void {
    if (this.timer !== undefined) throw new Error('the publisher is running')
    const startedAt = Date.now()
    let n = 0
    this.timer = setInterval(() => {
      const due = Math.floor((Date.now() - startedAt) * rate / 1000)
      while (n < due && this.outstanding < this.maxInflight) {
        const id = `${prefix}${n++}`
        this.sent++
        this.outstanding++
        this.client.publish(this.topic, id, { qos: this.qos }, (err) => {
          this.outstanding--
          if (err instanceof Error) {
            this.failed++
          } else {
            this.acked++
            this.onAcked(id)
          }
        })
      }
    }, TICK_MS)
  }

  /** Stops publishing and waits up to `timeoutMs` for the acks still outstanding. */
  async stop (timeoutMs = 5_000): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    await waitUntil(() => this.outstanding === 0, timeoutMs, 'the last PUBACKs')
  }
}
