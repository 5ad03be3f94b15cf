/**
 * Aedes as a benchmark peer, in its own Node process: `node dist/bench/aedes-server.js <port>`
 * listens on 127.0.0.1 with the default in-memory persistence and stops on SIGTERM.
 */
import net from 'node:net'
import { Aedes } from 'aedes'

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: aedes-server.js <port>\n')
  process.exit(2)
}

const broker = await Aedes.createBroker()
const server = net.createServer(broker.handle)
server.listen(port, '127.0.0.1')
process.on('SIGTERM', () => {
  server.close()
  broker.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 1000).unref()
})
