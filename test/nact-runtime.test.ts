/**
 * The actor runtime as meshmq runs it: nact 7.6.2 with patches/nact+7.6.2.patch (one process-wide
 * run queue, synchronous results taken directly, lazy `ctx.children`). Each test pins one of nact's
 * guarantees (per-actor order, one message at a time, supervision, stop, query, shutdownAfter) or one
 * the patch adds (a chain of actors within one macrotask; a hot actor yields to other actors, timers
 * and I/O).
 */
import { describe, it, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, connect, type AddressInfo } from 'node:net'
import { once } from 'node:events'
import { performance } from 'node:perf_hooks'
import {
  start, stop, spawn, spawnStateless, dispatch, query,
  type ActorContext, type ActorSystemRef, type Ref, type SupervisionActorFunc
} from 'nact'
import { waitUntil, sleep } from './helpers/wait.js'
import { runSoon } from '../actors/run-soon.js'

const TIMEOUT_MS = 1000

type Ctx<M> = ActorContext<M, ActorSystemRef>

let system: ActorSystemRef | undefined
function freshSystem (): ActorSystemRef {
  system = start()
  return system
}
afterEach(() => {
  if (system !== undefined) stop(system)
  system = undefined
})

/** A stateless actor that appends `name:msg` to `log` and runs `then` after. */
function recorder<M> (sys: ActorSystemRef, name: string, log: string[], then?: (msg: M) => void): Ref<M> {
  return spawnStateless(sys, (msg: M, _ctx: Ctx<M>) => {
    log.push(`${name}:${String(msg)}`)
    then?.(msg)
  }, name)
}

function resumeOnCrash<M> (): SupervisionActorFunc<M, ActorSystemRef, Ref<unknown>> {
  return (_msg, _err, ctx) => ctx.resume
}

