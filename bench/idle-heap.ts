/**
 * Memory per idle connection, attributed: `node --expose-gc dist/bench/idle-heap.js [options]`
 * starts a meshmq node in this process (or, with `--server bare`, the bare-socket floor: a
 * net.Server that answers CONNECT and holds the sockets), opens idle MQTT 3.1.1 connections from a
 * separate process (bench/idle-clients.ts), and prints RSS, heap and external memory per
 * connection after gc, then the heap's growth by constructor (self size, from two heap snapshots)
 * per connection.
 *
 * Options: `--connections N` (5000), `--keepalive S` (60), `--persistence batch|off` (batch),
 * `--log-level warn|info|…` (warn; at info each connect logs a line, to stdout),
 * `--server meshmq|bare` (meshmq), `--top N` rows (25), `--no-snapshot` (numbers only).
 * Raise `ulimit -n` first for more than ~500 connections.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8'
import { startNode, type LogLevel } from '../src/index.js'

interface Server { port: number, close: () => Promise<void> }

/**
 * `heapCommitted`: bytes of the heap's spaces (used or not); `newSpace`: of the young generation
 * alone; `oldSpaceFree`: committed old-space bytes that hold no live object after GC (garbage that
 * scavenges promoted, then died: fragmentation that RSS counts).
 */
interface Memory { rss: number, heapUsed: number, heapCommitted: number, newSpace: number, oldSpaceFree: number, external: number }

/** Bytes and count of one constructor (or node kind) in a heap snapshot. */
interface Bucket { bytes: number, count: number }

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '5000' },
    keepalive: { type: 'string', default: '60' },
    persistence: { type: 'string', default: 'batch' },
    'log-level': { type: 'string', default: 'warn' },
    server: { type: 'string', default: 'meshmq' },
    top: { type: 'string', default: '25' },
    'no-snapshot': { type: 'boolean', default: false }
  }
})

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with node --expose-gc')
const collect: () => void = gc

function logLevel (level: string): LogLevel {
  const levels: LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']
  const found = levels.find(l => l === level)
  if (found === undefined) throw new Error(`--log-level: one of ${levels.join(', ')}`)
  return found
}

async function startMeshmq (dataDir: string): Promise<Server> {
  const persistence = args.persistence === 'off' ? 'off' : 'batch'
  const node = await startNode({
    listener: { host: '127.0.0.1', port: 0 },
    node: { name: 'idle@127.0.0.1', dataDir },
    log: { level: logLevel(args['log-level']) },
    cluster: { discovery: 'manual', port: 0 },
    persistence: { mode: persistence }
  })
  return { port: node.address.port, close: node.close }
}

/** The floor: sockets held by a plain net.Server that answers CONNECT with an accepting CONNACK. */
async function startBare (): Promise<Server> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer(socket => {
    sockets.add(socket)
    socket.once('data', () => { socket.write(Buffer.from([0x20, 0x02, 0x00, 0x00])) })
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    port,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  }
}

function settledMemory (): Memory {
  for (let i = 0; i < 3; i++) collect()
  const m = process.memoryUsage()
  const spaces = getHeapSpaceStatistics()
  const newSpace = spaces.find(space => space.space_name === 'new_space')?.space_size ?? 0
  const oldSpace = spaces.find(space => space.space_name === 'old_space')
  const oldSpaceFree = oldSpace === undefined ? 0 : oldSpace.space_size - oldSpace.space_used_size
  return { rss: m.rss, heapUsed: m.heapUsed, heapCommitted: m.heapTotal, newSpace, oldSpaceFree, external: m.external }
}

