/**
 * Credentials that expire (a JWT's `exp`): the listener's sweep closes a connected client at the
 * expiry, busy or idle, whatever its keepalive (one sweep for all connections, no timer each).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { idleVerdict, type IdleLimits, type IdleState } from '../src/core/channel/keepalive.js'

const T = 1_000_000
const LIMITS: IdleLimits = { connectTimeoutMs: 10_000, maxIdleWithoutKeepaliveMs: 0 }
const state = (fields: Partial<IdleState>): IdleState => ({ phase: 'connected', openedAt: T, lastActivity: T, keepaliveTimeoutMs: 0, ...fields })

describe('idleVerdict: expiring credentials', () => {
  it('a connected client is auth_expired from its expiry on, not before', () => {
    assert.equal(idleVerdict(state({ authExpiresAt: T + 2000 }), LIMITS, T + 1999), undefined)
    assert.equal(idleVerdict(state({ authExpiresAt: T + 2000 }), LIMITS, T + 2000), 'auth_expired')
  })

  it('a client active a moment ago is closed at the expiry too, and the expiry comes before a keepalive timeout', () => {
    assert.equal(idleVerdict(state({ authExpiresAt: T + 2000, lastActivity: T + 1999 }), LIMITS, T + 2000), 'auth_expired')
    assert.equal(idleVerdict(state({ authExpiresAt: T + 2000, keepaliveTimeoutMs: 1500 }), LIMITS, T + 5000), 'auth_expired')
  })

  it('credentials without expiry never expire; a closed connection has no verdict', () => {
    assert.equal(idleVerdict(state({}), LIMITS, T + 365 * 86_400_000), undefined)
    assert.equal(idleVerdict(state({ phase: 'closed', authExpiresAt: T }), LIMITS, T + 1), undefined)
  })
})
