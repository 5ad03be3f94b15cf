/**
 * Opens many MQTT connections that then stay idle: measures the connect rate and holds the
 * connections until the harness has read the broker's memory. Each connection is a bare socket
 * that sends CONNECT and checks the 4-byte CONNACK itself, so the generator spends as little as
 * possible per connection and the connect rate is the broker's.
 */
import { readFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import mqtt from 'mqtt-packet'
import { BenchTimeoutError, ConnectRefusedError } from './errors.js'
import { cpuMs, epochNow, type BrokerAddress, type IdleReady, type IdleWorkload } from './workload.js'

const CONNACK_FIRST_BYTE = 0x20
const CONNECT_TIMEOUT_MS = 10_000
/**
 * Connections to a loopback broker come from 127.0.0.2…127.0.0.65 in turn. With tens of thousands
 * of connections (and TIME_WAIT sockets of earlier runs) on one source address, the kernel's
 * search for a free ephemeral port, not the broker, would set the connect rate.
 */
const SOURCE_ADDRESSES = 64

export interface IdleConnections {
  ready: IdleReady
  close: () => void
}

export async function openIdleConnections (w: IdleWorkload): Promise<IdleConnections> {
  const deadline = performance.now() + w.timeoutMs
  const open: net.Socket[] = []
  const ca = w.connectTo.tls === undefined ? undefined : readFileSync(w.connectTo.tls.caFile)
  let next = 0
  let failed = 0
  let firstError: string | null = null
  const startedAt = epochNow()
  const cpuAtStart = cpuMs()
  let cpuAtFinish = cpuAtStart
  let finishedAt = startedAt

  const worker = async (): Promise<void> => {
    while (next < w.connections && performance.now() < deadline) {
      const i = next++
      try {
        open.push(await connectIdle(w.connectTo, `${w.clientIdPrefix}-${i}`, sourceAddress(w.connectTo, i), ca))
        finishedAt = epochNow()
        cpuAtFinish = cpuMs()
      } catch (err) {
        failed++
        firstError ??= `${(err as Error).name}: ${(err as Error).message}`
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(w.concurrency, w.connections) }, worker))
  failed += w.connections - next

  const disconnect = mqtt.generate({ cmd: 'disconnect' })
  return {
    ready: { connected: open.length, failed, startedAt, finishedAt, firstError, generatorBusy: (cpuAtFinish - cpuAtStart) / Math.max(finishedAt - startedAt, 1) },
    close: () => { for (const socket of open) socket.end(disconnect) }
  }
}

function sourceAddress (broker: BrokerAddress, i: number): string | undefined {
  return broker.host.startsWith('127.') ? `127.0.0.${2 + (i % SOURCE_ADDRESSES)}` : undefined
}

/** One connection with keep-alive off, resolved after an accepting CONNACK; over TLS when `ca` is given (a full handshake each). */
async function connectIdle (address: BrokerAddress, clientId: string, localAddress: string | undefined, ca: Buffer | undefined): Promise<net.Socket> {
  return await new Promise<net.Socket>((resolve, reject) => {
    const options = { host: address.host, port: address.port, localAddress }
    const socket = ca === undefined ? net.connect(options) : tls.connect({ ...options, ca })
    let lastError = ''
    const fail = (err: Error): void => {
      socket.destroy()
      reject(err)
    }
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => { fail(new BenchTimeoutError(`no CONNACK within ${CONNECT_TIMEOUT_MS} ms`)) })
    socket.on('error', (err: Error) => { lastError = err.message })
    socket.once('close', () => { reject(new ConnectRefusedError(`closed before CONNACK${lastError === '' ? '' : `: ${lastError}`}`)) })
    socket.once('data', (chunk: Buffer) => {
      socket.setTimeout(0)
      if (chunk[0] !== CONNACK_FIRST_BYTE || chunk.length < 4) { fail(new ConnectRefusedError(`expected CONNACK, got byte 0x${(chunk[0] ?? 0).toString(16)}`)); return }
      if (chunk[3] !== 0) { fail(new ConnectRefusedError(`CONNACK return code ${chunk[3] ?? '?'}`)); return }
      socket.removeAllListeners('close')
      socket.on('data', () => {})
      resolve(socket)
    })
    socket.write(mqtt.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 0 }))
  })
}
