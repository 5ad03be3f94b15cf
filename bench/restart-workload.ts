/**
 * The generator side of `restart-100k`. Build: N persistent sessions (clean session 0), each
 * subscribed at QoS 1 to its own topic `r/<i>` and then disconnected; then publishers send
 * `perSession` QoS 1 messages to every one of those topics while the sessions are offline, and wait
 * for every PUBACK. Check: a sample of the sessions reconnects with clean session 0 after the
 * broker's restart, and each counts Session Present and the distinct messages it receives.
 */
import { once, setMaxListeners } from 'node:events'
import { BenchConnection } from './bench-connection.js'
import { BenchTimeoutError } from './errors.js'
import { packetIdFor } from './publish-batcher.js'
import type { BrokerAddress } from './workload.js'

/** Connections to a loopback broker come from 127.0.0.2…127.0.0.65 in turn, so 100k short connections do not run out of ephemeral ports. */
const SOURCE_ADDRESSES = 64
const PROGRESS_SESSIONS = 10_000
const PROGRESS_MESSAGES = 100_000
/** Message payload: session index and message number (uint32 each). */
const PAYLOAD_BYTES = 8
/** How long a reconnected session without Session Present waits for messages anyway. */
const ABSENT_WAIT_MS = 2_000

export interface RestartBuildWorkload {
  kind: 'restart-build'
  address: BrokerAddress
  sessions: number
  perSession: number
  clientIdPrefix: string
  topicPrefix: string
  /** Sessions being set up at once. */
  concurrency: number
  publishers: number
  /** QoS 1 PUBLISHes a publisher may have without PUBACK. */
  inflight: number
  timeoutMs: number
}

export interface RestartBuildResult {
  kind: 'restart-build'
  sessions: number
  sessionsMs: number
  published: number
  publishMs: number
  errors: string[]
}

export interface RestartCheckWorkload {
  kind: 'restart-check'
  address: BrokerAddress
  /** Indexes of the sessions to reconnect. */
  sample: number[]
  perSession: number
  clientIdPrefix: string
  timeoutMs: number
}

export interface RestartCheckResult {
  kind: 'restart-check'
  sessions: number
  /** Sessions whose CONNACK said Session Present. */
  present: number
  /** Sessions that received every one of their messages. */
  complete: number
  received: number
  duplicated: number
  /** Messages for another session, or unreadable. */
  unexpected: number
  ms: number
  errors: string[]
}

function progress (line: string): void {
  process.stderr.write(`${line}\n`)
}

function sourceAddress (address: BrokerAddress, i: number): string | undefined {
  return address.host.startsWith('127.') && address.tls === undefined ? `127.0.0.${2 + (i % SOURCE_ADDRESSES)}` : undefined
}

export async function buildSessions (w: RestartBuildWorkload): Promise<RestartBuildResult> {
  const signal = AbortSignal.timeout(w.timeoutMs)
  setMaxListeners(0, signal)
  const errors: string[] = []
  const t0 = performance.now()
  let next = 0
  let done = 0
  const worker = async (): Promise<void> => {
    while (next < w.sessions && !signal.aborted) {
      const i = next++
      try {
        const conn = await BenchConnection.open(w.address, { clientId: `${w.clientIdPrefix}${i}`, keepaliveSeconds: 0, signal, persistent: true, localAddress: sourceAddress(w.address, i) })
        await conn.subscribe([`${w.topicPrefix}${i}`], 1, signal)
        const closed = once(conn.socket, 'close')
        conn.disconnect()
        await closed
      } catch (err) {
        if (errors.length < 10) errors.push(`session ${i}: ${(err as Error).name}: ${(err as Error).message}`)
      }
      if (++done % PROGRESS_SESSIONS === 0) progress(`  ${done.toLocaleString('en-US')} sessions set up, ${Math.round(performance.now() - t0)} ms`)
    }
  }
  await Promise.all(Array.from({ length: Math.min(w.concurrency, w.sessions) }, worker))
  const sessionsMs = performance.now() - t0
  if (signal.aborted) throw new BenchTimeoutError(`${done} of ${w.sessions} sessions set up within ${w.timeoutMs} ms`)

  const t1 = performance.now()
  const acked = { total: 0, startedAt: t1 }
  const counts = await Promise.all(Array.from({ length: w.publishers }, async (_, p) => await publishShare(w, p, signal, acked)))
  const published = counts.reduce((a, b) => a + b, 0)
  return { kind: 'restart-build', sessions: w.sessions, sessionsMs, published, publishMs: performance.now() - t1, errors }
}

