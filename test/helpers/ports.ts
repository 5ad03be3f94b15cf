/**
 * Free TCP ports for brokers the tests start. They are picked below the kernel's ephemeral port
 * range: a port the OS hands out for `listen(0)` lies in that range, and a port reserved that way
 * is sometimes taken by an outgoing connection (a client's, a cluster node's) before the broker
 * meant to listen on it starts.
 */
import { readFileSync } from 'node:fs'
import net from 'node:net'

const RANGE_START = 20_000
const ATTEMPTS_PER_PORT = 100
/**
 * Ports already handed out in this process: a port is free until its broker starts, so without
 * this two calls (a test's own ports, then its cluster plan's) could return the same one.
 */
const handedOut = new Set<number>()

function ephemeralRangeStart (): number {
  try {
    const start = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    if (Number.isInteger(start) && start > RANGE_START + 1000) return start
  } catch { /* no /proc (not Linux): the usual default below */ }
  return 32_768
}

async function canListen (port: number, host: string): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const server = net.createServer()
    server.once('error', () => { resolve(false) })
    server.listen({ host, port }, () => { server.close(() => { resolve(true) }) })
  })
}

/** `count` ports free on `host` right now, none handed out before in this process. */
export async function freePorts (count: number, host = '127.0.0.1'): Promise<number[]> {
  const end = ephemeralRangeStart()
  const ports: number[] = []
  for (let attempt = 0; ports.length < count; attempt++) {
    if (attempt >= count * ATTEMPTS_PER_PORT) throw new Error(`no ${count} free ports in ${RANGE_START}–${end - 1} on ${host}`)
    const port = RANGE_START + Math.floor(Math.random() * (end - RANGE_START))
    if (!handedOut.has(port) && await canListen(port, host)) {
      handedOut.add(port)
      ports.push(port)
    }
  }
  return ports
}

/** A port free on `host` right now. */
export async function freePort (host = '127.0.0.1'): Promise<number> {
  const [port] = await freePorts(1, host)
  return port!
}
