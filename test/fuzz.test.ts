/**
 * Throws at least 100k random and mutated MQTT packets (bit flips, truncation, corrupted lengths,
 * random bytes, splices of valid CONNECT/PUBLISH/SUBSCRIBE/... encodings) at a running broker over
 * many TCP connections, then checks a normal client still connects, subscribes and receives.
 * The RNG is seeded; set FUZZ_SEED to replay a run (the seed is printed).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as netConnect } from 'node:net'
import mqtt, { type Packet, type QoS } from 'mqtt-packet'
import { startTestBroker } from './helpers/broker.js'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import { RawClient } from './helpers/raw-client.js'
import { uniqueName } from './helpers/wait.js'

const TARGET_PACKETS = 150_000
const TIME_BUDGET_MS = 45_000
const PARALLEL_CONNECTIONS = 8
/** How long a connection stays open after its last write, unless the broker closes it first. */
const LINGER_MS = 40

/** mulberry32: a small, fast, seedable PRNG. */
class Random {
  private state: number
  constructor (seed: number) { this.state = seed >>> 0 }
  next (): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let z = this.state
    z = Math.imul(z ^ (z >>> 15), z | 1)
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61)
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296
  }

  int (n: number): number { return Math.floor(this.next() * n) }
  chance (p: number): boolean { return this.next() < p }
  pick<T> (items: readonly T[]): T { return items[this.int(items.length)]! }
  bytes (n: number): Buffer {
    const b = Buffer.alloc(n)
    for (let i = 0; i < n; i++) b[i] = this.int(256)
    return b
  }
}

type Version = 3 | 4 | 5
const TOPICS = ['a', 'a/b', 'fuzz/x', 'fuzz/+/y', 'fuzz/#', '#', '+', '$SYS/x', 'fuzz/ü/✓', '', '/', 'a//b']

function topicName (r: Random): string {
  return r.pick(['fuzz/x', 'fuzz/a/y', 'fuzz/ü', 'a/b', 'a', `fuzz/${r.int(100)}`])
}

function qos (r: Random): QoS { return r.pick([0, 1, 2] as const) }

function publishProperties (r: Random): NonNullable<Extract<Packet, { cmd: 'publish' }>['properties']> {
  const props: NonNullable<Extract<Packet, { cmd: 'publish' }>['properties']> = {}
  if (r.chance(0.3)) props.messageExpiryInterval = r.int(5)
  if (r.chance(0.3)) props.topicAlias = 1 + r.int(10)
  if (r.chance(0.3)) props.userProperties = { k: String(r.int(10)) }
  if (r.chance(0.2)) props.contentType = 'text/plain'
  if (r.chance(0.2)) props.responseTopic = 'fuzz/reply'
  if (r.chance(0.2)) props.correlationData = r.bytes(r.int(8))
  if (r.chance(0.1)) props.payloadFormatIndicator = r.chance(0.5)
  return props
}

function connectPacket (r: Random, version: Version): Packet {
  const packet: Extract<Packet, { cmd: 'connect' }> = {
    cmd: 'connect',
    protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: version,
    clientId: version !== 3 && r.chance(0.2) ? '' : `fuzz-${r.int(50)}`,
    clean: true,
    keepalive: r.pick([0, 0, 1, 60])
  }
  if (packet.clientId !== '' && r.chance(0.3)) packet.clean = false
  if (r.chance(0.3)) packet.will = { topic: topicName(r), payload: r.bytes(r.int(16)), qos: qos(r), retain: r.chance(0.2) }
  if (r.chance(0.2)) { packet.username = 'user'; packet.password = Buffer.from('pw') }
  if (version === 5 && r.chance(0.5)) {
    packet.properties = {
      sessionExpiryInterval: r.int(3),
      receiveMaximum: 1 + r.int(10),
      topicAliasMaximum: r.int(5),
      ...(r.chance(0.2) ? { maximumPacketSize: 64 + r.int(1000) } : {}),
      ...(r.chance(0.05) ? { authenticationMethod: 'SCRAM-SHA-1' } : {})
    }
  }
  return packet
}

