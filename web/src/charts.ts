/**
 * The live charts (uPlot): message rates per node, from the PUBLISH counters of each node's summary
 * polled every second (`messagesReceived`, `messagesSent` of /api/v1/nodes; a rate is the change
 * between two polls over the time between them), and the watch panel's round-trip latency.
 */
import uPlot from 'uplot'

/** Points kept per series (two minutes at one poll a second). */
const WINDOW = 120
const PALETTE = ['#2b7bb9', '#d9534f', '#5cb85c', '#f0ad4e', '#8e44ad', '#16a085', '#7f8c8d', '#c0392b']

function options (title: string, width: number, series: uPlot.Series[], unit: string): uPlot.Options {
  return {
    title,
    width,
    height: 200,
    series: [{}, ...series],
    axes: [{}, { label: unit, size: 60 }],
    legend: { live: false }
  }
}

/** A time chart of named series with a sliding window of `WINDOW` points. */
class TimeChart {
  private plot: uPlot | undefined
  private names: string[] = []
  private times: number[] = []
  private values: Array<Array<number | null>> = []

  constructor (private readonly container: HTMLElement, private readonly title: string, private readonly unit: string) {}

  /** Adds one point per series at `time` (seconds); a series not given a value gets a gap. */
  push (time: number, values: Map<string, number>): void {
    const names = [...new Set([...this.names, ...values.keys()])].sort()
    if (names.join('\n') !== this.names.join('\n')) {
      this.values = names.map(name => { const at = this.names.indexOf(name); return at < 0 ? this.times.map(() => null) : this.values[at]! })
      this.names = names
      this.plot?.destroy()
      this.plot = undefined
    }
    this.times.push(time)
    this.names.forEach((name, i) => this.values[i]!.push(values.get(name) ?? null))
    if (this.times.length > WINDOW) {
      this.times.shift()
      for (const series of this.values) series.shift()
    }
    const data: uPlot.AlignedData = [this.times, ...this.values]
    if (this.plot === undefined) {
      const series = this.names.map((label, i): uPlot.Series => ({ label, stroke: PALETTE[i % PALETTE.length]!, width: 1.5, spanGaps: false }))
      this.plot = new uPlot(options(this.title, this.width(), series, this.unit), data, this.container)
    } else {
      this.plot.setData(data)
    }
  }

  private width (): number { return Math.max(300, this.container.clientWidth) }

  resize (): void { this.plot?.setSize({ width: this.width(), height: 200 }) }
}

interface Sample { at: number, received: number, sent: number }

/** Messages in and out per second, per node. */
export class RateChart {
  private readonly chart: TimeChart
  private readonly last = new Map<string, Sample>()

  constructor (container: HTMLElement) {
    this.chart = new TimeChart(container, 'Messages per second (PUBLISH from clients: in, to clients: out)', 'msg/s')
  }

  /** One poll's counters (ms since the epoch when read). */
  update (at: number, counters: ReadonlyArray<{ name: string, received: number, sent: number }>): void {
    const values = new Map<string, number>()
    for (const { name, received, sent } of counters) {
      const previous = this.last.get(name)
      this.last.set(name, { at, received, sent })
      // A restarted node's counters start again from 0: no rate for that poll.
      if (previous === undefined || received < previous.received || sent < previous.sent) continue
      const seconds = (at - previous.at) / 1000
      if (seconds <= 0) continue
      values.set(`${name} in`, (received - previous.received) / seconds)
      values.set(`${name} out`, (sent - previous.sent) / seconds)
    }
    this.chart.push(at / 1000, values)
  }

  resize (): void { this.chart.resize() }
}

/** Round trips of the watch panel's probe, in milliseconds. */
export class LatencyChart {
  private readonly chart: TimeChart

  constructor (container: HTMLElement) {
    this.chart = new TimeChart(container, 'Round trip: this page → node (WebSocket) → broker → this page', 'ms')
  }

  add (at: number, milliseconds: number): void {
    this.chart.push(at / 1000, new Map([['round trip', milliseconds]]))
  }

  resize (): void { this.chart.resize() }
}
