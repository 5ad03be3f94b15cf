/**
 * The brokers under test, each started as a fresh process on a fresh loopback port, pinned to the
 * broker CPU: meshmq (this project), Aedes (bench/aedes-server.ts) and mosquitto (generated config);
 * and `floor`, the memory floor of the idle rows (bench/bare-socket-server.ts: holds the sockets,
 * answers CONNECT with CONNACK, nothing else).
 */
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { freePort } from '../test/helpers/ports.js'
import { ChildProcess, waitForPort } from './child-process.js'
import { BrokerStartError } from './errors.js'
import type { BrokerAddress } from './workload.js'

export type BrokerName = 'meshmq' | 'aedes' | 'mosquitto' | 'floor'

/** Order of the A/B alternation within each run. */
export const BROKER_NAMES: readonly BrokerName[] = ['meshmq', 'aedes', 'mosquitto', 'floor']

/**
 * Whether `broker` runs `scenario`: the floor is no broker; it runs the idle rows (holding the
 * sockets) and the scenarios marked `floor` (relaying, bench/bare-socket-server.ts).
 */
export function runsScenario (broker: BrokerName, scenario: { kind: 'throughput' | 'idle' | 'tls', floor?: boolean }): boolean {
  return broker !== 'floor' || scenario.kind === 'idle' || scenario.floor === true
}

/** What the floor does: hold idle sockets (memory floor) or relay PUBLISH between pairs (latency floor). */
export type FloorMode = 'hold' | 'relay'

/** A restart reads the whole store back before the port opens: 1M queued messages take a while. */
const START_TIMEOUT_MS = 180_000
const LOOPBACK = '127.0.0.1'

export interface BrokerHost {
  /** Repository root: holds dist/bench/aedes-server.js (and node_modules for Aedes). */
  root: string
  /** Checkout whose dist/src/main.js runs as meshmq: `--meshmq-root`, by default `root`. */
  meshmqRoot: string
  /** CPU for broker processes, or null for no pinning. */
  cpu: number | null
  /** Absolute path of the mosquitto binary, or null when it is not installed. */
  mosquitto: string | null
  /** QoS 1 in-flight window of the generator, mirrored in mosquitto's max_inflight_messages and meshmq's mqtt.maxInflight. */
  inflight: number
}

export interface RunningBroker {
  name: BrokerName
  address: BrokerAddress
  /** The TLS listener, when the broker was started with one. */
  tlsAddress?: BrokerAddress
  process: ChildProcess
  stop: () => Promise<void>
}

/** A TLS listener for the TLS scenarios: the server's certificate and key, and the CA clients trust. */
export interface BenchTls {
  certFile: string
  keyFile: string
  caFile: string
}

/**
 * How the peers' sockets are set up. meshmq always sets TCP_NODELAY; the peers default to Nagle's
 * algorithm, which batches their one-write-per-packet output (higher throughput) but holds a small
 * packet back until the previous one is acknowledged (a ~40 ms stall against a delayed ACK).
 * Each scenario picks the setting that gives the peers their best figure.
 */
export type PeerSockets = 'default' | 'nodelay'

/** Starts `name` with its plain listener and, with `tls`, a TLS listener on another port. */
export async function startBroker (name: BrokerName, host: BrokerHost, sockets: PeerSockets = 'default', tls?: BenchTls, floor: FloorMode = 'hold'): Promise<RunningBroker> {
  const tlsPort = tls === undefined ? undefined : await freePort()
  const broker = await startPlainBroker(name, host, sockets, tls === undefined || tlsPort === undefined ? undefined : { ...tls, port: tlsPort }, floor)
  if (tls === undefined || tlsPort === undefined) return broker
  try {
    await waitForPort(LOOPBACK, tlsPort, broker.process, START_TIMEOUT_MS)
  } catch (err) {
    await broker.stop()
    throw err
  }
  return { ...broker, tlsAddress: { host: LOOPBACK, port: tlsPort, tls: { caFile: tls.caFile } } }
}

