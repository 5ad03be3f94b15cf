/**
 * Client process for bench/idle-heap.ts: `node dist/bench/idle-clients.js <port> <connections> <keepalive>`
 * opens that many MQTT 3.1.1 connections to 127.0.0.1 (CONNECT clean session, from source
 * addresses 127.0.0.2… in turn), prints `READY <opened> <failed>` and holds them, sending PINGREQ
 * on each every keepalive/2 seconds, until stdin closes.
 */
import net from 'node:net'
import mqtt from 'mqtt-packet'

const SOURCE_ADDRESSES = 64
const CONCURRENCY = 200
const CONNECT_TIMEOUT_MS = 10_000

const [port = NaN, connections = NaN, keepalive = NaN] = process.argv.slice(2).map(Number)
if ([port, connections, keepalive].some(Number.isNaN)) {
  process.stderr.write('usage: idle-clients <port> <connections> <keepalive>\n')
  process.exit(2)
}

/** Resolves with the socket after an accepting CONNACK, or with undefined. */
async function connectOne (i: number): Promise<net.Socket | undefined> {
  return await new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: `127.0.0.${2 + (i % SOURCE_ADDRESSES)}` })
    const fail = (): void => { socket.destroy(); resolve(undefined) }
    socket.setTimeout(CONNECT_TIMEOUT_MS, fail)
    socket.on('error', fail)
    socket.once('data', (chunk: Buffer) => {
      socket.setTimeout(0)
      if (chunk[0] !== 0x20 || chunk[3] !== 0) { fail(); return }
      socket.on('data', () => {})
      resolve(socket)
    })
    socket.write(mqtt.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: `idle-${i}`, clean: true, keepalive }))
  })
}

const open: net.Socket[] = []
let next = 0
let failed = 0
await Promise.all(Array.from({ length: Math.min(CONCURRENCY, connections) }, async () => {
  while (next < connections) {
    const socket = await connectOne(next++)
    if (socket === undefined) failed++
    else open.push(socket)
  }
}))
process.stdout.write(`READY ${open.length} ${failed}\n`)

const pingreq = mqtt.generate({ cmd: 'pingreq' })
const pinger = keepalive > 0 ? setInterval(() => { for (const socket of open) socket.write(pingreq) }, keepalive * 500) : undefined
process.stdin.resume()
process.stdin.on('end', () => {
  clearInterval(pinger)
  for (const socket of open) socket.destroy()
  process.exit(0)
})
