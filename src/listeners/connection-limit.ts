/**
 * The node's bound on open client connections, all MQTT listeners together (`mqtt.maxConnections`).
 * A connection counts from its acceptance to its close, CONNECT or not, so a flood of sockets that
 * never send CONNECT is bounded too. One more is closed as it is accepted: counted
 * (`clients/refused/max_connections`) and logged `connection_refused` (throttled, exact counts).
 */
import { ThrottledLogEvent } from '../core/log-throttle.js'
import type { Logger } from '../core/log.js'
import { metrics } from '../core/metrics.js'

export class ConnectionLimit {
  private open = 0
  private readonly refusals: ThrottledLogEvent

  constructor (readonly max: number, log: Logger) {
    this.refusals = new ThrottledLogEvent(line => { log.warn(line, 'connection_refused') })
  }

  /** Takes a place for a connection being accepted on `listener`; false (counted, logged) when none is left. */
  take (listener: string): boolean {
    if (this.open < this.max) {
      this.open++
      return true
    }
    metrics.connectionsRefusedMax++
    this.refusals.add({ count: 1 }, { reason: 'max_connections', listener, limit: this.max })
    return false
  }

  /** A connection that took a place closed. */
  release (): void {
    this.open--
  }

  /** Writes what the log throttle still holds (node stop). */
  flush (): void {
    this.refusals.flush()
  }
}
