/**
 * Authentication test fixtures: an in-process broker (`startBroker`) started with `auth.*`
 * settings whose log lines are kept in memory, a temporary directory for the auth files, and a
 * raw CONNECT that returns the CONNACK code whatever it is.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type { IConnectPacket } from 'mqtt-packet'
import { startBroker, type Broker } from '../../src/broker.js'
import { loadConfig, type BrokerConfig, type DeepPartial } from '../../src/core/config/config.js'
import { createLogger } from '../../src/core/log.js'
import type { Cleanup } from './mqtt-client.js'
import { RawClient, type ProtocolVersion } from './raw-client.js'
import { withTimeout } from './wait.js'

/** test/fixtures/auth/<name> (this file runs from dist/test/helpers/). */
export function authFixture (name: string): string {
  return fileURLToPath(new URL(`../../../test/fixtures/auth/${name}`, import.meta.url))
}

/** A fresh directory removed when the test ends. */
export function tempDir (t: Cleanup): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshmq-auth-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

export type LogLine = Record<string, unknown> & { msg: string }

/** A running broker and the log lines it wrote so far. */
export interface AuthBroker {
  broker: Broker
  port: number
  logs: () => LogLine[]
}

/** The config a test broker runs with: loopback, port 0, manual discovery, the given `auth` (and `sys`). */
export function authTestConfig (dataDir: string, auth: DeepPartial<BrokerConfig['auth']>, sys: DeepPartial<BrokerConfig['sys']> = {}): BrokerConfig {
  return loadConfig({
    env: {},
    overrides: {
      node: { name: 'auth@127.0.0.1', dataDir },
      listener: { host: '127.0.0.1', port: 0 },
      cluster: { discovery: 'manual', host: '127.0.0.1', port: 0 },
      http: { enabled: false },
      auth,
      sys
    }
  })
}

/** Starts a broker with `auth` settings; stopped when the test ends. */
export async function startAuthBroker (t: Cleanup, auth: DeepPartial<BrokerConfig['auth']>, sys: DeepPartial<BrokerConfig['sys']> = {}): Promise<AuthBroker> {
  const dataDir = tempDir(t)
  const chunks: string[] = []
  const destination = new PassThrough()
  destination.on('data', (chunk: Buffer) => chunks.push(chunk.toString()))
  const log = createLogger({ level: 'info', format: 'json', node: 'auth@127.0.0.1', destination })
  const broker = await withTimeout(startBroker(authTestConfig(dataDir, auth, sys), { log }), 10_000, 'the broker to start')
  t.after(async () => { await withTimeout(broker.stop(), 10_000, 'the broker to stop') })
  return {
    broker,
    port: broker.port,
    logs: () => chunks.join('').split('\n').filter(line => line !== '').map(line => JSON.parse(line) as LogLine)
  }
}

/** CONNECT result: the CONNACK's code (v5 reason code, v3.1.1 return code) and the client, open when accepted. */
export interface ConnectResult { code: number, client: RawClient }

/** Sends a CONNECT with `fields` and returns the CONNACK code; the client is destroyed when the test ends. */
export async function connectWith (t: Cleanup, port: number, protocolVersion: ProtocolVersion, fields: Partial<IConnectPacket>): Promise<ConnectResult> {
  const client = await RawClient.open(port, { protocolVersion })
  t.after(() => { client.destroy() })
  const connack = await client.handshake({ clientId: `auth-${Math.random().toString(36).slice(2, 10)}`, ...fields })
  return { code: (protocolVersion === 5 ? connack.reasonCode : connack.returnCode) ?? -1, client }
}

/** CONNACK codes of each protocol version. */
export const CODES = {
  5: { accepted: 0, badCredentials: 0x86, notAuthorized: 0x87 },
  4: { accepted: 0, badCredentials: 4, notAuthorized: 5 }
} as const
