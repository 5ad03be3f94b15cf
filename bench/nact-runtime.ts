/**
 * Micro benchmark of the actor runtime: nact 7.6.2 as patched by patches/nact+7.6.2.patch against
 * the same nact without the patch (a copy in a temporary directory with the patch reversed).
 * Not a test and not part of `npm run bench`: run `node --expose-gc dist/bench/nact-runtime.js`.
 *
 * Each measurement runs in a fresh child process, variants alternating round by round, so both see
 * the same machine load. Measured:
 *  - hop latency: a chain A → B → C of stateless actors at light load (one message in flight, the
 *    next sent from a timer): time from the dispatch to A until C's handler runs, on an idle event
 *    loop and with 10 loopback sockets echoing a write every millisecond each;
 *  - chain throughput: 200k messages through A → B → C, the producer dispatching 1000 per turn;
 *  - burst throughput: 1M messages to 10 actors dispatched at once, then drained;
 *  - heap of 20k idle actors: spawned only, and after each has handled one message.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync, mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { createServer, connect, type AddressInfo, type Socket } from 'node:net'
import { once } from 'node:events'

type Nact = typeof import('nact')
type Variant = 'patched' | 'unpatched'
interface Result { variant: Variant, metric: string, value: number, unit: string }

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const PATCH = join(ROOT, 'patches', 'nact+7.6.2.patch')
const ROUNDS = 3

/** A copy of the installed nact with the patch reversed, next to a link to its one dependency. */
function unpatchedCopy (): { dir: string, nact: string } {
  const dir = mkdtempSync(join(tmpdir(), 'nact-unpatched-'))
  const nact = join(dir, 'node_modules', 'nact')
  mkdirSync(join(dir, 'node_modules'), { recursive: true })
  cpSync(join(ROOT, 'node_modules', 'nact'), nact, { recursive: true })
  symlinkSync(join(ROOT, 'node_modules', 'denque'), join(dir, 'node_modules', 'denque'))
  execFileSync('patch', ['-R', '-p3', '-s', '-d', nact], { input: readFileSync(PATCH) })
  if (existsSync(join(nact, 'lib', 'run-queue.js'))) throw new Error('the reversed copy still has the patch')
  return { dir, nact }
}

const tick = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

/**
 * Loopback TCP pairs echoing 64-byte writes, each client writing every millisecond: event-loop
 * turns then carry I/O, as in a broker at light load. Returns a function that stops it.
 */
