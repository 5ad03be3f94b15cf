/**
 * Aedes as a benchmark peer, in its own Node process:
 * `node dist/bench/aedes-server.js <port> [--no-delay] [--tls <port> <certFile> <keyFile>]` listens
 * on 127.0.0.1 with the default in-memory persistence (and with `--tls` on a TLS port too) and
 * stops on SIGTERM. `--no-delay` sets TCP_NODELAY on client sockets (Node's default leaves
 * Nagle's algorithm on).
 */
import { readFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { Aedes } from 'aedes'

const USAGE = 'usage: aedes-server.js <port> [--no-delay] [--tls <port> <certFile> <keyFile>]\n'
const args = process.argv.slice(2)
const port = Number(args[0])
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write(USAGE)
  process.exit(2)
}
const noDelay = args.includes('--no-delay')
const tlsAt = args.indexOf('--tls')
const tlsPort = tlsAt < 0 ? undefined : Number(args[tlsAt + 1])
if (tlsPort !== undefined && (!Number.isInteger(tlsPort) || args[tlsAt + 3] === undefined)) {
  process.stderr.write(USAGE)
  process.exit(2)
}

const broker = await Aedes.createBroker()
const servers: net.Server[] = [net.createServer({ noDelay }, broker.handle)]
servers[0]!.listen(port, '127.0.0.1')
if (tlsPort !== undefined) {
  const secure = tls.createServer({ noDelay, cert: readFileSync(args[tlsAt + 2]!), key: readFileSync(args[tlsAt + 3]!) }, broker.handle)
  secure.listen(tlsPort, '127.0.0.1')
  servers.push(secure)
}
process.on('SIGTERM', () => {
  for (const server of servers) server.close()
  broker.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 1000).unref()
})