async function startPlainBroker (name: BrokerName, host: BrokerHost, sockets: PeerSockets, tls: (BenchTls & { port: number }) | undefined, floor: FloorMode): Promise<RunningBroker> {
  switch (name) {
    case 'meshmq': return await startMeshmq(host, await freePort(), [], 'meshmq', tls === undefined ? {} : { MESHMQ_LISTENERS: JSON.stringify([meshmqTlsListener(tls)]) })
    case 'aedes': return await startAedes(host, sockets, tls)
    case 'mosquitto': return await startMosquitto(host, sockets, tls)
    case 'floor': return await startFloor(host, tls, floor)
  }
}

/** The floor: a Node process that holds the connections, or relays pairs' messages, and does nothing else. */
async function startFloor (host: BrokerHost, tls: (BenchTls & { port: number }) | undefined, mode: FloorMode): Promise<RunningBroker> {
  if (tls !== undefined) throw new BrokerStartError('the bare-socket floor has no TLS listener')
  const port = await freePort()
  const child = new ChildProcess('floor', {
    command: process.execPath,
    args: [join(host.root, 'dist', 'bench', 'bare-socket-server.js'), String(port), ...(mode === 'relay' ? ['--relay'] : [])],
    cpu: host.cpu,
    cwd: host.root
  })
  return await ready('floor', child, port, () => {})
}

/** meshmq's `listeners` entry for the TLS listener (passed in `MESHMQ_LISTENERS`). */
function meshmqTlsListener (tls: BenchTls & { port: number }): Record<string, unknown> {
  return { type: 'tls', host: LOOPBACK, port: tls.port, certFile: tls.certFile, keyFile: tls.keyFile }
}

/**
 * Node options for meshmq processes from `MESHMQ_BENCH_PROFILE_DIR`: when set, each broker writes
 * a V8 CPU profile there when it stops (`--cpu-prof` is not allowed in NODE_OPTIONS).
 */
