/**
 * The actor meters behind `/api/v1/actors` and `meshmq_actor_*` (issue 13), on real nact actors:
 * a busy actor's queued messages are its type's mailbox depth, handled ones are counted when they
 * start, what a stopped actor still held is discarded (the depth back to 0), sends after the stop
 * are not counted, a crash is counted, and each actor system (node) has meters of its own.
 */
import { it } from 'node:test'
import assert from 'node:assert/strict'
import { start, stop, type ActorSystemRef } from 'nact'
import { actorMetersOf, dispatch, query, spawnMetered } from '../actors/actor-meters.js'
import { resumeOnCrash } from '../actors/supervision.js'
import { createLogger } from '../src/core/log.js'
import { pollUntil } from './helpers/wait.js'

type Msg = { type: 'hold', until: Promise<void> } | { type: 'note' } | { type: 'fail' } | { type: 'count', replyTo: import('nact').Ref<number> }

const WAIT_MS = 5000

function spawnCounter (system: ActorSystemRef, name: string): import('nact').Ref<Msg> {
  const log = createLogger({ level: 'silent', format: 'json', node: 'meters@127.0.0.1' })
  return spawnMetered('counter', system, async (handled: number, msg: Msg) => {
    if (msg.type === 'hold') await msg.until
    if (msg.type === 'fail') throw new Error('boom')
    if (msg.type === 'count') dispatch(msg.replyTo, handled + 1)
    return handled + 1
  }, name, { initialState: 0, onCrash: resumeOnCrash<Msg>(log) })
}

it('counts mailbox depth, messages handled, discards at stop and crashes, per actor system', async () => {
  const system = start()
  const other = start()
  try {
    const meter = actorMetersOf(system).of('counter')
    const actor = spawnCounter(system, 'a')
    spawnCounter(other, 'b')
    assert.equal(meter.running, 1)
    assert.equal(actorMetersOf(other).of('counter').running, 1, 'another system counts its own')

    let release = (): void => {}
    dispatch(actor, { type: 'hold', until: new Promise<void>(resolve => { release = resolve }) })
    for (let i = 0; i < 4; i++) dispatch(actor, { type: 'note' })
    await pollUntil(() => meter.handled, handled => handled === 1, WAIT_MS, 'the hold message to start')
    assert.equal(meter.mailboxDepth, 4, 'four notes wait behind the held message')
    release()
    await pollUntil(() => meter.mailboxDepth, depth => depth === 0, WAIT_MS, 'the mailbox to drain')
    assert.equal(meter.handled, 5)

    dispatch(actor, { type: 'fail' })
    assert.equal(await query(actor, (replyTo: import('nact').Ref<number>) => ({ type: 'count', replyTo }), WAIT_MS), 6, 'resumed after the crash')
    assert.equal(meter.crashes, 1)
    assert.equal(meter.handled, 7)

    let releaseAgain = (): void => {}
    dispatch(actor, { type: 'hold', until: new Promise<void>(resolve => { releaseAgain = resolve }) })
    for (let i = 0; i < 3; i++) dispatch(actor, { type: 'note' })
    await pollUntil(() => meter.handled, handled => handled === 8, WAIT_MS, 'the second hold to start')
    stop(actor)
    dispatch(actor, { type: 'note' })
    await pollUntil(() => meter.running, running => running === 0, WAIT_MS, 'the stop to be settled')
    dispatch(actor, { type: 'note' })
    releaseAgain()
    // 12 sent: 5, a failure, a query, a hold, 3 notes, 1 while stopping; the one after the stop settled is not counted.
    // 4 discarded: the three queued notes and the one sent while stopping.
    assert.deepEqual({ sent: meter.sent, handled: meter.handled, discarded: meter.discarded, depth: meter.mailboxDepth }, { sent: 12, handled: 8, discarded: 4, depth: 0 })
  } finally {
    stop(system)
    stop(other)
  }
})