/** A valid packet of a random type (after CONNECT), with random fields. */
function randomPacket (r: Random, version: Version): Packet {
  const messageId = 1 + r.int(20)
  switch (r.int(12)) {
    case 0: case 1: case 2: {
      const q = qos(r)
      const p: Extract<Packet, { cmd: 'publish' }> = { cmd: 'publish', topic: topicName(r), payload: r.bytes(r.int(64)), qos: q, retain: r.chance(0.2), dup: false }
      if (q > 0) p.messageId = messageId
      if (version === 5) p.properties = publishProperties(r)
      return p
    }
    case 3: {
      const subscriptions = Array.from({ length: 1 + r.int(3) }, () => ({
        topic: r.chance(0.2) ? `$share/g/${r.pick(TOPICS)}` : r.pick(TOPICS),
        qos: qos(r),
        ...(version === 5 ? { nl: r.chance(0.2), rap: r.chance(0.2), rh: r.int(3) } : {})
      }))
      return { cmd: 'subscribe', messageId, subscriptions, ...(version === 5 && r.chance(0.3) ? { properties: { subscriptionIdentifier: 1 + r.int(100) } } : {}) }
    }
    case 4: return { cmd: 'unsubscribe', messageId, unsubscriptions: [r.pick(TOPICS)] }
    case 5: return { cmd: 'puback', messageId }
    case 6: return { cmd: 'pubrec', messageId }
    case 7: return { cmd: 'pubrel', messageId }
    case 8: return { cmd: 'pubcomp', messageId }
    case 9: return { cmd: 'pingreq' }
    case 10: return version === 5 && r.chance(0.5) ? { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'x' } } : { cmd: 'pingreq' }
    default: return r.chance(0.3) ? { cmd: 'disconnect', ...(version === 5 ? { reasonCode: r.pick([0, 4, 0x80]) } : {}) } : connectPacket(r, version)
  }
}

function encode (packet: Packet, version: Version): Buffer {
  return mqtt.generate(packet, { protocolVersion: version })
}

/** One mutation of a valid encoding. */
function mutate (r: Random, bytes: Buffer): Buffer {
  const b = Buffer.from(bytes)
  switch (r.int(8)) {
    case 0: { // bit flips
      for (let i = 1 + r.int(4); i > 0; i--) { const at = r.int(b.length); b[at] = b[at]! ^ (1 << r.int(8)) }
      return b
    }
    case 1: return b.subarray(0, r.int(b.length)) // truncation
    case 2: { // corrupt the Remaining Length field
      const fake = [r.int(256), r.int(256), r.int(256), r.int(256)].slice(0, 1 + r.int(4))
      return Buffer.concat([b.subarray(0, 1), Buffer.from(fake), b.subarray(2)])
    }
    case 3: { b[0] = r.int(256); return b } // packet type and flags
    case 4: { // random bytes overwrite a range
      const at = r.int(b.length)
      r.bytes(Math.min(b.length - at, 1 + r.int(8))).copy(b, at)
      return b
    }
    case 5: return Buffer.concat([b.subarray(0, r.int(b.length)), r.bytes(r.int(16)), b.subarray(r.int(b.length))]) // splice
    case 6: return r.bytes(1 + r.int(32)) // pure noise
    default: { // insert or delete one byte
      const at = r.int(b.length)
      return r.chance(0.5) ? Buffer.concat([b.subarray(0, at), Buffer.from([r.int(256)]), b.subarray(at)]) : Buffer.concat([b.subarray(0, at), b.subarray(at + 1)])
    }
  }
}

