/** The manual clock the expiry tests drive: time moves only when told, timers fire in due order. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ManualClock, systemClock } from '../src/core/clock.js'

describe('ManualClock', () => {
  it('stands still until advanced', () => {
    const clock = new ManualClock(1000)
    assert.equal(clock.now(), 1000)
    clock.advance(250)
    assert.equal(clock.now(), 1250)
  })

  it('fires timers when their time comes, in due order, with now() at their due time', () => {
    const clock = new ManualClock(0)
    const fired: Array<[string, number]> = []
    clock.schedule(300, () => fired.push(['late', clock.now()]))
    clock.schedule(100, () => fired.push(['early', clock.now()]))
    clock.schedule(100, () => fired.push(['early-second', clock.now()]))
    clock.advance(99)
    assert.deepEqual(fired, [])
    clock.advance(1)
    assert.deepEqual(fired, [['early', 100], ['early-second', 100]])
    clock.advance(1000)
    assert.deepEqual(fired, [['early', 100], ['early-second', 100], ['late', 300]])
    assert.equal(clock.now(), 1100)
    assert.equal(clock.pending, 0)
  })

  it('a cancelled timer does not fire', () => {
    const clock = new ManualClock(0)
    let fired = false
    const cancel = clock.schedule(10, () => { fired = true })
    assert.equal(clock.pending, 1)
    cancel()
    clock.advance(20)
    assert.equal(fired, false)
    assert.equal(clock.pending, 0)
  })

  it('a timer set by a firing timer fires within the same advance when due', () => {
    const clock = new ManualClock(0)
    const fired: number[] = []
    clock.schedule(10, () => clock.schedule(10, () => fired.push(clock.now())))
    clock.advance(25)
    assert.deepEqual(fired, [20])
  })
})

describe('systemClock', () => {
  it('tells wall-clock time and fires its timers', async () => {
    const before = Date.now()
    assert.ok(systemClock.now() >= before)
    await new Promise<void>(resolve => systemClock.schedule(5, resolve))
  })

  it('a delay past Node\'s 2^31−1 ms timer limit (a will delay or session expiry of 2^32−1 s) does not fire at once', async () => {
    let fired = false
    const cancel = systemClock.schedule(4_294_967_295_000, () => { fired = true })
    await new Promise(resolve => setTimeout(resolve, 50))
    cancel()
    assert.equal(fired, false)
  })

  it('a cancelled timer does not fire', async () => {
    let fired = false
    const cancel = systemClock.schedule(5, () => { fired = true })
    cancel()
    await new Promise(resolve => setTimeout(resolve, 20))
    assert.equal(fired, false)
  })
})