async function backgroundIo (pairs: number): Promise<() => void> {
  const server = createServer(socket => {
    socket.on('data', d => socket.write(d))
    socket.on('error', () => undefined)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  const clients: Socket[] = []
  for (let i = 0; i < pairs; i++) {
    const client = connect(port, '127.0.0.1')
    await once(client, 'connect')
    client.on('data', () => undefined)
    client.on('error', () => undefined)
    clients.push(client)
  }
  const payload = Buffer.alloc(64)
  const timer = setInterval(() => { for (const c of clients) c.write(payload) }, 1)
  return () => {
    clearInterval(timer)
    for (const c of clients) c.destroy()
    server.close()
  }
}

async function hopLatency (nact: Nact, samples: number, ioPairs = 0): Promise<number[]> {
  const stopIo = ioPairs > 0 ? await backgroundIo(ioPairs) : undefined
  const system = nact.start()
  let sentAt = 0
  let done: (() => void) | undefined
  const latencies: number[] = []
  const c = nact.spawnStateless(system, (_m: number) => { latencies.push(performance.now() - sentAt); done?.() }, 'c')
  const b = nact.spawnStateless(system, (m: number) => { nact.dispatch(c, m) }, 'b')
  const a = nact.spawnStateless(system, (m: number) => { nact.dispatch(b, m) }, 'a')
  for (let i = 0; i < samples; i++) {
    await new Promise<void>(resolve => setTimeout(() => {
      done = resolve
      sentAt = performance.now()
      nact.dispatch(a, i)
    }, 0))
  }
  nact.stop(system)
  stopIo?.()
  return latencies
}

async function chainThroughput (nact: Nact, total: number): Promise<number> {
  const system = nact.start()
  let received = 0
  let finished: (() => void) | undefined
  const c = nact.spawnStateless(system, (_m: number) => { if (++received === total) finished?.() }, 'c')
  const b = nact.spawnStateless(system, (m: number) => { nact.dispatch(c, m) }, 'b')
  const a = nact.spawnStateless(system, (m: number) => { nact.dispatch(b, m) }, 'a')
  const all = new Promise<void>(resolve => { finished = resolve })
  const started = performance.now()
  for (let i = 0; i < total; i += 1000) {
    for (let j = i; j < i + 1000; j++) nact.dispatch(a, j)
    await tick()
  }
  await all
  const seconds = (performance.now() - started) / 1000
  nact.stop(system)
  return total / seconds
}

async function burstThroughput (nact: Nact, actors: number, perActor: number): Promise<number> {
  const system = nact.start()
  let received = 0
  const total = actors * perActor
  let finished: (() => void) | undefined
  const all = new Promise<void>(resolve => { finished = resolve })
  const refs = Array.from({ length: actors }, (_, i) =>
    nact.spawnStateless(system, (_m: number) => { if (++received === total) finished?.() }, `sink-${String(i)}`))
  const started = performance.now()
  for (let j = 0; j < perActor; j++) for (const ref of refs) nact.dispatch(ref, j)
  await all
  const seconds = (performance.now() - started) / 1000
  nact.stop(system)
  return total / seconds
}

function heapUsed (): number {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with node --expose-gc')
  gc(); gc()
  return process.memoryUsage().heapUsed
}

async function idleHeap (nact: Nact, count: number, withMessage: boolean): Promise<number> {
  const system = nact.start()
  await tick()
  const before = heapUsed()
  const refs = []
  for (let i = 0; i < count; i++) {
    refs.push(nact.spawn(system, (s: number, m: number) => s + m, `idle-${String(i)}`, { initialState: 0 }))
  }
  if (withMessage) {
    for (const ref of refs) nact.dispatch(ref, 1)
    for (let i = 0; i < 50; i++) await tick()
  }
  const after = heapUsed()
  nact.stop(system)
  return (after - before) / count
}

async function child (variant: Variant, nactPath: string): Promise<void> {
  const nact = createRequire(import.meta.url)(nactPath) as Nact
  const out: Result[] = []
  for (const [label, ioPairs] of [['idle loop', 0], ['10 busy sockets', 10]] as const) {
    const latencies = (await hopLatency(nact, 2000, ioPairs)).slice(400).sort((x, y) => x - y)
    const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN
    out.push({ variant, metric: `hop latency A→B→C p50, ${label}`, value: pct(0.5) * 1000, unit: 'µs' })
    out.push({ variant, metric: `hop latency A→B→C p99, ${label}`, value: pct(0.99) * 1000, unit: 'µs' })
  }
  out.push({ variant, metric: 'chain throughput A→B→C', value: await chainThroughput(nact, 200_000), unit: 'msg/s' })
  out.push({ variant, metric: 'burst 1M to 10 actors', value: await burstThroughput(nact, 10, 100_000), unit: 'msg/s' })
  out.push({ variant, metric: 'heap per idle actor (spawned)', value: await idleHeap(nact, 20_000, false), unit: 'B' })
  out.push({ variant, metric: 'heap per idle actor (after 1 msg)', value: await idleHeap(nact, 20_000, true), unit: 'B' })
  process.stdout.write(JSON.stringify(out) + '\n')
}

function parent (): void {
  const copy = unpatchedCopy()
  const variants: Array<[Variant, string]> = [['patched', join(ROOT, 'node_modules', 'nact')], ['unpatched', copy.nact]]
  const results: Result[] = []
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const [variant, path] of round % 2 === 0 ? variants : [...variants].reverse()) {
        const run = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child', variant, path], { encoding: 'utf8' })
        if (run.status !== 0) throw new Error(`${variant} run failed: ${run.stderr}`)
        results.push(...(JSON.parse(run.stdout) as Result[]))
      }
    }
  } finally {
    rmSync(copy.dir, { recursive: true, force: true })
  }
  const metrics = [...new Set(results.map(r => r.metric))]
  const median = (xs: number[]): number => { const s = [...xs].sort((x, y) => x - y); return s[Math.floor(s.length / 2)] ?? NaN }
  const fmt = (x: number): string => x >= 1000 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1)
  console.log(`nact runtime, median of ${String(ROUNDS)} alternating rounds (node ${process.version})`)
  console.log('| metric | unpatched | patched | runs (unpatched / patched) |')
  console.log('|---|---|---|---|')
  for (const metric of metrics) {
    const of = (v: Variant): number[] => results.filter(r => r.metric === metric && r.variant === v).map(r => r.value)
    const unit = results.find(r => r.metric === metric)?.unit ?? ''
    console.log(`| ${metric} (${unit}) | ${fmt(median(of('unpatched')))} | ${fmt(median(of('patched')))} | ${of('unpatched').map(fmt).join(', ')} / ${of('patched').map(fmt).join(', ')} |`)
  }
}

const childAt = process.argv.indexOf('--child')
if (childAt >= 0) {
  await child(process.argv[childAt + 1] as Variant, process.argv[childAt + 2] ?? '')
} else {
  parent()
}
