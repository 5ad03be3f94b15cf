/**
 * Assertions for the conformance tests of the "MUST close the Network Connection" clauses: raw
 * clients that send offending bytes, and what the broker must do then — close without a word
 * (MQTT 3.1.1), or send the reason code in a DISCONNECT or a CONNACK before closing (MQTT 5).
 */
import assert from 'node:assert/strict'
import { RawClient, describePacket, type ProtocolVersion } from './raw-client.js'
import type { Cleanup } from './mqtt-client.js'
import { uniqueName } from './wait.js'

/** A raw client that has sent nothing yet, destroyed when the test ends. */
export async function opened (t: Cleanup, port: number, protocolVersion: ProtocolVersion): Promise<RawClient> {
  const client = await RawClient.open(port, { protocolVersion })
  t.after(() => { client.destroy() })
  return client
}

/** A raw client past a successful CONNECT/CONNACK, destroyed when the test ends. */
export async function connected (t: Cleanup, port: number, protocolVersion: ProtocolVersion): Promise<RawClient> {
  const { client } = await RawClient.connected(port, { clientId: uniqueName('raw') }, { protocolVersion })
  t.after(() => { client.destroy() })
  return client
}

/**
 * The broker closes the connection and sends nothing before (after the CONNACK of the handshake,
 * when there was one): MQTT 3.1.1 has no packet to say why [MQTT-4.8.0-1].
 */
export async function expectClosedSilently (client: RawClient, what: string): Promise<void> {
  await client.closed()
  const sent = client.history.map(h => h.packet).filter(p => !(p.cmd === 'connack' && (p.returnCode ?? p.reasonCode) === 0))
  assert.deepEqual(sent.map(describePacket), [], `${what}: nothing but the close`)
}

/** MQTT 5: the broker sends DISCONNECT with `reasonCode` and closes [MQTT-4.13.1-1]. */
export async function expectDisconnect (client: RawClient, reasonCode: number, what: string): Promise<void> {
  const disconnect = await client.waitFor('disconnect')
  assert.equal(disconnect.reasonCode, reasonCode, `${what}: DISCONNECT 0x${(disconnect.reasonCode ?? 0).toString(16)}, expected 0x${reasonCode.toString(16)}`)
  await client.closed()
}

/** A refused CONNECT: MQTT 5 gets CONNACK `reasonCode`, then the close; nothing else is sent. */
export async function expectConnackRefusal (client: RawClient, reasonCode: number, what: string): Promise<void> {
  await client.closed()
  assert.deepEqual(client.history.map(h => describePacket(h.packet)), [`connack reasonCode=0x${reasonCode.toString(16)}`], `${what}: CONNACK 0x${reasonCode.toString(16)}, then the close`)
}