describe('nact runtime (patched 7.6.2)', () => {
  it('keeps each actor\'s messages in dispatch order, interleaved dispatches included', async () => {
    const sys = freshSystem()
    const log: string[] = []
    const a = recorder<number>(sys, 'a', log)
    const b = recorder<number>(sys, 'b', log)
    for (let i = 0; i < 200; i++) { dispatch(a, i); dispatch(b, i) }
    await waitUntil(() => log.length === 400, TIMEOUT_MS, 'log.length === 400')
    for (const name of ['a', 'b']) {
      const seen = log.filter(l => l.startsWith(`${name}:`)).map(l => Number(l.slice(2)))
      assert.deepEqual(seen, Array.from({ length: 200 }, (_, i) => i))
    }
  })

  it('runs a chain of actors within one macrotask; microtasks run between actor visits, not between one visit\'s messages', async () => {
    const sys = freshSystem()
    const log: string[] = []
    const c = recorder<string>(sys, 'c', log)
    const b = recorder<string>(sys, 'b', log, (m) => { dispatch(c, m) })
    const a = recorder<string>(sys, 'a', log, (m) => {
      if (m === 'm1') queueMicrotask(() => log.push('microtask'))
      dispatch(b, m)
    })
    dispatch(a, 'm1')
    dispatch(a, 'm2')
    const turnAfter = new Promise<void>(resolve => setImmediate(() => { log.push('next immediate'); resolve() }))
    await turnAfter
    assert.deepEqual(log, ['a:m1', 'a:m2', 'microtask', 'b:m1', 'b:m2', 'c:m1', 'c:m2', 'next immediate'])
  })

  it('runs one message at a time per actor while an async handler is pending, in order', async () => {
    const sys = freshSystem()
    let running = 0
    let maxRunning = 0
    const order: number[] = []
    const slow = spawn(sys, async (count: number, msg: number, _ctx: Ctx<number>) => {
      running++
      maxRunning = Math.max(maxRunning, running)
      await new Promise(resolve => setTimeout(resolve, msg % 2 === 0 ? 2 : 0))
      order.push(msg)
      running--
      return count + 1
    }, 'slow', { initialState: 0 })
    for (let i = 0; i < 10; i++) dispatch(slow, i)
    await waitUntil(() => order.length === 10, TIMEOUT_MS, 'order.length === 10')
    assert.equal(maxRunning, 1)
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  it('lets other actors, timers, immediates and socket I/O run while one actor works through 100k messages', async () => {
    const sys = freshSystem()
    const total = 100_000
    let handled = 0
    const hot = spawnStateless(sys, (_msg: number, _ctx: Ctx<number>) => {
      const until = performance.now() + 0.001
      while (performance.now() < until) { /* about 1 µs of work per message */ }
      handled++
    }, 'hot')
    const seenAt: Record<string, number> = {}
    const other = spawnStateless(sys, (_msg: string, _ctx: Ctx<string>) => { seenAt.otherActor = handled }, 'other')

    const server = createServer(socket => { socket.on('data', d => socket.end(d)) })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1')
    await once(client, 'connect')

    for (let i = 0; i < total; i++) dispatch(hot, i)
    dispatch(other, 'hello')
    setTimeout(() => { seenAt.timeout = handled }, 0)
    setImmediate(() => { seenAt.immediate = handled })
    client.write('ping')
    client.once('data', () => { seenAt.socket = handled })

    await waitUntil(() => handled === total, 10_000, 'handled === total')
    client.destroy()
    server.close()
    for (const what of ['otherActor', 'timeout', 'immediate', 'socket']) {
      const at = seenAt[what]
      assert.ok(at !== undefined && at < total, `${what} ran before the hot actor finished (at ${String(at)} of ${total})`)
    }
  })

  it('resumes after a fault with the same state and the messages queued behind the failed one', async () => {
    const sys = freshSystem()
    const seen: string[] = []
    const actor = spawn(sys, (sum: number, msg: number | 'boom', _ctx: Ctx<number | 'boom'>) => {
      seen.push(String(msg))
      if (msg === 'boom') throw new Error('boom')
      return sum + msg
    }, 'faulty', { initialState: 0, onCrash: resumeOnCrash<number | 'boom'>() })
    dispatch(actor, 1)
    dispatch(actor, 'boom')
    dispatch(actor, 2)
    dispatch(actor, 3)
    await waitUntil(() => seen.length === 4, TIMEOUT_MS, 'seen.length === 4')
    assert.deepEqual(seen, ['1', 'boom', '2', '3'])
    const sumOf = spawn(sys, (sum: number, msg: number | Ref<number>, _ctx: Ctx<number | Ref<number>>) => {
      if (typeof msg === 'number') return sum + msg
      dispatch(msg, sum)
      return sum
    }, 'sum', { initialState: 0, onCrash: resumeOnCrash<number | Ref<number>>() })
    dispatch(sumOf, 5)
    assert.equal(await query(sumOf, (replyTo: Ref<number>) => replyTo, TIMEOUT_MS), 5)
  })

  it('resets after a fault to the initial state and goes on with the queued messages', async () => {
    const sys = freshSystem()
    const states: number[] = []
    const actor = spawn(sys, (sum: number, msg: number, _ctx: Ctx<number>) => {
      if (msg < 0) throw new Error('negative')
      states.push(sum + msg)
      return sum + msg
    }, 'resettable', { initialState: 100, onCrash: (_m, _e, ctx) => ctx.reset })
    for (const m of [1, 2, -1, 3]) dispatch(actor, m)
    await waitUntil(() => states.length === 3, TIMEOUT_MS, 'states.length === 3')
    assert.deepEqual(states, [101, 103, 103])
  })

  it('stops on a fault when told to: queued and later messages are dropped, a query rejects', async () => {
    const sys = freshSystem()
    const seen: string[] = []
    // (spawnStateless always resumes after a fault, so a stateful actor.)
    const actor = spawn(sys, (s: number, msg: string, _ctx: Ctx<string>) => {
      seen.push(msg)
      if (msg === 'boom') throw new Error('boom')
      return s
    }, 'stopping', { initialState: 0, onCrash: (_m, _e, ctx) => ctx.stop })
    dispatch(actor, 'a')
    dispatch(actor, 'boom')
    dispatch(actor, 'queued')
    await sleep(10)
    dispatch(actor, 'later')
    await sleep(10)
    assert.deepEqual(seen, ['a', 'boom'])
    await assert.rejects(query(actor, () => 'q', 50))
  })

  it('stop drops queued messages and later dispatches, and afterStop sees the last state and the dropped mailbox', async () => {
    const sys = freshSystem()
    const seen: number[] = []
    let stoppedWith: { state: number, mailbox: number } | undefined
    const actor = spawn(sys, (sum: number, msg: number, ctx: Ctx<number>) => {
      seen.push(msg)
      if (msg === 2) stop(ctx.self)
      return sum + msg
    }, 'stopper', {
      initialState: 0,
      afterStop: (state, ctx) => { stoppedWith = { state, mailbox: ctx.mailbox.length } }
    })
    for (const m of [1, 2, 3, 4]) dispatch(actor, m)
    await waitUntil(() => stoppedWith !== undefined, TIMEOUT_MS, 'stoppedWith !== undefined')
    dispatch(actor, 5)
    await sleep(10)
    assert.deepEqual(seen, [1, 2])
    assert.deepEqual(stoppedWith, { state: 3, mailbox: 2 })
  })

  it('stop from outside while an async handler is pending lets it finish and runs nothing after it', async () => {
    const sys = freshSystem()
    const seen: number[] = []
    let release: (() => void) | undefined
    const actor = spawnStateless(sys, async (msg: number, _ctx: Ctx<number>) => {
      seen.push(msg)
      if (msg === 1) await new Promise<void>(resolve => { release = resolve })
    }, 'pending')
    dispatch(actor, 1)
    dispatch(actor, 2)
    await waitUntil(() => release !== undefined, TIMEOUT_MS, 'release !== undefined')
    stop(actor)
    release?.()
    await sleep(10)
    assert.deepEqual(seen, [1])
  })

  it('answers queries from sync and async handlers, and a query times out when no reply comes', async () => {
    const sys = freshSystem()
    type Ask = { n: number, replyTo: Ref<number> }
    const doubler = spawnStateless(sys, (msg: Ask, _ctx: Ctx<Ask>) => { dispatch(msg.replyTo, msg.n * 2) }, 'doubler')
    const slowDoubler = spawnStateless(sys, async (msg: Ask, _ctx: Ctx<Ask>) => {
      await sleep(1)
      dispatch(msg.replyTo, msg.n * 2)
    }, 'slow-doubler')
    const silent = spawnStateless(sys, (_msg: Ask, _ctx: Ctx<Ask>) => undefined, 'silent')
    assert.equal(await query(doubler, (replyTo: Ref<number>) => ({ n: 21, replyTo }), TIMEOUT_MS), 42)
    assert.equal(await query(slowDoubler, (replyTo: Ref<number>) => ({ n: 4, replyTo }), TIMEOUT_MS), 8)
    await assert.rejects(query(silent, (replyTo: Ref<number>) => ({ n: 1, replyTo }), 20), /Query Timeout/)
  })

  it('shows the current children in ctx.children after spawning and stopping children', async () => {
    const sys = freshSystem()
    type ParentMsg = { op: 'spawn', name: string } | { op: 'stop', name: string } | { op: 'list', replyTo: Ref<string[]> }
    const parent = spawnStateless(sys, (msg: ParentMsg, ctx: Ctx<ParentMsg>) => {
      if (msg.op === 'spawn') {
        spawnStateless(ctx.self, (_m: unknown, _c: ActorContext<unknown, Ref<ParentMsg>>) => undefined, msg.name)
      } else if (msg.op === 'stop') {
        const child = ctx.children.get(msg.name)
        if (child !== undefined) stop(child)
      } else {
        dispatch(msg.replyTo, [...ctx.children.keys()].sort())
        ctx.children.clear() // the handler's own copy: the actor keeps its children
      }
    }, 'parent')
    const list = async (): Promise<string[]> => await query(parent, (replyTo: Ref<string[]>) => ({ op: 'list' as const, replyTo }), TIMEOUT_MS)
    assert.deepEqual(await list(), [])
    dispatch(parent, { op: 'spawn', name: 'x' })
    dispatch(parent, { op: 'spawn', name: 'y' })
    assert.deepEqual(await list(), ['x', 'y'])
    assert.deepEqual(await list(), ['x', 'y'])
    dispatch(parent, { op: 'stop', name: 'x' })
    assert.deepEqual(await list(), ['y'])
  })

  it('stops an idle actor after shutdownAfter, and a message restarts the countdown', async () => {
    const sys = freshSystem()
    let stopped = false
    const seen: number[] = []
    const actor = spawn(sys, (s: number, msg: number, _ctx: Ctx<number>) => { seen.push(msg); return s }, 'idle', {
      initialState: 0, shutdownAfter: 40, afterStop: () => { stopped = true }
    })
    await sleep(25)
    dispatch(actor, 1)
    await sleep(25)
    assert.equal(stopped, false, 'the message restarted the countdown')
    await waitUntil(() => stopped, TIMEOUT_MS, 'stopped')
    dispatch(actor, 2)
    await sleep(5)
    assert.deepEqual(seen, [1])
  })

  /** In a timer callback (a macrotask like a socket read): an immediate, then `work`; the log afterwards. */
  async function inMacrotask (log: string[], work: () => void): Promise<string[]> {
    await new Promise<void>(resolve => {
      setTimeout(() => {
        setImmediate(() => { log.push('next check phase'); resolve() })
        work()
      }, 0)
    })
    await sleep(5)
    return log
  }

  it('runSoon: what an I/O callback dispatched to an idle runtime runs in its microtasks, before the check phase', async () => {
    const sys = freshSystem()
    const log: string[] = []
    const c = recorder<string>(sys, 'c', log)
    const b = recorder<string>(sys, 'b', log, (m) => { dispatch(c, m) })
    const a = recorder<string>(sys, 'a', log, (m) => { dispatch(b, m) })
    assert.deepEqual(await inMacrotask(log, () => { dispatch(a, 'm'); runSoon() }), ['a:m', 'b:m', 'c:m', 'next check phase'])
  })

  it('runSoon: with other actors already waiting (load), the work joins them at the check phase, in order', async () => {
    const sys = freshSystem()
    const log: string[] = []
    const other = recorder<string>(sys, 'other', log)
    const a = recorder<string>(sys, 'a', log)
    assert.deepEqual(await inMacrotask(log, () => { dispatch(other, 'x'); dispatch(a, 'm'); runSoon() }), ['next check phase', 'other:x', 'a:m'])
  })

  it('runSoon: without it, a dispatch from an I/O callback waits for the check phase', async () => {
    const sys = freshSystem()
    const log: string[] = []
    const a = recorder<string>(sys, 'a', log)
    assert.deepEqual(await inMacrotask(log, () => { dispatch(a, 'm') }), ['next check phase', 'a:m'])
  })
})
