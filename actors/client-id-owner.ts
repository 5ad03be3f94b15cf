/**
 * Who owns a client id (issue 10): a session remembers the username that created it, and a CONNECT
 * for its client id under another username (or anonymous against named, or the reverse) is refused
 * with CONNACK Not authorized (v5 0x87, v3.1.1 0x05) [MQTT-3.2.2-5] instead of taking the session
 * over. Only a verified username (password file, JWT, certificate) owns a client id: deployments
 * without authentication are unaffected, every session and CONNECT counts as anonymous.
 */
import type { ClientLink } from '../src/core/channel/client-link.js'
import type { ConnectRequest } from '../src/core/channel/connect.js'
import { refuseConnack } from '../src/core/channel/connack.js'
import type { Logger } from '../src/core/log.js'
import { metrics } from '../src/core/metrics.js'
import { ReasonCode } from '../src/core/mqtt/reason-codes.js'

/** The username a CONNECT was verified as; undefined when anonymous or unverified. */
export function ownerOf (request: ConnectRequest): string | undefined {
  return request.identity.verified === true ? request.identity.username : undefined
}

/** Whether a session created by `owner` may be taken over by `request`. */
export function mayTakeOver (owner: string | undefined, request: ConnectRequest): boolean {
  return owner === ownerOf(request)
}

/**
 * Refuses a CONNECT for a client id another user's session holds: counted
 * (`$SYS/.../clients/client_id_owned_by_other_user`), logged `client_id_owned_by_other_user`
 * (with `peer` when that session is on another node), CONNACK Not authorized, connection closed.
 */
export function refuseOwnedByOther (log: Logger, request: ConnectRequest, connection: ClientLink, peer?: string): void {
  metrics.clientIdOwnedByOtherUser++
  log.warn({
    clientid: request.clientId.slice(0, 256),
    username: ownerOf(request)?.slice(0, 256),
    remote: connection.remoteAddress,
    ...(peer !== undefined ? { peer } : {})
  }, 'client_id_owned_by_other_user')
  connection.send(refuseConnack(request.protocolVersion, ReasonCode.NotAuthorized))
  connection.close('not_authorized')
}