/** Publisher `p` sends `perSession` rounds to its share of the sessions' topics and waits for every PUBACK; `all` counts the PUBACKs of every publisher, for progress lines. */
async function publishShare (w: RestartBuildWorkload, p: number, signal: AbortSignal, all: { total: number, startedAt: number }): Promise<number> {
  const first = Math.floor(p * w.sessions / w.publishers)
  const end = Math.floor((p + 1) * w.sessions / w.publishers)
  const share = end - first
  const total = share * w.perSession
  const conn = await BenchConnection.open(w.address, { clientId: `${w.clientIdPrefix}pub-${p}`, keepaliveSeconds: 0, signal })
  const inFlight = new Uint8Array(0x10000)
  let sent = 0
  let acked = 0
  try {
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { reject(new BenchTimeoutError(`publisher ${p}: ${acked} of ${total} PUBACKs within ${w.timeoutMs} ms`)) }
      signal.addEventListener('abort', onAbort, { once: true })
      conn.onClose = (reason) => { reject(new Error(`publisher ${p}: ${reason}`)) }
      const pump = (): void => {
        const packets: Buffer[] = []
        while (sent < total && sent - acked < w.inflight) {
          const session = first + (sent % share)
          const round = Math.floor(sent / share)
          packets.push(publishPacket(`${w.topicPrefix}${session}`, packetIdFor(sent), session, round))
          inFlight[packetIdFor(sent)] = 1
          sent++
        }
        if (packets.length > 0) conn.queue(Buffer.concat(packets))
      }
      conn.onPuback = (packetId) => {
        if (inFlight[packetId] !== 1) return
        inFlight[packetId] = 0
        acked++
        if (++all.total % PROGRESS_MESSAGES === 0) progress(`  ${all.total.toLocaleString('en-US')} messages acknowledged, ${Math.round(performance.now() - all.startedAt)} ms`)
        if (acked === total) {
          signal.removeEventListener('abort', onAbort)
          resolve()
          return
        }
        pump()
      }
      if (total === 0) { resolve(); return }
      pump()
    })
  } finally {
    conn.disconnect()
  }
  return acked
}

/** A QoS 1 PUBLISH of `topic` carrying the session index and the message number. */
function publishPacket (topic: string, packetId: number, session: number, round: number): Buffer {
  const topicBytes = Buffer.byteLength(topic)
  const remaining = 2 + topicBytes + 2 + PAYLOAD_BYTES
  if (remaining > 127) throw new RangeError(`topic ${topic} too long for a one-byte remaining length`)
  const buf = Buffer.allocUnsafe(2 + remaining)
  buf[0] = 0x32
  buf[1] = remaining
  buf.writeUInt16BE(topicBytes, 2)
  buf.write(topic, 4, 'utf8')
  buf.writeUInt16BE(packetId, 4 + topicBytes)
  buf.writeUInt32BE(session, 6 + topicBytes)
  buf.writeUInt32BE(round, 10 + topicBytes)
  return buf
}

export async function checkSessions (w: RestartCheckWorkload): Promise<RestartCheckResult> {
  const signal = AbortSignal.timeout(w.timeoutMs)
  setMaxListeners(0, signal)
  const errors: string[] = []
  const t0 = performance.now()
  let present = 0
  let complete = 0
  let received = 0
  let duplicated = 0
  let unexpected = 0
  await Promise.all(w.sample.map(async (session) => {
    const seen = new Uint8Array(w.perSession)
    let distinct = 0
    let conn: BenchConnection | undefined
    try {
      let allIn: () => void = () => {}
      const finished = new Promise<void>((resolve) => { allIn = resolve })
      const onPublish = (c: BenchConnection) => (buf: Buffer, _ts: number, _te: number, payloadStart: number, payloadEnd: number, qos: number, packetId: number): void => {
        if (qos > 0) c.queue(Buffer.from([0x40, 2, packetId >> 8, packetId & 0xff]))
        const round = payloadEnd - payloadStart === PAYLOAD_BYTES && buf.readUInt32BE(payloadStart) === session ? buf.readUInt32BE(payloadStart + 4) : -1
        if (round < 0 || round >= w.perSession) { unexpected++; return }
        received++
        if (seen[round] === 1) { duplicated++; return }
        seen[round] = 1
        if (++distinct === w.perSession) allIn()
      }
      conn = await BenchConnection.open(w.address, { clientId: `${w.clientIdPrefix}${session}`, keepaliveSeconds: 0, signal, persistent: true, onPublish })
      const c = conn
      if (c.sessionPresent) present++
      // A session the broker did not keep has nothing queued: a short wait shows whether anything comes.
      await Promise.race([finished, once(signal, 'abort'), ...(c.sessionPresent ? [] : [new Promise<void>(resolve => setTimeout(resolve, ABSENT_WAIT_MS))])])
      if (distinct === w.perSession) complete++
      else if (errors.length < 10) errors.push(`session ${session}: ${distinct} of ${w.perSession} messages${c.sessionPresent ? '' : ', no session present'}`)
    } catch (err) {
      if (errors.length < 10) errors.push(`session ${session}: ${(err as Error).name}: ${(err as Error).message}`)
    } finally {
      conn?.disconnect()
    }
  }))
  return { kind: 'restart-check', sessions: w.sample.length, present, complete, received, duplicated, unexpected, ms: performance.now() - t0, errors }
}
