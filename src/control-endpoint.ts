/**
 * The node's control endpoint as configured (`cluster.control.*`): a Unix socket in its data
 * directory (default) or a loopback TCP port with a token, opened with the files `meshmq ctl`
 * reads to find it (`control-endpoint-file.ts`), and closed with them removed.
 */
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { BrokerConfig } from './core/config/config.js'
import type { Logger } from './core/log.js'
import { ControlServer, type ClusterAdmin, type ControlBinding } from './control-server.js'
import { CONTROL_SOCKET_FILE, recordControlAddress, removeControlFiles, writeControlToken, type ControlAddress } from './control-endpoint-file.js'
import { checkSocketPathLength, prepareSocketPath } from './control-socket.js'
import type { OperatorReads } from './control-reads.js'

/** A running control endpoint. */
export interface ControlEndpoint {
  readonly address: ControlAddress
  close: () => Promise<void>
}

/** The absolute socket path of a node's Unix control endpoint: `cluster.control.socketPath`, else `<dataDir>/ctl.sock`. */
export function controlSocketPath (config: BrokerConfig): string {
  return resolve(config.cluster.control.socketPath ?? join(config.node.dataDir, CONTROL_SOCKET_FILE))
}

/**
 * Checks what can be checked before the node starts: a socket path the OS takes (a ConfigError
 * naming `cluster.control.socketPath` otherwise).
 */
export function checkControlConfig (config: BrokerConfig): void {
  if (config.cluster.control.transport === 'unix') checkSocketPathLength(controlSocketPath(config))
}

/** Opens the endpoint `config` describes and records it in the data directory. */
export async function openControlEndpoint (config: BrokerConfig, admin: ClusterAdmin, log: Logger, reads?: OperatorReads): Promise<ControlEndpoint> {
  const { control } = config.cluster
  const dataDir = config.node.dataDir
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  let bind: ControlBinding
  if (control.transport === 'unix') {
    const path = controlSocketPath(config)
    await prepareSocketPath(path)
    bind = { transport: 'unix', path }
  } else {
    bind = { transport: 'tcp', host: control.host, port: control.port, token: writeControlToken(dataDir) }
  }
  const server = new ControlServer({ bind, admin, log, ...(reads === undefined ? {} : { reads }) })
  try {
    await server.listen()
    recordControlAddress(dataDir, server.address)
  } catch (err) {
    await server.close()
    removeControlFiles(dataDir)
    throw err
  }
  return {
    address: server.address,
    close: async () => {
      removeControlFiles(dataDir)
      await server.close()
    }
  }
}
