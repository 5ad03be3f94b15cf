/**
 * The encoding of a persistent session's record (`s/<client id>`): JSON with byte strings as
 * base64, like a session snapshot handed between nodes, and checked field by field when read.
 */
import type { StoredSession } from '../core/store/durable.js'
import type { WillMessage } from '../core/session/session-state.js'
import type { ClientIdentity } from '../core/auth/identity.js'
import {
  InvalidSessionSnapshotError, bool, decodeJson, encodeJson, message, num, record, str
} from '../core/session/session-snapshot.js'
import { RecordError } from './record-error.js'

export function encodeStoredSession (session: StoredSession): Uint8Array {
  return encodeJson({ v: 1, ...session })
}

export function decodeStoredSession (bytes: Uint8Array): StoredSession {
  try {
    const s = record(decodeJson(bytes), 'session record')
    if (s.v !== 1) throw new RecordError(`unknown session record format ${String(s.v)}`)
    const session: StoredSession = {
      clientId: str(s.clientId, 'clientId'),
      createdAt: num(s.createdAt, 'createdAt'),
      expiryInterval: num(s.expiryInterval, 'expiryInterval')
    }
    if (s.owner !== undefined) session.owner = str(s.owner, 'owner')
    if (s.identity !== undefined) session.identity = identity(s.identity)
    if (s.will !== undefined) session.will = will(s.will)
    if (s.expiresAt !== undefined) session.expiresAt = num(s.expiresAt, 'expiresAt')
    if (s.willDueAt !== undefined) session.willDueAt = num(s.willDueAt, 'willDueAt')
    return session
  } catch (err) {
    if (err instanceof InvalidSessionSnapshotError) throw new RecordError(`unreadable session record: ${err.message}`, { cause: err })
    throw err
  }
}

function identity (value: unknown): ClientIdentity {
  const i = record(value, 'identity')
  const result: ClientIdentity = { clientId: str(i.clientId, 'identity clientId') }
  if (i.username !== undefined) result.username = str(i.username, 'identity username')
  if (i.verified !== undefined) result.verified = bool(i.verified, 'identity verified')
  if (i.certificateCommonName !== undefined) result.certificateCommonName = str(i.certificateCommonName, 'identity certificate CN')
  if (i.claims !== undefined) {
    const claims: Record<string, string> = {}
    for (const [name, claim] of Object.entries(record(i.claims, 'identity claims'))) claims[name] = str(claim, 'identity claim')
    result.claims = claims
  }
  return result
}

function will (value: unknown): WillMessage {
  const w = record(value, 'will')
  const result: WillMessage = { message: message(w.message), delay: num(w.delay, 'will delay') }
  if (w.expiryInterval !== undefined) result.expiryInterval = num(w.expiryInterval, 'will expiry')
  return result
}
