/**
 * The Node.js runtime's metrics on a node's Prometheus registry: event-loop delay (from
 * `perf_hooks.monitorEventLoopDelay`, since the previous scrape), garbage collection (a `gc`
 * PerformanceObserver), CPU, memory and heap. Named as prom-client's default metrics, so their
 * dashboards apply; not prom-client's `collectDefaultMetrics`, whose event-loop monitor and GC
 * observer can never be stopped: these are, by the function returned, when the node's HTTP
 * listener closes (an embedded node stopped leaves nothing running). They describe the process:
 * several nodes in one process show the same runtime, each under its own `node` label.
 */
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks'
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

const NS_PER_S = 1e9
const EVENT_LOOP_RESOLUTION_MS = 10
const GC_BUCKETS_S = [0.001, 0.01, 0.1, 1, 2, 5]

const GC_KINDS = new Map<number, string>([
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb']
])

/** The event-loop delay histogram's statistics, each a gauge `nodejs_eventloop_lag_<stat>_seconds`. */
const LAG_STATS: ReadonlyArray<[string, (h: ReturnType<typeof monitorEventLoopDelay>) => number]> = [
  ['min', h => h.min], ['max', h => h.max], ['mean', h => h.mean], ['stddev', h => h.stddev],
  ['p50', h => h.percentile(50)], ['p90', h => h.percentile(90)], ['p99', h => h.percentile(99)]
]

/** Registers the runtime metrics on `registry`; the function returned stops their monitors. */
export function registerRuntimeMetrics (registry: Registry): () => void {
  const delay = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS })
  delay.enable()
  const registers = [registry]
  // The registry collects in registration order: the statistics are read, then the lag gauge starts the next interval.
  for (const [stat, read] of LAG_STATS) {
    new Gauge({
      name: `nodejs_eventloop_lag_${stat}_seconds`,
      help: `The ${stat} of the event-loop delay since the previous scrape`,
      registers,
      collect () {
        const value = delay.count === 0 ? 0 : read(delay) / NS_PER_S
        this.set(Number.isFinite(value) ? value : 0)
      }
    })
  }
  new Gauge({
    name: 'nodejs_eventloop_lag_seconds',
    help: 'Event-loop lag now: the delay of a setImmediate scheduled at scrape time',
    registers,
    async collect () {
      delay.reset()
      const started = process.hrtime.bigint()
      await new Promise(resolve => { setImmediate(resolve) })
      this.set(Number(process.hrtime.bigint() - started) / NS_PER_S)
    }
  })
  const gc = new Histogram({ name: 'nodejs_gc_duration_seconds', help: 'Garbage collection duration by kind: major, minor, incremental or weakcb', labelNames: ['kind'], buckets: GC_BUCKETS_S, registers })
  const observer = new PerformanceObserver(list => {
    for (const entry of list.getEntries()) {
      const kind = ((entry as { detail?: unknown }).detail as { kind?: number } | null | undefined)?.kind
      gc.observe({ kind: GC_KINDS.get(kind ?? -1) ?? 'unknown' }, entry.duration / 1000)
    }
  })
  observer.observe({ entryTypes: ['gc'] })
  const cpu = (read: (usage: NodeJS.CpuUsage) => number) => function (this: Counter): void {
    this.reset()
    this.inc(read(process.cpuUsage()) / 1e6)
  }
  new Counter({ name: 'process_cpu_user_seconds_total', help: 'User CPU time of the process', registers, collect: cpu(u => u.user) })
  new Counter({ name: 'process_cpu_system_seconds_total', help: 'System CPU time of the process', registers, collect: cpu(u => u.system) })
  new Counter({ name: 'process_cpu_seconds_total', help: 'User and system CPU time of the process', registers, collect: cpu(u => u.user + u.system) })
  const memory = (read: (usage: NodeJS.MemoryUsage) => number) => function (this: Gauge): void { this.set(read(process.memoryUsage())) }
  new Gauge({ name: 'process_resident_memory_bytes', help: 'Resident memory of the process', registers, collect: memory(m => m.rss) })
  new Gauge({ name: 'nodejs_heap_size_total_bytes', help: 'V8 heap size', registers, collect: memory(m => m.heapTotal) })
  new Gauge({ name: 'nodejs_heap_size_used_bytes', help: 'V8 heap used', registers, collect: memory(m => m.heapUsed) })
  new Gauge({ name: 'nodejs_external_memory_bytes', help: 'Memory of C++ objects bound to JavaScript objects (buffers…)', registers, collect: memory(m => m.external) })
  const startTime = Math.round(Date.now() / 1000 - process.uptime())
  new Gauge({ name: 'process_start_time_seconds', help: 'Start time of the process since the epoch', registers, collect () { this.set(startTime) } })
  return () => {
    delay.disable()
    observer.disconnect()
  }
}
