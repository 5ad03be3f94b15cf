/**
 * Aedes as a benchmark peer, in its own Node process: `node dist/bench/aedes-server.js <port> [--no-delay]`
 * listens on 127.0.0.1 with the default in-memory persistence and stops on SIGTERM. `--no-delay`
 * sets TCP_NODELAY on client sockets (Node's default leaves Nagle's algorithm on).
 */
import net from 'node:net'
import { Aedes } from 'aedes'

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: aedes-server.js <port> [--no-delay]\n')
  process.exit(2)
}

const broker = await Aedes.createBroker()
const server = net.createServer({ noDelay: process.argv.includes('--no-delay') }, broker.handle)
server.listen(port, '127.0.0.1')
process.on('SIGTERM', () => {
  server.close()
  broker.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 1000).unref()
})
