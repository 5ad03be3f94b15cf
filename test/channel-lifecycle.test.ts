/**
 * The session lifecycle decisions without sockets or actors: takeover and Clean Start at CONNECT,
 * the will and the session's expiry when a connection ends, the will as published.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { connectedSession, decideAttach, decideClose, willMessage, type SessionLifecycle } from '../src/core/channel/session-lifecycle.js'
import type { ClientLink } from '../src/core/channel/client-link.js'
import type { WillMessage } from '../src/core/session/session-state.js'
import type { ConnectRequest } from '../src/core/channel/connect.js'

const NOW = 1_700_000_000_000

const request: ConnectRequest = {
  clientId: 'c',
  assignedClientId: false,
  protocolVersion: 5,
  cleanStart: false,
  keepalive: 60,
  sessionExpiryInterval: 30,
  sessionExpiryChanged: false,
  receiveMaximum: 10,
  maximumPacketSize: 1000,
  topicAliasMaximum: 0,
  requestProblemInformation: true,
  identity: { clientId: 'c' }
}

/** A link that only has to be told apart from another one. */
function link (id: number): ClientLink {
  return { id, remoteAddress: `127.0.0.1:${id}` } as unknown as ClientLink
}

function connected (id: number): SessionLifecycle {
  return connectedSession(link(id), request, 32)
}

function will (delay = 0, expiryInterval?: number): WillMessage {
  const result: WillMessage = { message: { topic: 'w', payload: Buffer.from('bye'), qos: 1, retain: false, publisher: 'c', origin: 'n@h' }, delay }
  if (expiryInterval !== undefined) result.expiryInterval = expiryInterval
  return result
}

describe('decideAttach', () => {
  it('[MQTT-3.2.2-2] a first CONNECT finds no session: Session Present 0, nothing taken over', () => {
    assert.deepEqual(decideAttach({ kind: 'no_session' }, false), { takenOver: undefined, discardSession: false, sessionPresent: false })
  })

  it('[MQTT-3.2.2-3] Clean Start 0 resumes a session kept after its connection: Session Present 1', () => {
    const lifecycle: SessionLifecycle = { kind: 'disconnected', expiresAt: NOW + 30_000, pendingWill: undefined }
    assert.deepEqual(decideAttach(lifecycle, false), { takenOver: undefined, discardSession: false, sessionPresent: true })
  })

  it('[MQTT-3.1.2-4] Clean Start 1 discards the existing session: Session Present 0 [MQTT-3.2.2-2]', () => {
    const lifecycle: SessionLifecycle = { kind: 'disconnected', expiresAt: NOW + 30_000, pendingWill: undefined }
    assert.deepEqual(decideAttach(lifecycle, true), { takenOver: undefined, discardSession: true, sessionPresent: false })
  })

  it('[MQTT-3.1.4-3] a CONNECT for a connected client takes its connection over and resumes the session', () => {
    const lifecycle = connected(1)
    const decision = decideAttach(lifecycle, false)
    assert.equal(decision.takenOver?.id, 1)
    assert.equal(decision.sessionPresent, true)
    assert.equal(decideAttach(lifecycle, true).discardSession, true)
  })
})

describe('decideClose', () => {
  it('[MQTT-3.1.2-8] a close without DISCONNECT publishes the will', () => {
    const w = will()
    assert.deepEqual(decideClose(w, 'peer_closed', undefined, 0, NOW), { publishWill: w, session: { kind: 'end' } })
  })

  it('[MQTT-3.14.4-3] a normal DISCONNECT discards the will [MQTT-3.1.2-10]', () => {
    assert.equal(decideClose(will(), 'client_disconnect', false, 0, NOW).publishWill, undefined)
  })

  it('DISCONNECT with reason 0x04 publishes the will (§3.14.2.1)', () => {
    const w = will()
    assert.equal(decideClose(w, 'client_disconnect', true, 0, NOW).publishWill, w)
  })

  it('[MQTT-3.1.2-23] a session with an expiry interval waits for the client until it expires', () => {
    assert.deepEqual(decideClose(undefined, 'peer_closed', undefined, 30, NOW), {
      publishWill: undefined,
      session: { kind: 'disconnected', expiresAt: NOW + 30_000, pendingWill: undefined }
    })
  })

  it('a session with expiry interval 0 ends with its connection', () => {
    assert.deepEqual(decideClose(undefined, 'keepalive_timeout', undefined, 0, NOW).session, { kind: 'end' })
  })

  it('[MQTT-3.1.3-9] a will with a delay waits for it while the session lives', () => {
    const w = will(10)
    assert.deepEqual(decideClose(w, 'peer_closed', undefined, 30, NOW), {
      publishWill: undefined,
      session: { kind: 'disconnected', expiresAt: NOW + 30_000, pendingWill: { will: w, dueAt: NOW + 10_000 } }
    })
  })

  it('a delayed will is published at once when the session ends with the connection (§3.1.3.2.2)', () => {
    const w = will(10)
    assert.deepEqual(decideClose(w, 'peer_closed', undefined, 0, NOW), { publishWill: w, session: { kind: 'end' } })
  })

  it('[MQTT-3.1.4-3] a taken-over connection publishes a will without delay, and the session continues', () => {
    const w = will()
    assert.deepEqual(decideClose(w, 'taken_over', undefined, 30, NOW), { publishWill: w, session: { kind: 'taken_over' } })
    assert.deepEqual(decideClose(will(5), 'taken_over', undefined, 30, NOW), { publishWill: undefined, session: { kind: 'taken_over' } })
  })
})

describe('willMessage', () => {
  it('[MQTT-3.3.2-5] the will\'s Message Expiry Interval counts from its publication', () => {
    const message = willMessage(will(5, 120), NOW + 5000)
    assert.equal(message.expiresAt, NOW + 5000 + 120_000)
    assert.equal(message.topic, 'w')
  })

  it('a will without a Message Expiry Interval never expires', () => {
    assert.equal(willMessage(will(), NOW).expiresAt, undefined)
  })
})
