import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ThrottledLogEvent, type ThrottleClock } from '../src/core/log-throttle.js'

/** A clock the test moves by hand; scheduled callbacks run when their time is reached. */
class ManualClock implements ThrottleClock {
  time = 0
  private timers: Array<{ at: number, callback: () => void }> = []

  now = (): number => this.time

  schedule = (ms: number, callback: () => void): (() => void) => {
    const timer = { at: this.time + ms, callback }
    this.timers.push(timer)
    return () => { this.timers = this.timers.filter(t => t !== timer) }
  }

  get pendingTimers (): number {
    return this.timers.length
  }

  advance (ms: number): void {
    const until = this.time + ms
    for (;;) {
      const next = this.timers.filter(t => t.at <= until).sort((a, b) => a.at - b.at)[0]
      if (next === undefined) break
      this.timers = this.timers.filter(t => t !== next)
      this.time = next.at
      next.callback()
    }
    this.time = until
  }
}

function recorder (): { lines: Array<Record<string, unknown>>, write: (line: Record<string, unknown>) => void } {
  const lines: Array<Record<string, unknown>> = []
  return { lines, write: (line) => { lines.push(line) } }
}

describe('ThrottledLogEvent', () => {
  it('writes the first occurrence at once with its count and fields', () => {
    const clock = new ManualClock()
    const { lines, write } = recorder()
    const event = new ThrottledLogEvent(write, { clock })
    event.add({ count: 3 }, { peer: 'n2@h', reason: 'node_down' })
    assert.deepEqual(lines, [{ peer: 'n2@h', reason: 'node_down', count: 3 }])
    assert.equal(clock.pendingTimers, 0, 'nothing pending, no timer')
  })

  it('writes at most one line per interval and a trailing line, so the counts add up to every occurrence', () => {
    const clock = new ManualClock()
    const { lines, write } = recorder()
    const writtenAt: number[] = []
    const event = new ThrottledLogEvent((line) => { writtenAt.push(clock.now()); write(line) }, { clock, intervalMs: 1000 })
    let total = 0
    for (let ms = 0; ms < 3500; ms += 10) {
      event.add({ count: 1 }, { topic: `t/${ms}` })
      total++
      clock.advance(10)
    }
    clock.advance(1000)
    assert.deepEqual(writtenAt, [0, 1000, 2000, 3000, 4000], 'the first at once, then one per second, the last trailing')
    assert.equal(lines.reduce((sum, line) => sum + (line.count as number), 0), total, 'every occurrence counted once')
    assert.deepEqual(lines[0], { topic: 't/0', count: 1 })
    assert.equal(lines.at(-1)?.topic, 't/3490', 'a line carries the latest fields')
    assert.equal(clock.pendingTimers, 0)
  })

  it('carries every counter, 0 when none occurred', () => {
    const clock = new ManualClock()
    const { lines, write } = recorder()
    const event = new ThrottledLogEvent(write, { clock, counters: ['overflow', 'oversize'] })
    event.add({ oversize: 1 }, { peer: 'a@h' })
    event.add({ overflow: 2 }, { peer: 'a@h' })
    event.add({ overflow: 5, oversize: 1 }, { peer: 'a@h' })
    clock.advance(1000)
    assert.deepEqual(lines, [{ peer: 'a@h', overflow: 0, oversize: 1 }, { peer: 'a@h', overflow: 7, oversize: 1 }])
  })

  it('writes at once again after a quiet interval', () => {
    const clock = new ManualClock()
    const { lines, write } = recorder()
    const event = new ThrottledLogEvent(write, { clock, intervalMs: 1000 })
    event.add({ count: 1 })
    clock.advance(5000)
    event.add({ count: 2 })
    assert.deepEqual(lines, [{ count: 1 }, { count: 2 }])
  })

  it('flush writes what is pending now and cancels the trailing line', () => {
    const clock = new ManualClock()
    const { lines, write } = recorder()
    const event = new ThrottledLogEvent(write, { clock })
    event.add({ count: 1 })
    event.add({ count: 4 })
    event.flush()
    assert.deepEqual(lines, [{ count: 1 }, { count: 4 }])
    assert.equal(clock.pendingTimers, 0)
    event.flush()
    assert.equal(lines.length, 2, 'nothing pending, nothing written')
  })

  it('keeps its trailing line on a timer that does not hold the process open', (t) => {
    const { lines, write } = recorder()
    const event = new ThrottledLogEvent(write, { intervalMs: 60_000 })
    t.after(() => { event.flush() })
    const timers = (): number => process.getActiveResourcesInfo().filter(resource => resource === 'Timeout').length
    const before = timers()
    event.add({ count: 1 })
    event.add({ count: 1 })
    assert.equal(lines.length, 1, 'the second waits for the trailing line')
    assert.equal(timers(), before, 'the trailing timer is unref\'d')
  })
})