/** Self size and count per constructor (objects, closures, native) or per kind (strings, arrays, code…). */
function heapByConstructor (): Map<string, Bucket> {
  const dir = mkdtempSync(join(tmpdir(), 'meshmq-heap-'))
  try {
    const file = writeHeapSnapshot(join(dir, 'idle.heapsnapshot'))
    const snapshot = JSON.parse(readFileSync(file, 'utf8')) as {
      snapshot: { meta: { node_fields: string[], node_types: [string[]] } }
      nodes: number[]
      strings: string[]
    }
    const fields = snapshot.snapshot.meta.node_fields
    const types = snapshot.snapshot.meta.node_types[0]
    const width = fields.length
    const typeAt = fields.indexOf('type')
    const nameAt = fields.indexOf('name')
    const sizeAt = fields.indexOf('self_size')
    const buckets = new Map<string, Bucket>()
    const { nodes, strings } = snapshot
    for (let i = 0; i < nodes.length; i += width) {
      const type = types[nodes[i + typeAt]!] ?? '?'
      const name = strings[nodes[i + nameAt]!] ?? '?'
      const key = type === 'object' || type === 'native' ? name
        : type === 'closure' ? `closure ${name === '' ? '(anonymous)' : name}`
          : type === 'hidden' || type === 'array' || type === 'object shape' ? `(${type}) ${name.slice(0, 40)}`
            : `(${type})`
      const bucket = buckets.get(key) ?? { bytes: 0, count: 0 }
      bucket.bytes += nodes[i + sizeAt]!
      bucket.count++
      buckets.set(key, bucket)
    }
    return buckets
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Opens the idle connections from a child process; resolves with how many opened and a function that closes them. */
async function openClients (port: number, connections: number, keepalive: number): Promise<{ opened: number, failed: number, close: () => void }> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'idle-clients.js')
  const child = spawn(process.execPath, [script, String(port), String(connections), String(keepalive)], { stdio: ['pipe', 'pipe', 'inherit'] })
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout })
    rl.once('line', resolve)
    child.once('exit', code => { reject(new Error(`idle-clients exited with ${String(code)}`)) })
  })
  const [, opened, failed] = line.split(' ').map(Number)
  return { opened: opened ?? 0, failed: failed ?? 0, close: () => { child.stdin.end() } }
}

const kb = (bytes: number): string => (bytes / 1024).toFixed(2)

const connections = Number(args.connections)
const keepalive = Number(args.keepalive)
const dataDir = mkdtempSync(join(tmpdir(), 'meshmq-idle-'))
const server = args.server === 'bare' ? await startBare() : await startMeshmq(dataDir)
try {
  const snapshots = !args['no-snapshot']
  const before = settledMemory()
  const heapBefore = snapshots ? heapByConstructor() : undefined
  const clients = await openClients(server.port, connections, keepalive)
  await new Promise(resolve => setTimeout(resolve, 1000))
  const after = settledMemory()
  const n = Math.max(clients.opened, 1)
  console.log(`server ${args.server}${args.server === 'bare' ? '' : ` persistence ${args.persistence}`}: ${clients.opened} idle connections (${clients.failed} failed), keepalive ${keepalive}`)
  console.log(`per connection: rss ${kb((after.rss - before.rss) / n)} KB, heap ${kb((after.heapUsed - before.heapUsed) / n)} KB, external ${kb((after.external - before.external) / n)} KB`)
  console.log(`heap committed ${kb((after.heapCommitted - before.heapCommitted) / n)} KB per connection, of which young generation ${kb((after.newSpace - before.newSpace) / n)} KB (${((after.newSpace) / 1048576).toFixed(1)} MB in all)`)
  console.log(`old space free after GC ${kb((after.oldSpaceFree - before.oldSpaceFree) / n)} KB per connection (${(after.oldSpaceFree / 1048576).toFixed(1)} MB in all)`)
  if (heapBefore !== undefined) {
    const heapAfter = heapByConstructor()
    const growth = [...heapAfter].map(([key, b]) => {
      const a = heapBefore.get(key) ?? { bytes: 0, count: 0 }
      return { key, bytes: b.bytes - a.bytes, count: b.count - a.count }
    }).sort((x, y) => y.bytes - x.bytes)
    const total = growth.reduce((sum, g) => sum + g.bytes, 0)
    console.log(`heap snapshot growth: ${kb(total / n)} KB per connection (self sizes)`)
    console.log('bytes/conn  objs/conn  constructor')
    for (const g of growth.slice(0, Number(args.top))) {
      console.log(`${(g.bytes / n).toFixed(1).padStart(10)}  ${(g.count / n).toFixed(2).padStart(9)}  ${g.key}`)
    }
  }
  clients.close()
} finally {
  await server.close()
  rmSync(dataDir, { recursive: true, force: true })
}
