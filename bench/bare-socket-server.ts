/**
 * The memory floor of the idle rows: a minimal Node process that holds MQTT connections and does
 * nothing else. `node dist/bench/bare-socket-server.js <port>` listens on 127.0.0.1 (TCP_NODELAY,
 * as meshmq), answers the first bytes of each connection (the CONNECT) with a 4-byte CONNACK
 * (accepted, no session present), ignores everything after, keeps the `net.Socket` objects until
 * they close, and stops on SIGTERM. Its RSS per connection is what a Node process pays for the
 * sockets alone, without broker state.
 */
import net from 'node:net'

const CONNACK_ACCEPTED = Buffer.from([0x20, 0x02, 0x00, 0x00])

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: bare-socket-server.js <port>\n')
  process.exit(2)
}

const held = new Set<net.Socket>()
const server = net.createServer({ noDelay: true }, (socket) => {
  held.add(socket)
  socket.on('error', () => {})
  socket.on('close', () => { held.delete(socket) })
  socket.once('data', () => { socket.write(CONNACK_ACCEPTED) })
})
server.listen(port, '127.0.0.1')
process.on('SIGTERM', () => {
  server.close()
  for (const socket of held) socket.destroy()
  process.exit(0)
})