function profilerArgs (): string[] {
  const dir = process.env.MESHMQ_BENCH_PROFILE_DIR
  return dir === undefined || dir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`]
}

/** The meshmq entry point of the checkout under test. */
export function meshmqMain (host: { meshmqRoot: string }): string {
  return join(host.meshmqRoot, 'dist', 'src', 'main.js')
}

/**
 * meshmq with `extraArgs` appended (cluster flags). Discovery is manual unless the flags say
 * otherwise; each process gets a fresh data directory, removed when it stops (unless `keptDataDir`
 * is given: that one is used and left in place, for restarts on the same store), and a free cluster
 * port when the flags give none, so runs never share state or collide with other brokers.
 * The bench passes only flags that older builds know too (`--port`, `--log-level`, `--data-dir`,
 * `--cluster-port`, `--name`, `--discovery`, `--seeds`), so `--meshmq-root` can run them.
 */
export async function startMeshmq (host: BrokerHost, port: number, extraArgs: readonly string[], label: string, extraEnv: Record<string, string> = {}, keptDataDir?: string): Promise<RunningBroker> {
  const dataDir = keptDataDir ?? mkdtempSync(join(tmpdir(), 'meshmq-bench-data-'))
  const clusterPort = extraArgs.includes('--cluster-port') ? [] : ['--cluster-port', String(await freePort())]
  const child = new ChildProcess(label, {
    command: process.execPath,
    args: [...profilerArgs(), meshmqMain(host), 'start', '--port', String(port), '--log-level', 'warn', '--data-dir', dataDir, ...clusterPort, ...extraArgs],
    cpu: host.cpu,
    cwd: host.meshmqRoot,
    env: { ...process.env, MESHMQ_DISCOVERY: 'manual', MESHMQ_HTTP_ENABLED: 'false', MESHMQ_MQTT_MAX_INFLIGHT: String(host.inflight), ...extraEnv }
  })
  return await ready('meshmq', child, port, () => { if (keptDataDir === undefined) rmSync(dataDir, { recursive: true, force: true }) })
}

async function startAedes (host: BrokerHost, sockets: PeerSockets, tls: (BenchTls & { port: number }) | undefined): Promise<RunningBroker> {
  const port = await freePort()
  const tlsArgs = tls === undefined ? [] : ['--tls', String(tls.port), tls.certFile, tls.keyFile]
  const child = new ChildProcess('aedes', {
    command: process.execPath,
    args: [join(host.root, 'dist', 'bench', 'aedes-server.js'), String(port), ...(sockets === 'nodelay' ? ['--no-delay'] : []), ...tlsArgs],
    cpu: host.cpu,
    cwd: host.root
  })
  return await ready('aedes', child, port, () => {})
}

async function startMosquitto (host: BrokerHost, sockets: PeerSockets, tls: (BenchTls & { port: number }) | undefined): Promise<RunningBroker> {
  if (host.mosquitto === null) throw new BrokerStartError(MOSQUITTO_MISSING)
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'meshmq-bench-mosquitto-'))
  const config = join(dir, 'mosquitto.conf')
  writeFileSync(config, mosquittoConfig(port, host.inflight, sockets, tls))
  const child = new ChildProcess('mosquitto', { command: host.mosquitto, args: ['-c', config], cpu: host.cpu })
  return await ready('mosquitto', child, port, () => { rmSync(dir, { recursive: true, force: true }) })
}

/**
 * mosquitto with `persistence true`: its config and its `mosquitto.db` in `dir`, which is left in
 * place when it stops (a restart on the same `dir` reads the db back). mosquitto writes the db
 * only every `autosave_interval` seconds (1800, its default) and at a clean shutdown (SIGTERM),
 * never per message and without fsync: a kill -9 loses everything since the last save.
 */
export async function startPersistentMosquitto (host: BrokerHost, dir: string, port?: number): Promise<RunningBroker> {
  if (host.mosquitto === null) throw new BrokerStartError(MOSQUITTO_MISSING)
  const listen = port ?? await freePort()
  const config = join(dir, 'mosquitto.conf')
  const lines = mosquittoConfig(listen, host.inflight, 'default').trimEnd().split('\n')
    .map(line => line === 'persistence false' ? 'persistence true' : line)
  // `user root`: mosquitto started as root would otherwise switch to the `mosquitto` user, which
  // may not write `dir` (made 0700 by the harness).
  writeFileSync(config, [...lines, `persistence_location ${dir}/`, 'autosave_interval 1800', 'user root', ''].join('\n'))
  const child = new ChildProcess('mosquitto', { command: host.mosquitto, args: ['-c', config], cpu: host.cpu })
  return await ready('mosquitto', child, listen, () => {})
}

/**
 * Loopback listener, anonymous access, no persistence, unlimited queues (so QoS 0 is not dropped
 * under load), the generator's QoS 1 window as the outgoing in-flight limit, TCP_NODELAY when
 * asked, and a second, TLS listener with `tls` (its certificate settings follow its `listener` line).
 */
export function mosquittoConfig (port: number, inflight: number, sockets: PeerSockets, tls?: BenchTls & { port: number }): string {
  // Started as root, mosquitto switches to the `mosquitto` user before it reads the certificates,
  // which the bench keeps in a directory only its own user reads: `user root` keeps it as it started
  // (without effect when the bench does not run as root).
  const tlsListener = tls === undefined ? [] : ['user root', `listener ${tls.port} ${LOOPBACK}`, 'max_connections -1', `cafile ${tls.caFile}`, `certfile ${tls.certFile}`, `keyfile ${tls.keyFile}`]
  return [
    `listener ${port} ${LOOPBACK}`,
    'allow_anonymous true',
    'persistence false',
    'max_queued_messages 0',
    'max_queued_bytes 0',
    `max_inflight_messages ${inflight}`,
    'max_connections -1',
    `set_tcp_nodelay ${sockets === 'nodelay' ? 'true' : 'false'}`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    ...tlsListener,
    ''
  ].join('\n')
}

async function ready (name: BrokerName, child: ChildProcess, port: number, cleanup: () => void): Promise<RunningBroker> {
  const stop = async (): Promise<void> => {
    await child.stop()
    cleanup()
  }
  try {
    await waitForPort(LOOPBACK, port, child, START_TIMEOUT_MS)
  } catch (err) {
    await stop()
    throw err
  }
  return { name, address: { host: LOOPBACK, port }, process: child, stop }
}

/** The line printed when mosquitto is not installed; the mosquitto peer is then skipped. */
export const MOSQUITTO_MISSING = 'mosquitto not found: apt-get install -y mosquitto'

/** The mosquitto binary on PATH (or in the sbin directories Debian installs it to), or null. */
export function findMosquitto (): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin']
  for (const dir of dirs) {
    if (dir === '') continue
    const candidate = join(dir, 'mosquitto')
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      continue
    }
  }
  return null
}
