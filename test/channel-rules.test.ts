/**
 * Channel rules without sockets: packet order at the start of a connection, the keepalive and
 * connect timeout verdicts, and the CONNACK for an accepted or refused CONNECT.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { packetOrder } from '../src/core/channel/packet-order.js'
import { idleVerdict, keepaliveTimeoutMs, type IdleLimits, type IdleState } from '../src/core/channel/keepalive.js'
import { acceptConnack, refuseConnack } from '../src/core/channel/connack.js'
import type { ConnectRequest } from '../src/core/channel/connect.js'
import { loadConfig } from '../src/core/config/config.js'
import { ReasonCode } from '../src/core/mqtt/reason-codes.js'

const CONNECT = 1
const PUBLISH = 3
const SUBSCRIBE = 8

describe('packetOrder', () => {
  it('[MQTT-3.1.0-1] the first packet must be CONNECT', () => {
    assert.equal(packetOrder('awaiting_connect', CONNECT), 'connect')
    assert.equal(packetOrder('awaiting_connect', PUBLISH), 'first_packet_not_connect')
    assert.equal(packetOrder('awaiting_connect', SUBSCRIBE), 'first_packet_not_connect')
  })

  it('[MQTT-3.1.0-2] a second CONNECT is a protocol violation, before and after the session took the connection', () => {
    assert.equal(packetOrder('connecting', CONNECT), 'second_connect')
    assert.equal(packetOrder('connected', CONNECT), 'second_connect')
  })

  it('packets after CONNECT go to the session', () => {
    assert.equal(packetOrder('connecting', PUBLISH), 'packet')
    assert.equal(packetOrder('connected', SUBSCRIBE), 'packet')
  })
})

describe('idleVerdict', () => {
  const T = 1_000_000
  const state = (fields: Partial<IdleState>): IdleState => ({ phase: 'connected', openedAt: T, lastActivity: T, keepaliveTimeoutMs: 0, ...fields })
  const limits = (connectTimeoutMs: number, maxIdleWithoutKeepaliveMs = 0): IdleLimits => ({ connectTimeoutMs, maxIdleWithoutKeepaliveMs })

  it('[MQTT-3.1.2-24] a client silent for more than 1.5 × keepalive is timed out', () => {
    const timeout = keepaliveTimeoutMs(10)
    assert.equal(timeout, 15_000)
    assert.equal(idleVerdict(state({ keepaliveTimeoutMs: timeout }), limits(10_000), T + 15_000), undefined)
    assert.equal(idleVerdict(state({ keepaliveTimeoutMs: timeout }), limits(10_000), T + 15_001), 'keepalive_timeout')
  })

  it('keepalive 0 turns the keepalive off (§3.1.2.10)', () => {
    assert.equal(keepaliveTimeoutMs(0), 0)
    assert.equal(idleVerdict(state({ keepaliveTimeoutMs: 0 }), limits(10_000), T + 86_400_000), undefined)
  })

  it('keepalive 0 with mqtt.maxIdleWithoutKeepaliveMs: a client silent past the cap is timed out (3.1.1 §3.1.2.10 lets the server close an inactive client)', () => {
    assert.equal(idleVerdict(state({ keepaliveTimeoutMs: 0 }), limits(10_000, 60_000), T + 60_000), undefined)
    assert.equal(idleVerdict(state({ keepaliveTimeoutMs: 0 }), limits(10_000, 60_000), T + 60_001), 'idle_timeout')
    // The cap does not shorten or lengthen a keepalive the client asked for.
    assert.equal(idleVerdict(state({ keepaliveTimeoutMs: 90_000 }), limits(10_000, 60_000), T + 90_000), undefined)
  })

  it('a connection without an accepted CONNECT in time is timed out', () => {
    assert.equal(idleVerdict(state({ phase: 'awaiting_connect' }), limits(10_000), T + 10_000), undefined)
    assert.equal(idleVerdict(state({ phase: 'awaiting_connect' }), limits(10_000), T + 10_001), 'connect_timeout')
    assert.equal(idleVerdict(state({ phase: 'connecting' }), limits(10_000), T + 10_001), 'connect_timeout')
  })

  it('a closed connection is left alone', () => {
    assert.equal(idleVerdict(state({ phase: 'closed', keepaliveTimeoutMs: 1 }), limits(1), T + 10_000), undefined)
  })
})

describe('CONNACK', () => {
  const mqtt = loadConfig({ env: {}, overrides: {} }).mqtt
  const request: ConnectRequest = {
    clientId: 'c',
    assignedClientId: false,
    protocolVersion: 5,
    cleanStart: true,
    keepalive: 60,
    sessionExpiryInterval: 0,
    sessionExpiryChanged: false,
    receiveMaximum: 65535,
    maximumPacketSize: 268435460,
    topicAliasMaximum: 0,
    requestProblemInformation: true,
    identity: { clientId: 'c' }
  }

  it('[MQTT-3.2.2-3] carries Session Present; v3 gets return code 0 and no properties', () => {
    assert.deepEqual(acceptConnack({ ...request, protocolVersion: 4 }, true, mqtt), { cmd: 'connack', returnCode: 0, sessionPresent: true })
  })

  it('v5 carries the server\'s limits', () => {
    const connack = acceptConnack(request, false, mqtt)
    assert.equal(connack.reasonCode, 0)
    assert.deepEqual(connack.properties, { receiveMaximum: mqtt.receiveMaximum, maximumPacketSize: mqtt.maxPacketSize, topicAliasMaximum: mqtt.topicAliasMaximum })
  })

  it('[MQTT-3.2.2-16] v5 names an assigned client id, the Server Keep Alive [MQTT-3.2.2-21] and a changed Session Expiry Interval', () => {
    const { properties } = acceptConnack({ ...request, assignedClientId: true, serverKeepAlive: 30, sessionExpiryChanged: true, sessionExpiryInterval: 7200 }, false, mqtt)
    assert.ok(properties !== undefined)
    assert.equal(properties.assignedClientIdentifier, 'c')
    assert.equal(properties.serverKeepAlive, 30)
    assert.equal(properties.sessionExpiryInterval, 7200)
  })

  it('a server without retained messages says so', () => {
    assert.equal(acceptConnack(request, false, { ...mqtt, retainAvailable: false }).properties?.retainAvailable, false)
  })

  it('[MQTT-3.2.2-4] a refusal has Session Present 0; v3 gets the v3 return code', () => {
    assert.deepEqual(refuseConnack(5, ReasonCode.ClientIdentifierNotValid), { cmd: 'connack', reasonCode: ReasonCode.ClientIdentifierNotValid, sessionPresent: false })
    assert.deepEqual(refuseConnack(4, ReasonCode.ClientIdentifierNotValid), { cmd: 'connack', returnCode: 2, sessionPresent: false })
  })
})
