/**
 * Client certificates as identities over real TLS, end to end: with `auth.useIdentityAsUsername`
 * a device connects with only a CA-signed certificate, its CN is its username (no password), the
 * ACL's `%u` patterns follow it, and a client id one device holds is refused to another
 * (MQTT 3.1.1 and 5); a TLS client without a certificate is refused Not authorized.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ErrorWithReasonCode } from 'mqtt'
import { startTestBroker, type Broker } from './helpers/broker.js'
import { ClientConnectError, connectClient, Inbox } from './helpers/mqtt-client.js'
import { createTestCertificates, type CertificatePair, type TestCertificates } from './helpers/test-certificates.js'
import { tempDir } from './helpers/auth-broker.js'

const NOT_AUTHORIZED = { 4: 5, 5: 0x87 } as const

let certs: TestCertificates
let sensor1: CertificatePair
let sensor2: CertificatePair
before(async () => {
  certs = await createTestCertificates()
  sensor1 = await certs.client('sensor-1')
  sensor2 = await certs.client('sensor-2')
})
after(() => { certs.remove() })

/** A broker whose TLS listener takes client certificates of the test CA, their CN the username. */
async function startCertificateBroker (t: Parameters<typeof startTestBroker>[0]): Promise<{ broker: Broker, port: number }> {
  const aclFile = join(tempDir(t), 'acl')
  writeFileSync(aclFile, 'pattern readwrite devices/%u/#\n')
  const broker = await startTestBroker(t, {
    listeners: [{ type: 'tls', host: '127.0.0.1', port: 0, certFile: certs.server.certFile, keyFile: certs.server.keyFile, caFile: certs.ca.certFile }],
    auth: { allowAnonymous: false, useIdentityAsUsername: true, aclFile }
  })
  const listener = broker.node.address.listeners.find(candidate => candidate.type === 'tls')
  assert.ok(listener)
  return { broker, port: listener.port }
}

/** The CONNACK code MQTT.js refused a connect with. */
async function refusalCode (connecting: Promise<unknown>): Promise<number | undefined> {
  const err = await connecting.then(() => undefined, (caught: unknown) => caught)
  assert.ok(err instanceof ClientConnectError, `the connect is refused, got ${String(err)}`)
  return (err.cause as ErrorWithReasonCode | undefined)?.code
}

for (const protocolVersion of [4, 5] as const) {
  describe(`certificate identity, MQTT ${protocolVersion === 5 ? '5' : '3.1.1'}`, () => {
    it('a device connects with its certificate alone; its CN is the username the ACL patterns use', async t => {
      const { port } = await startCertificateBroker(t)
      const tls = { protocol: 'mqtts' as const, ca: certs.ca.cert, protocolVersion }
      const device = await connectClient(t, port, { ...tls, cert: sensor1.cert, key: sensor1.key, clientId: `sensor-1-v${protocolVersion}` })
      const inbox = new Inbox(device)
      await device.subscribeAsync('devices/sensor-1/#', { qos: 1 })
      await device.publishAsync('devices/sensor-1/temp', '21', { qos: 1 })
      assert.equal((await inbox.waitForTopic('devices/sensor-1/temp')).payload.toString(), '21')
      // Another device's topics are not this one's [MQTT-3.9.3-1]: MQTT.js reports the SUBACK failure.
      await assert.rejects(device.subscribeAsync('devices/sensor-2/#', { qos: 1 }))
      assert.equal(await refusalCode(connectClient(t, port, { ...tls, clientId: `nocert-v${protocolVersion}` })), NOT_AUTHORIZED[protocolVersion])
    })

    it('a client id held by one device is refused to another device [MQTT-3.2.2-5]', async t => {
      const { port } = await startCertificateBroker(t)
      const tls = { protocol: 'mqtts' as const, ca: certs.ca.cert, protocolVersion, clean: false, ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}) }
      const clientId = `shared-id-v${protocolVersion}`
      const first = await connectClient(t, port, { ...tls, cert: sensor1.cert, key: sensor1.key, clientId })
      assert.equal(await refusalCode(connectClient(t, port, { ...tls, cert: sensor2.cert, key: sensor2.key, clientId })), NOT_AUTHORIZED[protocolVersion])
      assert.ok(first.connected, 'the holder stays connected')
    })
  })
}
