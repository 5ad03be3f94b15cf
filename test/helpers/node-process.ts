/**
 * A meshmq node as a real child process (`node dist/src/main.js start …`) for multi-process
 * cluster tests, started from node options (name, ports, seeds, a command prefix to run it in a
 * network namespace); the process handling is `MeshmqProcess`. It is stopped (and its temporary
 * data directory removed) when the test ends. Runs the compiled broker: `npm test` builds first; under tsx run
 * `npm run build` after changing the broker. Every wait is bounded.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { clusterPortFor, CONTROL_PORT_OFFSET, type ControlTransport, type DiscoveryStrategy, type LogLevel } from '../../src/core/config/config.js'
import { readControlTarget, type ControlTarget } from '../../src/control-endpoint-file.js'
import type { Cleanup } from './mqtt-client.js'
import { childEnvironment, logEvent, MeshmqProcess, START_TIMEOUT_MS, type LogLine } from './meshmq-process.js'

export { logEvent, NodeExitedError, START_TIMEOUT_MS, STOP_TIMEOUT_MS, type ExitStatus, type LogLine } from './meshmq-process.js'

export interface NodeProcessOptions {
  /** Node name `name@host`. */
  name: string
  /** MQTT port; default 0 (the OS chooses: read `mqttPort` once started). */
  port?: number | undefined
  /** `--cluster-port`; default by the node-name rule (4370 + numeric suffix). */
  clusterPort?: number | undefined
  /** Control endpoint transport (`MESHMQ_CLUSTER_CONTROL_TRANSPORT`); default the node's, `unix`. */
  controlTransport?: ControlTransport
  /** Control endpoint port of the `tcp` transport (`MESHMQ_CLUSTER_CONTROL_PORT`); default cluster port + 1000. */
  controlPort?: number | undefined
  /** `--discovery`; when absent the environment says `MESHMQ_DISCOVERY=manual`. */
  discovery?: DiscoveryStrategy
  /** `--seeds`, each `name@host[:port]`. */
  seeds?: string[]
  /** The cluster secret, passed as `MESHMQ_CLUSTER_SECRET` (not `--secret`, which other users see in `ps`). */
  secret?: string
  /** Data directory; default a fresh temporary one, removed when the test ends. */
  dataDir?: string
  /** Default `info`. */
  logLevel?: LogLevel
  /** Command prefix to run the node under, e.g. `lab.execArgs(2)` (`ip netns exec <ns>`). */
  prefix?: string[]
  /** Extra environment variables (the test's own `MESHMQ_*` variables are not passed on). */
  env?: Record<string, string>
  /** Extra `start` arguments. */
  args?: string[]
}

/** The compiled broker is missing: build before running process tests. */
export class NodeBuildMissingError extends Error {
  override name = 'NodeBuildMissingError'
}

const CTL_TIMEOUT_MS = 20_000

function projectRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error('no package.json above the test helpers')
    dir = parent
  }
  return dir
}

/** Path of the compiled `meshmq` entry point (dist/src/main.js). */
export function mainScript (): string {
  const main = join(projectRoot(), 'dist', 'src', 'main.js')
  if (!existsSync(main)) throw new NodeBuildMissingError(`${main} does not exist: run \`npm run build\` first`)
  return main
}

/** Temporary data directories and how many running helpers use each; removed when the last stops. */
const tempDirUsers = new Map<string, number>()

/** A broker node running as a child process. */
export class NodeProcess extends MeshmqProcess {
  readonly name: string
  readonly dataDir: string
  /** MQTT port: as configured, or as reported by `broker_started`. */
  mqttPort: number
  readonly controlPort: number
  readonly #prefix: string[]

