/**
 * Zero-config node names: a node started without a name takes the one its data directory
 * records, else `meshmq@<primary IPv4>` (loopback with manual discovery or no other address), and
 * its cluster listener binds that address. The pure rule (`chooseNodeName`), `loadConfig` with host
 * facts, `node.json` reading, and a real process restarted with no name.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  ConfigError, DEFAULT_NODE_NAME, chooseNodeName, defaultConfig, loadConfig, primaryIPv4,
  type HostFacts, type InterfaceAddress, type InterfaceMap
} from '../src/core/config/config.js'
import { readRecordedNodeName } from '../network/node-info-file.js'
import { USAGE } from '../src/cli-args.js'
import { spawnBroker, tempDir } from './helpers/broker-process.js'
import { logEvent } from './helpers/meshmq-process.js'

const LOOPBACK: InterfaceAddress[] = [
  { address: '127.0.0.1', family: 'IPv4', internal: true },
  { address: '::1', family: 'IPv6', internal: true }
]

function ipv4 (address: string): InterfaceAddress {
  return { address, family: 'IPv4', internal: false }
}

function ipv6 (address: string): InterfaceAddress {
  return { address, family: 'IPv6', internal: false }
}

/** A typical LAN host: loopback, then eth0, then a docker bridge. */
const LAN_HOST: InterfaceMap = { lo: LOOPBACK, eth0: [ipv6('fe80::1'), ipv4('10.0.0.5')], docker0: [ipv4('172.17.0.1')] }

/** Host facts with no data directory recording a name, that note every directory asked about. */
function hostFacts (interfaces: InterfaceMap, recorded: Record<string, string> = {}): HostFacts & { asked: string[] } {
  const asked: string[] = []
  return {
    interfaces,
    asked,
    recordedNodeName: dataDir => {
      asked.push(dataDir)
      return recorded[dataDir]
    }
  }
}

describe('chooseNodeName (a node started without a name)', () => {
  it('uses loopback on a host with no other IPv4 address (IPv6 and link-local 169.254/16 do not count)', () => {
    assert.deepEqual(chooseNodeName({ discovery: 'mdns', interfaces: { lo: LOOPBACK } }), { name: DEFAULT_NODE_NAME, source: 'no-interface' })
    assert.deepEqual(chooseNodeName({ discovery: 'mdns', interfaces: {} }), { name: 'meshmq@127.0.0.1', source: 'no-interface' })
    const linkLocalOnly = { lo: LOOPBACK, eth0: [ipv6('fe80::2'), ipv6('2001:db8::2'), ipv4('169.254.10.20')] }
    assert.equal(chooseNodeName({ discovery: 'mdns', interfaces: linkLocalOnly }).name, 'meshmq@127.0.0.1')
  })

  it('takes the first non-internal IPv4 address in interface order, on static discovery as on mDNS', () => {
    for (const discovery of ['mdns', 'static'] as const) {
      assert.deepEqual(chooseNodeName({ discovery, interfaces: LAN_HOST }), { name: 'meshmq@10.0.0.5', source: 'interface', interface: 'eth0' })
    }
    const twoNics = { lo: LOOPBACK, enp1s0: [ipv4('192.168.1.20'), ipv4('192.168.1.21')], enp2s0: [ipv4('10.9.0.1')] }
    assert.equal(chooseNodeName({ discovery: 'mdns', interfaces: twoNics }).name, 'meshmq@192.168.1.20')
  })

  it('passes over container and VM bridges listed before the LAN interface, and uses one only when nothing else has an address', () => {
    const bridgesFirst = { lo: LOOPBACK, docker0: [ipv4('172.17.0.1')], 'br-1a2b': [ipv4('172.18.0.1')], virbr0: [ipv4('192.168.122.1')], wlan0: [ipv4('192.168.1.7')] }
    assert.deepEqual(primaryIPv4(bridgesFirst), { address: '192.168.1.7', interface: 'wlan0' })
    assert.deepEqual(primaryIPv4({ lo: LOOPBACK, docker0: [ipv4('172.17.0.1')] }), { address: '172.17.0.1', interface: 'docker0' })
  })

  it('reads the family as a string or as the number of Node 18.0–18.3', () => {
    assert.equal(primaryIPv4({ eth0: [{ address: 'fe80::3', family: 6, internal: false }, { address: '10.1.1.1', family: 4, internal: false }] })?.address, '10.1.1.1')
  })

  it('uses loopback with manual discovery, whatever the interfaces (one host, as before)', () => {
    assert.deepEqual(chooseNodeName({ discovery: 'manual', interfaces: LAN_HOST }), { name: 'meshmq@127.0.0.1', source: 'manual-discovery' })
  })

  it('keeps the name the data directory remembers, over every other rule', () => {
    for (const discovery of ['mdns', 'static', 'manual'] as const) {
      assert.deepEqual(chooseNodeName({ discovery, interfaces: LAN_HOST, remembered: 'meshmq@10.0.0.9' }), { name: 'meshmq@10.0.0.9', source: 'remembered' })
    }
  })
})