/** The packets one fuzz connection sends: usually a CONNECT then a mix of valid and mutated packets. */
function connectionScript (r: Random): Buffer[] {
  const version = r.pick([3, 4, 4, 5, 5] as const)
  const packets: Buffer[] = []
  if (r.chance(0.05)) {
    packets.push(r.bytes(1 + r.int(512)))
    return packets
  }
  const connect = encode(connectPacket(r, version), version)
  packets.push(r.chance(0.85) ? connect : mutate(r, connect))
  const mutationRate = r.pick([0.002, 0.01, 0.05, 0.2, 1])
  const count = 1 + r.int(300)
  for (let i = 0; i < count; i++) {
    const bytes = encode(randomPacket(r, version), version)
    packets.push(r.chance(mutationRate) ? mutate(r, bytes) : bytes)
  }
  return packets
}

/** Sends the script over one TCP connection, split at random points; resolves when the socket is gone. */
async function runConnection (port: number, r: Random, packets: Buffer[]): Promise<'closed_by_broker' | 'lingered'> {
  const data = Buffer.concat(packets)
  const cuts = Array.from({ length: r.int(4) }, () => r.int(data.length)).sort((x, y) => x - y)
  return await new Promise(resolve => {
    const socket = netConnect({ port, host: '127.0.0.1' })
    let outcome: 'closed_by_broker' | 'lingered' = 'closed_by_broker'
    const hardStop = setTimeout(() => { outcome = 'lingered'; socket.destroy() }, 2000)
    socket.on('error', () => {})
    socket.on('data', () => {})
    socket.on('close', () => { clearTimeout(hardStop); resolve(outcome) })
    socket.on('connect', () => {
      let from = 0
      for (const cut of [...cuts, data.length]) {
        socket.write(data.subarray(from, cut))
        from = cut
      }
      socket.write(Buffer.alloc(0), () => {
        setTimeout(() => { if (!socket.destroyed) { outcome = 'lingered'; socket.destroy() } }, LINGER_MS)
      })
    })
  })
}

test(`fuzz: at least ${TARGET_PACKETS} random and mutated packets, then the broker still serves a normal client`, async t => {
  const broker = await startTestBroker(t, { mqtt: { connectTimeoutMs: 1000 } })
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 32)
  t.diagnostic(`FUZZ_SEED=${seed}`)
  console.log(`fuzz seed: FUZZ_SEED=${seed}`)
  const r = new Random(seed)
  const deadline = Date.now() + TIME_BUDGET_MS
  let sent = 0
  let connections = 0
  const outcomes = { closed_by_broker: 0, lingered: 0 }
  const worker = async (workerRandom: Random): Promise<void> => {
    while (sent < TARGET_PACKETS && Date.now() < deadline) {
      const script = connectionScript(workerRandom)
      sent += script.length
      connections++
      outcomes[await runConnection(broker.port, workerRandom, script)]++
    }
  }
  await Promise.all(Array.from({ length: PARALLEL_CONNECTIONS }, (_, i) => worker(new Random(seed + i * 7919 + r.int(1000)))))
  t.diagnostic(`sent ${sent} packets over ${connections} connections (${outcomes.closed_by_broker} closed by the broker, ${outcomes.lingered} closed by the fuzzer)`)
  assert.ok(sent >= TARGET_PACKETS, `only ${sent} packets sent within ${TIME_BUDGET_MS} ms`)

  for (const protocolVersion of [4, 5] as const) {
    const topic = uniqueName('after-fuzz')
    const client = await connectClient(t, broker.port, { protocolVersion, clientId: uniqueName('survivor') })
    const inbox = new Inbox(client)
    await client.subscribeAsync(topic, { qos: 1 })
    await client.publishAsync(topic, 'still alive', { qos: 1 })
    assert.equal((await inbox.waitForTopic(topic)).payload.toString(), 'still alive')
  }
  const { client: raw } = await RawClient.connected(broker.port, { clientId: uniqueName('raw-survivor') })
  t.after(() => raw.destroy())
  raw.send({ cmd: 'pingreq' })
  await raw.expect('pingresp')
})
