import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import {
  ConfigError, DEFAULT_NODE_NAME, clusterPortFor, defaultConfig, loadConfig,
  parseNodeAddress, parseNodeName
} from '../src/core/config/config.js'
import { readFileSync } from 'node:fs'
import { USAGE, UsageError, parseCommandLine } from '../src/cli-args.js'
import { ClusterBridge } from '../src/cluster-bridge.js'
import { CLUSTER_DEFAULTS, configKeys, environmentVariableOf } from '../src/core/config/config.js'
import { createLogger } from '../src/core/log.js'
import { launchNode, logEvent, NodeExitedError } from './helpers/node-process.js'
import { freePorts } from './helpers/ports.js'

/** Write `content` as a config file in a fresh temporary directory removed after the test. */
function configFile (t: TestContext, content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshmq-config-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'meshmq.json')
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content))
  return file
}

/** Assert that `run` throws a ConfigError for `key` whose message contains every `parts`. */
function assertConfigError (run: () => unknown, key: string, ...parts: string[]): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`)
    assert.equal(err.name, 'ConfigError')
    assert.equal(err.key, key)
    assert.ok(err.message.startsWith(`${key}: `), err.message)
    for (const part of parts) assert.ok(err.message.includes(part), `'${err.message}' lacks '${part}'`)
    return true
  })
}

describe('defaults', () => {
  it('are complete and match the documented values', () => {
    const config = defaultConfig()
    assert.equal(config.node.name, DEFAULT_NODE_NAME)
    assert.equal(config.node.dataDir, './data/meshmq@127.0.0.1')
    assert.deepEqual(config.listener, { enabled: true, host: '0.0.0.0', port: 1883, tcpKeepAliveMs: 60_000 })
    assert.deepEqual(config.listeners, [])
    assert.deepEqual(config.auth, { allowAnonymous: true, useIdentityAsUsername: false, allowSysPublish: false, aclCacheSize: 256, aclCacheBytes: 65536 })
    assert.deepEqual(config.log, { level: 'info', format: 'auto' })
    assert.equal(config.mqtt.maxPacketSize, 1024 * 1024)
    assert.equal(config.mqtt.maxSessionExpiry, 7200)
    assert.equal(config.shards, 4)
    assert.equal(config.sys.intervalMs, 10_000)
    assert.equal(config.cluster.discovery, 'mdns')
    assert.equal(config.cluster.port, 4370)
    assert.equal(config.cluster.host, '127.0.0.1')
    assert.deepEqual(config.cluster.seeds, [])
    assert.equal(config.cluster.secret, 'meshmq')
    assert.equal(config.cluster.autocleanMs, 5 * 60_000)
    assert.deepEqual(config.cluster.control, { transport: 'unix', host: '127.0.0.1', port: 5370 })
  })

  it('are a fresh object on every call', () => {
    const first = defaultConfig()
    first.cluster.seeds.push('x@y')
    first.mqtt.maxInflight = 1
    assert.deepEqual(defaultConfig().cluster.seeds, [])
    assert.equal(defaultConfig().mqtt.maxInflight, 32)
  })

  it('loadConfig with nothing set equals defaultConfig', () => {
    assert.deepEqual(loadConfig({ env: {} }), defaultConfig())
  })
})

describe('node names and the cluster port rule', () => {
  it('parses name@host, the host an IPv4 or IPv6 literal or a host name', () => {
    assert.deepEqual(parseNodeName('meshmq2@10.0.0.2'), { full: 'meshmq2@10.0.0.2', base: 'meshmq2', host: '10.0.0.2' })
    assert.deepEqual(parseNodeName('a_b.c-d@host.example'), { full: 'a_b.c-d@host.example', base: 'a_b.c-d', host: 'host.example' })
    assert.equal(parseNodeName('n@::1').host, '::1')
  })

  for (const bad of ['meshmq', 'meshmq@', '@host', 'me sh@h', 'a@b@c', 'a@h st', '_n@h', 'n@bad_host', 'n@host-', `n@${'h'.repeat(254)}`]) {
    it(`rejects '${bad.slice(0, 20)}' with InvalidNodeNameError`, () => {
      assert.throws(() => parseNodeName(bad), { name: 'InvalidNodeNameError' })
    })
  }

  // The cluster network parses names by these same rules: a name loadConfig accepts starts a node.
  for (const bad of ['n1@bad_host', '_n1@127.0.0.1', 'n1@-host']) {
    it(`a name the cluster would refuse ('${bad}') is a ConfigError naming node.name`, () => {
      assertConfigError(() => loadConfig({ env: {}, overrides: { node: { name: bad } } }), 'node.name', bad)
      assertConfigError(() => loadConfig({ env: { MESHMQ_NODE_NAME: bad } }), 'node.name', 'MESHMQ_NODE_NAME')
    })
  }

  it('is 4370 plus the numeric suffix of the name part', () => {
    assert.equal(clusterPortFor('emqx2@h'), 4372)
    assert.equal(clusterPortFor('meshmq@h'), 4370)
    assert.equal(clusterPortFor('meshmq12@10.0.0.1'), 4382)
    assert.equal(clusterPortFor('n1@host9'), 4371, 'digits in the host do not count')
    assert.equal(clusterPortFor('node3@h', 5000), 5003, 'from another base')
    assert.throws(() => clusterPortFor('n99999@h'), { name: 'InvalidNodeNameError', message: /104369/ })
  })

  it('parses node addresses (seeds, join targets) with and without a port', () => {
    assert.deepEqual(parseNodeAddress('meshmq2@10.0.0.2:4999'), { node: 'meshmq2@10.0.0.2', host: '10.0.0.2', port: 4999 })
    assert.deepEqual(parseNodeAddress('meshmq3@10.0.0.3'), { node: 'meshmq3@10.0.0.3', host: '10.0.0.3', port: 4373 })
    assert.deepEqual(parseNodeAddress('n@[::1]:4380'), { node: 'n@::1', host: '::1', port: 4380 })
    assert.deepEqual(parseNodeAddress('n@::1'), { node: 'n@::1', host: '::1', port: 4370 })
    for (const bad of ['meshmq2@h:0', 'meshmq2@h:http', 'nohost', 'n@h_x:4370', 'n@[::1', 'n99999@h']) {
      assert.throws(() => parseNodeAddress(bad), { name: 'InvalidNodeAddressError' }, bad)
    }
    assert.throws(() => parseNodeAddress('n99999@h'), { message: /104369/ })
  })

  it('checks seeds by the same rules, as a ConfigError naming cluster.seeds', () => {
    assertConfigError(() => loadConfig({ env: {}, overrides: { cluster: { seeds: ['ok@h', 'n@h_x'] } } }), 'cluster.seeds', 'n@h_x')
  })
})

describe('cluster tunables', () => {
  it('have their defaults in one place, shared by the config and the cluster network', () => {
    const config = defaultConfig()
    for (const [key, value] of Object.entries(CLUSTER_DEFAULTS)) {
      assert.deepEqual((config.cluster as unknown as Record<string, unknown>)[key], value, `cluster.${key}`)
    }
    const bridge = new ClusterBridge(config, createLogger({ level: 'silent', format: 'json', node: config.node.name }))
    for (const [key, value] of Object.entries(CLUSTER_DEFAULTS)) {
      assert.deepEqual((bridge.network.settings as unknown as Record<string, unknown>)[key], value, `network ${key}`)
    }
  })

  it('are set from the environment and the file and reach the cluster network through the bridge', (t) => {
    const file = configFile(t, { cluster: { heartbeatIntervalMs: 300, maxQueuedBytesPerPeer: 1_048_576 } })
    const config = loadConfig({
      file,
      env: { MESHMQ_CLUSTER_PEER_TIMEOUT_MS: '9000', MESHMQ_CLUSTER_REDIAL_MIN_MS: '100', MESHMQ_CLUSTER_REDIAL_MAX_MS: '800', MESHMQ_CLUSTER_STOP_DRAIN_MS: '0' },
      overrides: { node: { name: 'tun3@127.0.0.1' }, cluster: { secret: 's', discovery: 'manual' } }
    })
    const { settings } = new ClusterBridge(config, createLogger({ level: 'silent', format: 'json', node: config.node.name })).network
    assert.equal(settings.name, 'tun3@127.0.0.1')
    assert.equal(settings.port, 4373)
    assert.equal(settings.listenHost, '127.0.0.1')
    assert.equal(settings.secret, 's')
    assert.equal(settings.discovery, 'manual')
    assert.equal(settings.heartbeatIntervalMs, 300)
    assert.equal(settings.peerTimeoutMs, 9000)
    assert.equal(settings.redialMinMs, 100)
    assert.equal(settings.redialMaxMs, 800)
    assert.equal(settings.maxQueuedBytesPerPeer, 1_048_576)
    assert.equal(settings.stopDrainMs, 0)
    assert.equal(settings.dataDir, './data/tun3@127.0.0.1')
  })

  it('are checked against each other', () => {
    assertConfigError(() => loadConfig({ env: { MESHMQ_CLUSTER_PEER_TIMEOUT_MS: '1000', MESHMQ_CLUSTER_HEARTBEAT_INTERVAL_MS: '1000' } }),
      'cluster.peerTimeoutMs', 'cluster.heartbeatIntervalMs')
    assertConfigError(() => loadConfig({ env: {}, overrides: { cluster: { redialMinMs: 500, redialMaxMs: 400 } } }), 'cluster.redialMaxMs', 'cluster.redialMinMs')
    assertConfigError(() => loadConfig({ env: { MESHMQ_CLUSTER_MAX_QUEUED_BYTES_PER_PEER: '10' } }), 'cluster.maxQueuedBytesPerPeer', 'between')
  })
})

describe('README configuration table', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  /** Table rows `| \`key\` | \`VARIABLE\` | default | what |` by key. */
  const rows = new Map<string, string[]>()
  for (const line of readme.split('\n')) {
    const cells = line.split('|').slice(1, -1).map(cell => cell.trim())
    const key = /^`([A-Za-z.]+)`$/.exec(cells[0] ?? '')?.[1]
    if (key !== undefined && cells.length === 4) rows.set(key, cells)
  }
  /** Keys whose default is computed from other keys or the host (`node.name`); the table describes the rule. */
  const derived = new Set(['node.name', 'node.dataDir', 'cluster.port', 'cluster.host', 'cluster.control.port', 'http.port'])
  const config = defaultConfig() as unknown as Record<string, Record<string, unknown>>

  for (const key of configKeys()) {
    it(`documents ${key} with its variable and default`, () => {
      const row = rows.get(key)
      assert.ok(row !== undefined, `README has no row for ${key}`)
      assert.equal(row[1], `\`${environmentVariableOf(key)}\``)
      if (derived.has(key)) return
      let value: unknown = config
      for (const part of key.split('.')) value = (value as Record<string, unknown> | undefined)?.[part]
      // Keys set only when configured (a file path, the JWT section) have no default.
      if (value === undefined) assert.equal(row[2], 'none')
      else assert.equal(row[2], `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``)
    })
  }

  it('lists no key the config does not have', () => {
    assert.deepEqual([...rows.keys()].filter(key => !configKeys().includes(key)), [])
  })
})

describe('a bad node name at start', () => {
  it('stops the node with the config error exit code 78 and a message naming node.name', async (t) => {
    // 'n1@bad_host' passed the old config rule but threw in the cluster network at start (exit 1).
    const [clusterPort, controlPort] = await freePorts(2)
    const node = launchNode(t, { name: 'n1@bad_host', clusterPort, controlPort })
    await assert.rejects(node.waitForLog(logEvent('broker_started'), { timeoutMs: 10_000 }), (err: unknown) => {
      assert.ok(err instanceof NodeExitedError, String(err))
      assert.equal(err.status.code, 78, err.stderr)
      assert.match(err.stderr, /invalid configuration: node\.name: invalid node name "n1@bad_host": bad host part/)
      return true
    })
  })
})

describe('derived defaults', () => {
  it('take the cluster port, cluster host, data dir and control port from the node name', () => {
    const config = loadConfig({ env: {}, overrides: { node: { name: 'emqx2@10.1.2.3' } } })
    assert.equal(config.cluster.port, 4372)
    assert.equal(config.cluster.host, '10.1.2.3')
    assert.equal(config.node.dataDir, './data/emqx2@10.1.2.3')
    assert.deepEqual(config.cluster.control, { transport: 'unix', host: '127.0.0.1', port: 5372 })
  })

  it('use 4370 for a name without a numeric suffix', () => {
    const config = loadConfig({ env: { MESHMQ_NODE_NAME: 'meshmq@h' } })
    assert.equal(config.cluster.port, 4370)
    assert.equal(config.cluster.control.port, 5370)
  })

  it('are not applied to keys set explicitly', (t) => {
    const file = configFile(t, { cluster: { port: 6000, host: '0.0.0.0' }, node: { dataDir: '/var/lib/meshmq' } })
    const config = loadConfig({ file, env: { MESHMQ_CLUSTER_CONTROL_PORT: '7000' }, overrides: { node: { name: 'emqx2@h' } } })
    assert.equal(config.cluster.port, 6000)
    assert.equal(config.cluster.host, '0.0.0.0')
    assert.equal(config.node.dataDir, '/var/lib/meshmq')
    assert.equal(config.cluster.control.port, 7000)
  })

  it('derive the control port from an explicit cluster port', () => {
    assert.equal(loadConfig({ env: {}, overrides: { cluster: { port: 4500 } } }).cluster.control.port, 5500)
    assert.equal(loadConfig({ env: {}, overrides: { cluster: { port: 0 } } }).cluster.control.port, 0, 'ephemeral stays ephemeral')
  })

  it('reject a derived port above 65535', () => {
    assertConfigError(() => loadConfig({ env: {}, overrides: { node: { name: 'n99999@h' } } }), 'cluster.port', 'n99999@h')
    assertConfigError(() => loadConfig({ env: {}, overrides: { cluster: { port: 65000 } } }), 'cluster.control.port', '66000')
  })
})

describe('precedence: defaults < file < environment < flags', () => {
  it('lets each later source override the earlier ones, key by key', (t) => {
    const file = configFile(t, {
      listener: { port: 1884, host: '127.0.0.1' },
      mqtt: { maxInflight: 10, maxQueuedMessages: 50 },
      cluster: { seeds: ['a@h1', 'b@h2'] }
    })
    const config = loadConfig({
      file,
      env: { MESHMQ_LISTENER_PORT: '1885', MESHMQ_MQTT_MAX_INFLIGHT: '20' },
      overrides: { listener: { port: 1886 } }
    })
    assert.equal(config.listener.port, 1886, 'flag beats env and file')
    assert.equal(config.listener.host, '127.0.0.1', 'file beats default')
    assert.equal(config.mqtt.maxInflight, 20, 'env beats file')
    assert.equal(config.mqtt.maxQueuedMessages, 50, 'file value kept where nothing later sets it')
    assert.equal(config.mqtt.receiveMaximum, 32, 'default kept where nothing sets it')
    assert.deepEqual(config.cluster.seeds, ['a@h1', 'b@h2'])
  })

  it('replaces lists whole instead of merging them', (t) => {
    const file = configFile(t, { cluster: { seeds: ['a@h1', 'b@h2'] } })
    assert.deepEqual(loadConfig({ file, env: { MESHMQ_SEEDS: 'c@h3' } }).cluster.seeds, ['c@h3'])
    assert.deepEqual(loadConfig({ file, env: {}, overrides: { cluster: { seeds: [] } } }).cluster.seeds, [])
  })

  it('reads the file named by MESHMQ_CONFIG unless a file is passed', (t) => {
    const fromEnv = configFile(t, { shards: 8 })
    const passed = configFile(t, { shards: 2 })
    assert.equal(loadConfig({ env: { MESHMQ_CONFIG: fromEnv } }).shards, 8)
    assert.equal(loadConfig({ file: passed, env: { MESHMQ_CONFIG: fromEnv } }).shards, 2)
  })
})

describe('environment variables', () => {
  it('follow MESHMQ_<SECTION>_<KEY> and parse by the field type', () => {
    const config = loadConfig({
      env: {
        MESHMQ_NODE_NAME: 'meshmq3@10.0.0.3',
        MESHMQ_NODE_DATA_DIR: '/data/n3',
        MESHMQ_LOG_LEVEL: 'debug',
        MESHMQ_LOG_FORMAT: 'json',
        MESHMQ_MQTT_MAX_PACKET_SIZE: '2048',
        MESHMQ_MQTT_RETAIN_AVAILABLE: 'false',
        MESHMQ_MQTT_QUEUE_DROP_POLICY: 'drop_newest',
        MESHMQ_SHARDS: '2',
        MESHMQ_SYS_INTERVAL_MS: '1000',
        MESHMQ_CLUSTER_AUTOCLEAN_MS: '60000',
        MESHMQ_CLUSTER_SECRET: 's3cret',
        MESHMQ_CLUSTER_CONTROL_HOST: '127.0.0.2',
        MESHMQ_UNRELATED_SETTING: 'ignored'
      }
    })
    assert.equal(config.node.name, 'meshmq3@10.0.0.3')
    assert.equal(config.node.dataDir, '/data/n3')
    assert.deepEqual(config.log, { level: 'debug', format: 'json' })
    assert.equal(config.mqtt.maxPacketSize, 2048)
    assert.equal(config.mqtt.retainAvailable, false)
    assert.equal(config.mqtt.queueDropPolicy, 'drop_newest')
    assert.equal(config.shards, 2)
    assert.equal(config.sys.intervalMs, 1000)
    assert.equal(config.cluster.autocleanMs, 60_000)
    assert.equal(config.cluster.secret, 's3cret')
    assert.deepEqual(config.cluster.control, { transport: 'unix', host: '127.0.0.2', port: 5373 })
    assert.equal(loadConfig({ env: { MESHMQ_CLUSTER_CONTROL_TRANSPORT: 'tcp' } }).cluster.control.transport, 'tcp')
    assertConfigError(() => loadConfig({ env: { MESHMQ_CLUSTER_CONTROL_TRANSPORT: 'udp' } }), 'cluster.control.transport', 'unix, tcp')
  })

  it('accept the short aliases MESHMQ_DISCOVERY and MESHMQ_SEEDS', () => {
    const config = loadConfig({ env: { MESHMQ_DISCOVERY: 'static', MESHMQ_SEEDS: 'meshmq2@h2:4372, meshmq3@h3 ,' } })
    assert.equal(config.cluster.discovery, 'static')
    assert.deepEqual(config.cluster.seeds, ['meshmq2@h2:4372', 'meshmq3@h3'])
  })

  it('reject an alias and its generic variable set to different values', () => {
    assertConfigError(() => loadConfig({ env: { MESHMQ_DISCOVERY: 'static', MESHMQ_CLUSTER_DISCOVERY: 'manual' } }),
      'cluster.discovery', 'MESHMQ_DISCOVERY', 'MESHMQ_CLUSTER_DISCOVERY')
    assert.equal(loadConfig({ env: { MESHMQ_DISCOVERY: 'static', MESHMQ_CLUSTER_DISCOVERY: 'static' } }).cluster.discovery, 'static')
  })

  const badValues: Array<[string, string, string, string]> = [
    ['MESHMQ_MQTT_MAX_PACKET_SIZE', 'big', 'mqtt.maxPacketSize', 'must be an integer between 1 and 268435455'],
    ['MESHMQ_MQTT_MAX_PACKET_SIZE', '0', 'mqtt.maxPacketSize', 'must be an integer between 1 and 268435455'],
    ['MESHMQ_LISTENER_PORT', '70000', 'listener.port', 'between 0 and 65535'],
    ['MESHMQ_LISTENER_PORT', '1883.5', 'listener.port', 'integer'],
    ['MESHMQ_MQTT_RETAIN_AVAILABLE', 'yes', 'mqtt.retainAvailable', 'true or false'],
    ['MESHMQ_LOG_LEVEL', 'verbose', 'log.level', 'one of trace'],
    ['MESHMQ_DISCOVERY', 'dns', 'cluster.discovery', 'one of mdns, static, manual'],
    ['MESHMQ_SEEDS', 'meshmq2@h:99999', 'cluster.seeds', 'port'],
    ['MESHMQ_NODE_NAME', 'no-host', 'node.name', 'name@host'],
    ['MESHMQ_CLUSTER_SECRET', '', 'cluster.secret', 'non-empty'],
    // The OS takes TCP keepalive delays in whole seconds: below 1000 ms its default (2 hours) would stay.
    ['MESHMQ_LISTENER_TCP_KEEP_ALIVE_MS', '500', 'listener.tcpKeepAliveMs', 'must be 0 (off) or an integer between 1000 and'],
    ['MESHMQ_MQTT_MAX_IDLE_WITHOUT_KEEPALIVE_MS', '-1', 'mqtt.maxIdleWithoutKeepaliveMs', 'must be 0 (off) or an integer between 1000 and'],
    ['MESHMQ_MQTT_MAX_RETAINED_MESSAGES', '0', 'mqtt.maxRetainedMessages', 'between 1 and'],
    ['MESHMQ_MQTT_MAX_RETAINED_BYTES', '100', 'mqtt.maxRetainedBytes', 'between 1024 and']
  ]
  for (const [variable, value, key, problem] of badValues) {
    it(`reject ${variable}='${value}' naming ${key} and the variable`, () => {
      assertConfigError(() => loadConfig({ env: { [variable]: value } }), key, problem, variable)
    })
  }
})

describe('config file', () => {
  it('rejects unknown keys at any depth', (t) => {
    assertConfigError(() => loadConfig({ file: configFile(t, { mqtt: { maxPacketSise: 10 } }), env: {} }), 'mqtt.maxPacketSise', 'unknown key')
    assertConfigError(() => loadConfig({ file: configFile(t, { auth: { passwd: 'x' } }), env: {} }), 'auth.passwd', 'unknown key')
    assertConfigError(() => loadConfig({ file: configFile(t, { cluster: { control: { bind: 'x' } } }), env: {} }), 'cluster.control.bind', 'unknown key')
  })

  it('rejects values of the wrong type or range, naming the key and the file', (t) => {
    const file = configFile(t, { mqtt: { maxPacketSize: '1024' } })
    assertConfigError(() => loadConfig({ file, env: {} }), 'mqtt.maxPacketSize', 'must be an integer between 1 and 268435455', file)
    assertConfigError(() => loadConfig({ file: configFile(t, { mqtt: { maxPacketSize: 268435456 } }), env: {} }), 'mqtt.maxPacketSize')
    assertConfigError(() => loadConfig({ file: configFile(t, { mqtt: { receiveMaximum: 0 } }), env: {} }), 'mqtt.receiveMaximum')
    assertConfigError(() => loadConfig({ file: configFile(t, { mqtt: { queueDropPolicy: 'drop_all' } }), env: {} }), 'mqtt.queueDropPolicy')
    assertConfigError(() => loadConfig({ file: configFile(t, { cluster: { seeds: 'a@h' } }), env: {} }), 'cluster.seeds', 'list')
    assertConfigError(() => loadConfig({ file: configFile(t, { cluster: 'x' }), env: {} }), 'cluster', 'object')
    assertConfigError(() => loadConfig({ file: configFile(t, { shards: null }), env: {} }), 'shards')
  })

  it('[MQTT-3.1.3-5] refuses a client id limit below the 23 bytes every server must accept', (t) => {
    assertConfigError(() => loadConfig({ file: configFile(t, { mqtt: { maxClientIdLength: 22 } }), env: {} }), 'mqtt.maxClientIdLength', '23')
  })

  it('reports a missing file or invalid JSON as a config error', (t) => {
    assertConfigError(() => loadConfig({ file: '/nonexistent/meshmq.json', env: {} }), 'config', '/nonexistent/meshmq.json')
    assertConfigError(() => loadConfig({ file: configFile(t, '{ "shards": 4, }'), env: {} }), 'config', 'not valid JSON')
    assertConfigError(() => loadConfig({ file: configFile(t, '[]'), env: {} }), 'config', 'object')
  })
})

describe('command-line overrides in loadConfig', () => {
  it('are validated like the other sources, naming the key', () => {
    assertConfigError(() => loadConfig({ env: {}, overrides: { listener: { port: 99999 } } }), 'listener.port', 'command line')
    assertConfigError(() => loadConfig({ env: {}, overrides: { shards: 0 } }), 'shards', 'between 1 and 1024')
    assertConfigError(() => loadConfig({ env: {}, overrides: { node: { name: 'bad name@h' } } }), 'node.name')
  })
})

describe('parseCommandLine', () => {
  it('parses start with every flag into overrides', () => {
    const command = parseCommandLine([
      'start', '--name', 'meshmq2@10.0.0.2', '--port', '1884', '--config', '/etc/meshmq.json',
      '--data-dir', '/var/lib/meshmq', '--log-level', 'debug', '--cluster-port', '4400',
      '--discovery', 'static', '--seeds', 'meshmq1@10.0.0.1:4371,meshmq3@10.0.0.3', '--secret', 's',
      '--shards', '8'
    ])
    assert.deepEqual(command, {
      kind: 'start',
      configFile: '/etc/meshmq.json',
      overrides: {
        node: { name: 'meshmq2@10.0.0.2', dataDir: '/var/lib/meshmq' },
        listener: { port: 1884 },
        log: { level: 'debug' },
        cluster: { port: 4400, discovery: 'static', seeds: ['meshmq1@10.0.0.1:4371', 'meshmq3@10.0.0.3'], secret: 's' },
        shards: 8
      },
      secretOnCommandLine: true
    })
  })

  it('parses a bare start and --key=value syntax', () => {
    assert.deepEqual(parseCommandLine(['start']), { kind: 'start', overrides: {} })
    assert.deepEqual(parseCommandLine(['start', '--port=0']), { kind: 'start', overrides: { listener: { port: 0 } } })
  })

  it('--http-port sets http.port; http.token and http.tokenFile exclude each other', () => {
    assert.deepEqual(parseCommandLine(['start', '--http-port', '0']), { kind: 'start', overrides: { http: { port: 0 } } })
    assert.equal(loadConfig({ env: { MESHMQ_HTTP_PORT: '18084' } }).http.port, 18084)
  })

  it('http.port follows the node name like cluster.port, so several nodes run on one host; an explicit port wins', () => {
    assert.equal(loadConfig({ env: {} }).http.port, 18083)
    assert.equal(loadConfig({ env: {}, overrides: { node: { name: 'meshmq2@127.0.0.1' } } }).http.port, 18085)
    assert.equal(loadConfig({ env: {}, overrides: { node: { name: 'meshmq2@127.0.0.1' }, cluster: { port: 4380 } } }).http.port, 18093)
    assert.equal(loadConfig({ env: { MESHMQ_HTTP_PORT: '9000' }, overrides: { node: { name: 'meshmq2@127.0.0.1' } } }).http.port, 9000)
    assert.equal(loadConfig({ env: {}, overrides: { node: { name: 'meshmq2@127.0.0.1' }, http: { port: 0 } } }).http.port, 0)
    assertConfigError(() => loadConfig({ env: {}, overrides: { http: { token: 't', tokenFile: '/f' } } }), 'http.tokenFile', 'not both')
  })

  it('start flags override environment and file in loadConfig', (t) => {
    const file = configFile(t, { listener: { port: 1890 }, shards: 2 })
    const command = parseCommandLine(['start', '--config', file, '--port', '1891'])
    assert.equal(command.kind, 'start')
    const config = loadConfig({ file: command.configFile, env: { MESHMQ_LISTENER_PORT: '1892', MESHMQ_SHARDS: '3' }, overrides: command.overrides })
    assert.equal(config.listener.port, 1891)
    assert.equal(config.shards, 3)
  })

  it('parses ctl with --data-dir, alone or with --control (its token)', () => {
    assert.deepEqual(parseCommandLine(['ctl', '--data-dir', '/var/lib/meshmq', 'cluster', 'status']),
      { kind: 'ctl', dataDir: '/var/lib/meshmq', json: false, args: ['cluster', 'status'] })
    assert.deepEqual(parseCommandLine(['ctl', '--control', '127.0.0.1:5372', '--data-dir', 'd', 'cluster', 'leave']),
      { kind: 'ctl', dataDir: 'd', control: { host: '127.0.0.1', port: 5372 }, json: false, args: ['cluster', 'leave'] })
    assert.throws(() => parseCommandLine(['ctl', '--node', 'a@h', '--data-dir', 'd', 'cluster', 'status']), /either --node or --data-dir/)
  })

  it('parses ctl with --node, --control and --json', () => {
    assert.deepEqual(parseCommandLine(['ctl', '--node', 'meshmq2@h', 'cluster', 'status']),
      { kind: 'ctl', node: 'meshmq2@h', json: false, args: ['cluster', 'status'] })
    assert.deepEqual(parseCommandLine(['ctl', '--control', '127.0.0.1:5372', '--json', 'cluster', 'join', 'meshmq1@10.0.0.1']),
      { kind: 'ctl', control: { host: '127.0.0.1', port: 5372 }, json: true, args: ['cluster', 'join', 'meshmq1@10.0.0.1'] })
    assert.deepEqual(parseCommandLine(['ctl', 'cluster', 'force-leave', 'meshmq3@h:4373', '--json']),
      { kind: 'ctl', json: true, args: ['cluster', 'force-leave', 'meshmq3@h:4373'] })
    assert.deepEqual(parseCommandLine(['ctl', '--control', '[::1]:5370', 'cluster', 'leave']),
      { kind: 'ctl', control: { host: '::1', port: 5370 }, json: false, args: ['cluster', 'leave'] })
  })

  it('returns help and version', () => {
    for (const argv of [['--help'], ['-h'], ['help'], ['start', '--help'], ['ctl', '-h']]) {
      assert.deepEqual(parseCommandLine(argv), { kind: 'help', text: USAGE }, argv.join(' '))
    }
    assert.deepEqual(parseCommandLine(['--version']), { kind: 'version' })
    assert.match(USAGE, /meshmq start/)
    assert.match(USAGE, /meshmq ctl/)
  })

  const usageErrors: Array<[string[], string]> = [
    [[], 'missing command'],
    [['stop'], "unknown command 'stop'"],
    [['start', '--bogus'], '--bogus'],
    [['start', '--port'], '--port'],
    [['start', '--port', 'abc'], "--port: expected a non-negative integer, got 'abc'"],
    [['start', '--port', '-1'], '--port'],
    [['start', '--shards', '2.5'], '--shards'],
    [['start', '--log-level', 'loud'], '--log-level'],
    [['start', '--discovery', 'dns'], '--discovery'],
    [['start', 'extra'], "unexpected argument 'extra'"],
    [['ctl'], 'missing command'],
    [['ctl', 'node', 'list'], "unknown command 'node'"],
    [['ctl', 'cluster'], 'expected one of status, join, leave, force-leave'],
    [['ctl', 'cluster', 'explode'], "got 'explode'"],
    [['ctl', 'cluster', 'join'], 'expects one node'],
    [['ctl', 'cluster', 'status', 'extra'], 'takes no argument'],
    [['ctl', 'cluster', 'join', 'not-a-node'], 'ctl cluster join'],
    [['ctl', '--node', 'a@h', '--control', 'h:1', 'cluster', 'status'], 'not both'],
    [['ctl', '--node', 'nohost', 'cluster', 'status'], '--node'],
    [['ctl', '--control', 'localhost', 'cluster', 'status'], '--control'],
    [['ctl', '--control', 'h:70000', 'cluster', 'status'], '--control'],
    [['ctl', '--verbose', 'cluster', 'status'], '--verbose']
  ]
  for (const [argv, fragment] of usageErrors) {
    it(`rejects 'meshmq ${argv.join(' ')}' with a UsageError`, () => {
      assert.throws(() => parseCommandLine(argv), (err: unknown) => {
        assert.ok(err instanceof UsageError, `expected UsageError, got ${String(err)}`)
        assert.equal(err.name, 'UsageError')
        assert.ok(err.message.includes(fragment), `'${err.message}' lacks '${fragment}'`)
        return true
      })
    })
  }
})

describe('createLogger', () => {
  /** A logger writing into memory, and the JSON lines written so far. */
  function capture (level: string, node = 'meshmq1@127.0.0.1'): { log: ReturnType<typeof createLogger>, lines: () => Array<Record<string, unknown>> } {
    const chunks: string[] = []
    const destination = new PassThrough()
    destination.on('data', (chunk: Buffer) => chunks.push(chunk.toString()))
    const log = createLogger({ level, format: 'json', node, destination })
    return {
      log,
      lines: () => chunks.join('').split('\n').filter(line => line !== '').map(line => JSON.parse(line) as Record<string, unknown>)
    }
  }

  it('writes one JSON line with the event name as msg, the fields and the node', async () => {
    const { log, lines } = capture('info')
    log.info({ clientid: 'c1', protocol: 5 }, 'client_connected')
    await new Promise(resolve => setImmediate(resolve))
    const all = lines()
    assert.equal(all.length, 1)
    const line = all[0]!
    assert.equal(line.msg, 'client_connected')
    assert.equal(line.clientid, 'c1')
    assert.equal(line.protocol, 5)
    assert.equal(line.node, 'meshmq1@127.0.0.1')
    assert.equal(line.level, 'info')
    assert.equal(typeof line.time, 'string')
    assert.equal('pid' in line, false)
    assert.equal('hostname' in line, false)
  })

  it('drops lines below the level', async () => {
    const { log, lines } = capture('warn')
    log.info('client_connected')
    log.warn({ node: 'meshmq2@h' }, 'forward_failed')
    await new Promise(resolve => setImmediate(resolve))
    assert.deepEqual(lines().map(line => line.msg), ['forward_failed'])
  })

  it('a child logger adds the actor kind and its fields, keeping the node', async () => {
    const { log, lines } = capture('debug')
    log.child({ actor: 'session', clientid: 'c9' }).debug({ packetId: 7 }, 'puback_received')
    log.child({ actor: 'router' }).info('route_added')
    await new Promise(resolve => setImmediate(resolve))
    const [session = {}, router = {}] = lines()
    assert.equal(session.actor, 'session')
    assert.equal(session.clientid, 'c9')
    assert.equal(session.packetId, 7)
    assert.equal(session.msg, 'puback_received')
    assert.equal(router.actor, 'router')
    assert.equal(router.node, 'meshmq1@127.0.0.1')
  })

  it('writes pretty text, not JSON, when format is pretty', async () => {
    const chunks: string[] = []
    const destination = new PassThrough()
    destination.on('data', (chunk: Buffer) => chunks.push(chunk.toString()))
    createLogger({ level: 'info', format: 'pretty', node: 'meshmq1@h', destination }).info({ clientid: 'c1' }, 'client_connected')
    await new Promise(resolve => setImmediate(resolve))
    const text = chunks.join('')
    assert.match(text, /INFO/)
    assert.match(text, /client_connected/)
    assert.match(text, /c1/)
    assert.throws(() => JSON.parse(text))
  })

  it('writes JSON on auto when the destination is not a TTY', async () => {
    const chunks: string[] = []
    const destination = new PassThrough()
    destination.on('data', (chunk: Buffer) => chunks.push(chunk.toString()))
    createLogger({ level: 'info', format: 'auto', node: 'meshmq1@h', destination }).info('node_started')
    await new Promise(resolve => setImmediate(resolve))
    assert.equal((JSON.parse(chunks.join('')) as { msg: string }).msg, 'node_started')
  })
})