  constructor (options: NodeProcessOptions, dataDir: string) {
    const mqttPort = options.port ?? 0
    const prefix = options.prefix ?? []
    const clusterPort = options.clusterPort ?? clusterPortFor(options.name)
    const args = [mainScript(), 'start', '--name', options.name, '--port', String(mqttPort), '--data-dir', dataDir, '--log-level', options.logLevel ?? 'info']
    if (options.clusterPort !== undefined) args.push('--cluster-port', String(options.clusterPort))
    if (options.discovery !== undefined) args.push('--discovery', options.discovery)
    if (options.seeds !== undefined && options.seeds.length > 0) args.push('--seeds', options.seeds.join(','))
    args.push(...(options.args ?? []))
    const env = childEnvironment({
      MESHMQ_DISCOVERY: 'manual',
      MESHMQ_LOG_FORMAT: 'json',
      ...(options.controlPort !== undefined ? { MESHMQ_CLUSTER_CONTROL_PORT: String(options.controlPort) } : {}),
      ...(options.controlTransport !== undefined ? { MESHMQ_CLUSTER_CONTROL_TRANSPORT: options.controlTransport } : {}),
      ...(options.secret !== undefined ? { MESHMQ_CLUSTER_SECRET: options.secret } : {}),
      ...options.env
    })
    const [command, ...prefixArgs] = [...prefix, process.execPath]
    super(options.name, command, [...prefixArgs, ...args], env)
    this.name = options.name
    this.dataDir = dataDir
    this.mqttPort = mqttPort
    this.controlPort = options.controlPort ?? clusterPort + CONTROL_PORT_OFFSET
    this.#prefix = prefix
  }

  /** The control endpoint the node's data directory records (read when called: the node writes it once started). */
  controlTarget (): ControlTarget {
    return readControlTarget(this.dataDir)
  }

  /**
   * Runs `meshmq ctl --data-dir <dataDir> <args>` where the node runs (inside its namespace when it
   * has a prefix) and resolves with its exit code and output.
   */
  async ctl (...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
    const [command, ...prefixArgs] = [...this.#prefix, process.execPath]
    const argv = [...prefixArgs, mainScript(), 'ctl', '--data-dir', this.dataDir, ...args]
    return await new Promise(resolve => {
      execFile(command, argv, { env: childEnvironment({}), timeout: CTL_TIMEOUT_MS, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
        resolve({ code, stdout, stderr })
      })
    })
  }

  protected override onLog (line: LogLine): void {
    if (line.msg === 'broker_started' && typeof line.port === 'number') this.mqttPort = line.port
  }
}

/**
 * Spawns a node without waiting for it to start (for nodes expected to refuse to start). It is
 * stopped when the test ends, and its temporary data directory then removed.
 */
export function launchNode (t: Cleanup, options: NodeProcessOptions): NodeProcess {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'meshmq-node-'))
  const temporary = options.dataDir === undefined || tempDirUsers.has(dataDir)
  if (temporary) tempDirUsers.set(dataDir, (tempDirUsers.get(dataDir) ?? 0) + 1)
  const release = (): void => {
    if (!temporary) return
    const users = (tempDirUsers.get(dataDir) ?? 1) - 1
    if (users > 0) {
      tempDirUsers.set(dataDir, users)
      return
    }
    tempDirUsers.delete(dataDir)
    rmSync(dataDir, { recursive: true, force: true })
  }
  let node: NodeProcess
  try {
    node = new NodeProcess(options, dataDir)
  } catch (err) {
    release()
    throw err
  }
  t.after(async () => {
    try {
      await node.stop()
    } finally {
      release()
    }
  })
  return node
}

/** Spawns a node and resolves once it logs `broker_started` (rejects if it exits or takes longer than `timeoutMs`). */
export async function startNode (t: Cleanup, options: NodeProcessOptions, timeoutMs = START_TIMEOUT_MS): Promise<NodeProcess> {
  const node = launchNode(t, options)
  await node.waitForLog(logEvent('broker_started'), { timeoutMs, what: `node ${options.name} to start (broker_started)` })
  return node
}
