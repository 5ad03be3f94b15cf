/**
 * The floor of the bench: a minimal Node process, no broker state. `node
 * dist/bench/bare-socket-server.js <port> [--relay]` listens on 127.0.0.1 (TCP_NODELAY, as meshmq)
 * and stops on SIGTERM.
 *
 * - Without `--relay` (the idle rows' memory floor): answers the first bytes of each connection
 *   (the CONNECT) with a 4-byte CONNACK, ignores everything after and keeps the `net.Socket`
 *   objects until they close. Its RSS per connection is what a Node process pays for the sockets
 *   alone.
 * - With `--relay` (the paced rows' latency floor): the least MQTT 3.1.1 a pair needs, one socket
 *   read to one socket write: CONNACK, SUBACK (exact topics only), PUBACK for QoS 1, PINGRESP, and
 *   each PUBLISH's bytes written as they came to the sockets subscribed to its topic. Its latency
 *   is what Node's event loop and sockets cost, without a broker's work.
 */
import net from 'node:net'

const CONNACK_ACCEPTED = Buffer.from([0x20, 0x02, 0x00, 0x00])
const PINGRESP = Buffer.from([0xd0, 0x00])

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: bare-socket-server.js <port> [--relay]\n')
  process.exit(2)
}
const relay = process.argv.includes('--relay')

const held = new Set<net.Socket>()
/** Exact topic → subscribed sockets (relay). */
const subscribers = new Map<string, Set<net.Socket>>()

const server = net.createServer({ noDelay: true }, (socket) => {
  held.add(socket)
  socket.on('error', () => {})
  socket.on('close', () => {
    held.delete(socket)
    for (const set of subscribers.values()) set.delete(socket)
  })
  if (relay) relayFrames(socket)
  else socket.once('data', () => { socket.write(CONNACK_ACCEPTED) })
})
server.listen(port, '127.0.0.1')
process.on('SIGTERM', () => {
  server.close()
  for (const socket of held) socket.destroy()
  process.exit(0)
})

/** Reads whole MQTT frames from `socket` (a frame split across reads waits for its rest) and answers each. */
function relayFrames (socket: net.Socket): void {
  let rest: Buffer | undefined
  socket.on('data', (chunk: Buffer) => {
    const buf = rest === undefined ? chunk : Buffer.concat([rest, chunk])
    rest = undefined
    let at = 0
    while (at < buf.length) {
      let length = 0
      let multiplier = 1
      let i = at + 1
      let complete = false
      while (i < buf.length && i < at + 5) {
        const byte = buf[i++]!
        length += (byte & 0x7f) * multiplier
        multiplier *= 128
        if ((byte & 0x80) === 0) { complete = true; break }
      }
      if (!complete || i + length > buf.length) break
      answer(socket, buf, at, i, i + length)
      at = i + length
    }
    if (at < buf.length) rest = buf.subarray(at)
  })
}

/** One frame: `buf[start]` is its first byte, its body is `buf[body..end)`. */
function answer (socket: net.Socket, buf: Buffer, start: number, body: number, end: number): void {
  const type = buf[start]! >> 4
  switch (type) {
    case 1: socket.write(CONNACK_ACCEPTED); return
    case 3: {
      const qos = (buf[start]! >> 1) & 0x03
      const topicLength = buf.readUInt16BE(body)
      const topic = buf.toString('utf8', body + 2, body + 2 + topicLength)
      if (qos > 0) socket.write(Buffer.from([0x40, 0x02, buf[body + 2 + topicLength]!, buf[body + 3 + topicLength]!]))
      const frame = buf.subarray(start, end)
      for (const subscriber of subscribers.get(topic) ?? []) subscriber.write(frame)
      return
    }
    case 8: {
      const granted: number[] = []
      let at = body + 2
      while (at < end) {
        const topicLength = buf.readUInt16BE(at)
        const topic = buf.toString('utf8', at + 2, at + 2 + topicLength)
        granted.push(buf[at + 2 + topicLength]! & 0x03)
        at += 3 + topicLength
        let set = subscribers.get(topic)
        if (set === undefined) subscribers.set(topic, set = new Set())
        set.add(socket)
      }
      socket.write(Buffer.from([0x90, 2 + granted.length, buf[body]!, buf[body + 1]!, ...granted]))
      return
    }
    case 12: socket.write(PINGRESP); return
    case 14: socket.end()
  }
}