describe('loadConfig with host facts (`meshmq start`)', () => {
  it('names an unnamed node after its primary address, binds the cluster port there and keeps data in ./data/<name>', () => {
    const host = hostFacts(LAN_HOST)
    const config = loadConfig({ env: {}, host })
    assert.equal(config.node.name, 'meshmq@10.0.0.5')
    assert.equal(config.cluster.host, '10.0.0.5')
    assert.equal(config.cluster.port, 4370)
    assert.equal(config.cluster.control.port, 5370)
    assert.equal(config.node.dataDir, './data/meshmq@10.0.0.5')
    assert.deepEqual(host.asked, ['./data/meshmq@10.0.0.5'])
  })

  it('cluster.host still overrides the address the cluster port binds', () => {
    const config = loadConfig({ env: { MESHMQ_CLUSTER_HOST: '0.0.0.0' }, host: hostFacts(LAN_HOST) })
    assert.equal(config.node.name, 'meshmq@10.0.0.5')
    assert.equal(config.cluster.host, '0.0.0.0')
  })

  it('keeps today\'s meshmq@127.0.0.1 with manual discovery (MESHMQ_DISCOVERY=manual or --discovery manual)', () => {
    assert.deepEqual(loadConfig({ env: { MESHMQ_DISCOVERY: 'manual' }, host: hostFacts(LAN_HOST) }), loadConfig({ env: { MESHMQ_DISCOVERY: 'manual' } }))
    const config = loadConfig({ env: {}, overrides: { cluster: { discovery: 'manual' } }, host: hostFacts(LAN_HOST) })
    assert.equal(config.node.name, 'meshmq@127.0.0.1')
    assert.equal(config.cluster.host, '127.0.0.1')
  })

  it('takes the name a given data directory records, whatever the addresses', () => {
    const host = hostFacts(LAN_HOST, { '/var/lib/meshmq': 'meshmq3@10.0.0.3' })
    const config = loadConfig({ env: { MESHMQ_NODE_DATA_DIR: '/var/lib/meshmq' }, host })
    assert.equal(config.node.name, 'meshmq3@10.0.0.3')
    assert.equal(config.cluster.host, '10.0.0.3')
    assert.equal(config.cluster.port, 4373)
    assert.equal(config.node.dataDir, '/var/lib/meshmq')
  })

  it('a name given by flag, environment or file wins and no data directory is read (a different recorded name is refused at start, as before)', () => {
    const host = hostFacts(LAN_HOST, { '/d': 'meshmq3@10.0.0.3' })
    assert.equal(loadConfig({ env: { MESHMQ_NODE_DATA_DIR: '/d' }, overrides: { node: { name: 'n1@10.0.0.1' } }, host }).node.name, 'n1@10.0.0.1')
    assert.equal(loadConfig({ env: { MESHMQ_NODE_DATA_DIR: '/d', MESHMQ_NODE_NAME: 'n2@10.0.0.2' }, host }).node.name, 'n2@10.0.0.2')
    assert.deepEqual(host.asked, [])
  })

  it('a recorded name that breaks the naming rules stops the node with a ConfigError naming node.name and the directory', () => {
    const host = hostFacts(LAN_HOST, { '/d': 'no-at-sign' })
    assert.throws(() => loadConfig({ env: { MESHMQ_NODE_DATA_DIR: '/d' }, host }), (err: unknown) => {
      assert.ok(err instanceof ConfigError)
      assert.equal(err.key, 'node.name')
      assert.match(err.message, /recorded in data directory \/d is invalid: missing "@"/)
      return true
    })
  })

  it('without host facts (the library, in-process tests) an unnamed node is meshmq@127.0.0.1 as before', () => {
    assert.equal(loadConfig({ env: {} }).node.name, DEFAULT_NODE_NAME)
    assert.deepEqual(loadConfig({ env: {} }), defaultConfig())
  })

  it('the usage text states the rule', () => {
    assert.match(USAGE, /--name NAME@HOST[^\n]*\n[^\n]*records, else meshmq@<primary IPv4 of this host>; meshmq@127\.0\.0\.1\n[^\n]*--discovery manual/)
  })
})

describe('readRecordedNodeName (node.json)', () => {
  it('reads the recorded name; a missing directory or file, or one that is not a node.json, records none', t => {
    const dir = tempDir(t, 'meshmq-nodejson-')
    assert.equal(readRecordedNodeName(join(dir, 'absent')), undefined)
    mkdirSync(join(dir, 'empty'))
    assert.equal(readRecordedNodeName(join(dir, 'empty')), undefined)
    for (const [name, text] of [['corrupt', '{"name": '], ['nameless', '{"createdAt": 1}'], ['numeric', '{"name": 7}'], ['array', '[]']] as const) {
      mkdirSync(join(dir, name))
      writeFileSync(join(dir, name, 'node.json'), text)
      assert.equal(readRecordedNodeName(join(dir, name)), undefined, name)
    }
    mkdirSync(join(dir, 'good'))
    writeFileSync(join(dir, 'good', 'node.json'), JSON.stringify({ name: 'meshmq@10.0.0.5', createdAt: 1 }))
    assert.equal(readRecordedNodeName(join(dir, 'good')), 'meshmq@10.0.0.5')
  })
})

describe('a node restarted without --name', () => {
  it('comes back under the name its data directory recorded on first start', async t => {
    const dataDir = tempDir(t, 'meshmq-remembered-')
    const common = ['--data-dir', dataDir, '--port', '0', '--log-level', 'info']
    const env = { MESHMQ_LOG_FORMAT: 'json' }
    const first = spawnBroker(t, { args: ['start', '--name', 'remembered7@127.0.0.1', ...common], env })
    const started = await first.waitForLog(logEvent('broker_started'))
    assert.equal(started.node, 'remembered7@127.0.0.1')
    await first.stop()
    assert.equal(readRecordedNodeName(dataDir), 'remembered7@127.0.0.1')

    const again = spawnBroker(t, { args: ['start', ...common], env })
    const restarted = await again.waitForLog(logEvent('broker_started'))
    assert.equal(restarted.node, 'remembered7@127.0.0.1', 'no --name: the recorded name, not meshmq@127.0.0.1')
    assert.equal(again.logs.find(logEvent('node_name_chosen'))?.source, 'remembered')
    assert.equal(first.logs.find(logEvent('node_name_chosen')), undefined, 'a node given --name logs no choice')
  })
})
