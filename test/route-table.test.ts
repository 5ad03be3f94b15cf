/**
 * Remote routes through the route table and the trie shards: the route table passes each event to
 * the shards concerned and keeps no copy, the shards index the routes for matching, and a dump
 * merges this node's routes with the shards' remote ones.
 */
import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { start, stop, dispatch, query, spawnStateless, type ActorSystemRef, type Ref, type StatelessActorFunc } from 'nact'
import { createLogger } from '../src/core/log.js'
import type { Message } from '../src/core/mqtt/message.js'
import { shardForTopic } from '../src/core/routing/shard-index.js'
import { droppedByReason } from '../src/core/metrics.js'
import type { RetainerMsg, RouteDump, RouteTableMsg, SessionMsg, ShardMsg, ShardStats } from '../actors/messages.js'
import { spawnRouteTable } from '../actors/route-table.js'
import { spawnTrieShard } from '../actors/trie-shard.js'
import { waitUntil } from './helpers/wait.js'

const NODE = 'n1@127.0.0.1'
const SHARDS = 4
const TIMEOUT_MS = 2000

interface Routing {
  system: ActorSystemRef
  routeTable: Ref<RouteTableMsg>
  shards: Array<Ref<ShardMsg>>
  /** Node → topics forwarded to it, in order. */
  forwarded: Map<string, string[]>
  /** Every message forwarded, with the node it went to. */
  sent: Array<{ node: string, message: Message }>
  /** This node's route changes as replicated: '+filter' or '-filter'. */
  replicated: string[]
}

/** Log lines written by the routing actors, parsed; with `logLines`, warnings and above are kept. */
function startRouting (logLines?: Array<Record<string, unknown>>): Routing {
  const system = start()
  const destination = new Writable({
    write (chunk: Buffer, _encoding, done) {
      logLines?.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
      done()
    }
  })
  const log = createLogger({ level: logLines === undefined ? 'silent' : 'warn', format: 'json', node: NODE, destination })
  const forwarded = new Map<string, string[]>()
  const sent: Routing['sent'] = []
  const replicated: string[] = []
  const shards: Array<Ref<ShardMsg>> = []
  const routeTable = spawnRouteTable(system, {
    node: NODE,
    log,
    shards,
    replicator: { addLocalRoute: filter => replicated.push(`+${filter}`), removeLocalRoute: filter => replicated.push(`-${filter}`) }
  })
  const forwarder = {
    isUp: () => true,
    forward: (node: string, messages: Message[]) => {
      const topics = forwarded.get(node) ?? []
      forwarded.set(node, [...topics, ...messages.map(m => m.topic)])
      for (const message of messages) sent.push({ node, message })
    }
  }
  for (let index = 0; index < SHARDS; index++) shards.push(spawnTrieShard(system, { index, node: 'local@host', log, routeTable, forwarder, sharedStrategy: 'round_robin' }))
  return { system, routeTable, shards, forwarded, sent, replicated }
}

async function shardStats (routing: Routing): Promise<ShardStats[]> {
  return await Promise.all(routing.shards.map(async shard =>
    await query(shard, (replyTo: Ref<ShardStats>) => ({ type: 'stats', replyTo }), TIMEOUT_MS)))
}

/** Subscribes a session stand-in in the given shards and waits until they reported the local route. */
async function subscribeLocally (routing: Routing, filter: string, shards: Array<Ref<ShardMsg>>): Promise<void> {
  const subscriber = { clientId: 'c1', session: sessionRef(routing.system), options: { qos: 1 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const } }
  for (const shard of shards) dispatch(shard, { type: 'subscriptions', changes: [{ op: 'subscribe', filter, subscriber }] })
  await shardStats(routing)
}

async function dump (routing: Routing): Promise<RouteDump> {
  return await query(routing.routeTable, (replyTo: Ref<RouteDump>) => ({ type: 'dump', replyTo }), TIMEOUT_MS)
}

/** Publishes `topic` on this node once the route events sent so far are applied; returns the nodes it was forwarded to. */
async function forwardedTo (routing: Routing, topic: string): Promise<string[]> {
  await dump(routing)
  routing.forwarded.clear()
  const shard = routing.shards[shardForTopic(topic, SHARDS)]!
  const message: Message = { topic, payload: Buffer.from('x'), qos: 1, retain: false, publisher: 'c1', origin: NODE }
  dispatch(shard, { type: 'publish', messages: [message] })
  await query(shard, (replyTo: Ref<ShardStats>) => ({ type: 'stats', replyTo }), TIMEOUT_MS)
  return [...routing.forwarded.keys()].sort()
}

describe('remote routes: the route table forwards, the shards index', () => {
  let routing: Routing
  beforeEach(() => { routing = startRouting() })
  afterEach(() => { stop(routing.system) })

  it('a snapshot, a delta and a second snapshot leave exactly the newest set, matched and dumped', async () => {
    dispatch(routing.routeTable, { type: 'remote_routes_replaced', node: 'n2', filters: ['a/1', '+/x', 'b/#', 'c'] })
    assert.deepEqual(await dump(routing), [
      { filter: '+/x', nodes: ['n2'] },
      { filter: 'a/1', nodes: ['n2'] },
      { filter: 'b/#', nodes: ['n2'] },
      { filter: 'c', nodes: ['n2'] }
    ], 'a first-level wildcard is held by every shard but listed once')
    assert.deepEqual(await forwardedTo(routing, 'q/x'), ['n2'])

    dispatch(routing.routeTable, { type: 'remote_routes_changed', node: 'n2', added: ['d/+'], removed: ['a/1'] })
    assert.deepEqual((await dump(routing)).map(r => r.filter), ['+/x', 'b/#', 'c', 'd/+'])
    assert.deepEqual(await forwardedTo(routing, 'a/1'), [])
    assert.deepEqual(await forwardedTo(routing, 'd/7'), ['n2'])

    dispatch(routing.routeTable, { type: 'remote_routes_replaced', node: 'n2', filters: ['c', 'e'] })
    assert.deepEqual(await dump(routing), [{ filter: 'c', nodes: ['n2'] }, { filter: 'e', nodes: ['n2'] }])
    for (const topic of ['q/x', 'b/1', 'd/7']) assert.deepEqual(await forwardedTo(routing, topic), [], `'${topic}' no longer routed`)
    assert.deepEqual(await forwardedTo(routing, 'e'), ['n2'])
  })

  it('routes of several nodes and local subscribers of one filter are one dump row', async () => {
    await subscribeLocally(routing, '+/x', routing.shards)
    dispatch(routing.routeTable, { type: 'remote_routes_replaced', node: 'n3', filters: ['+/x'] })
    dispatch(routing.routeTable, { type: 'remote_routes_changed', node: 'n2', added: ['+/x', 'k'], removed: [] })
    assert.deepEqual(await dump(routing), [
      { filter: '+/x', nodes: [NODE, 'n2', 'n3'] },
      { filter: 'k', nodes: ['n2'] }
    ])
    assert.deepEqual(routing.replicated, ['+' + '+/x'], 'the local route is replicated once, not once per shard')
    assert.deepEqual(await forwardedTo(routing, 'y/x'), ['n2', 'n3'])
  })

  it('a removed node loses its routes; the other nodes keep theirs', async () => {
    dispatch(routing.routeTable, { type: 'remote_routes_replaced', node: 'n2', filters: ['a', '#'] })
    dispatch(routing.routeTable, { type: 'remote_routes_replaced', node: 'n3', filters: ['a'] })
    dispatch(routing.routeTable, { type: 'remote_node_removed', node: 'n2' })
    assert.deepEqual(await dump(routing), [{ filter: 'a', nodes: ['n3'] }])
    assert.deepEqual(await forwardedTo(routing, 'a'), ['n3'])
    assert.deepEqual(await forwardedTo(routing, 'z'), [])
  })

  it('a routing report (MQTT 5 PUBACK 0x10): a message forwarded to a node with a route or delivered here matched, one with no destination did not', async () => {
    dispatch(routing.routeTable, { type: 'remote_routes_replaced', node: 'n2', filters: ['remote/#'] })
    await dump(routing)
    await subscribeLocally(routing, 'local/x', [routing.shards[shardForTopic('local/x', SHARDS)]!])
    const report = async (topic: string): Promise<boolean[]> => {
      const message: Message = { topic, payload: Buffer.from('x'), qos: 1, retain: false, publisher: 'c9', origin: NODE }
      const reply = await query(routing.shards[shardForTopic(topic, SHARDS)]!,
        (session: Ref<SessionMsg>) => ({ type: 'publish', messages: [message, message], report: { session, tokens: [5, 0] } }), TIMEOUT_MS)
      assert.ok(reply.type === 'routed')
      assert.deepEqual(reply.tokens, [5, 0])
      return reply.matched
    }
    assert.deepEqual(await report('remote/a'), [true, true], 'forwarded to n2')
    assert.deepEqual(routing.forwarded.get('n2'), ['remote/a', 'remote/a'])
    assert.deepEqual(await report('local/x'), [true, true], 'delivered to a local subscriber')
    assert.deepEqual(await report('nowhere/y'), [false, false], 'no destination')
  })

  it('clearing forgets every remote route and keeps the local ones', async () => {
    await subscribeLocally(routing, 'a', [routing.shards[shardForTopic('a', SHARDS)]!])
    dispatch(routing.routeTable, { type: 'remote_routes_replaced', node: 'n2', filters: ['a', '#', 'b/+'] })
    dispatch(routing.routeTable, { type: 'remote_routes_changed', node: 'n3', added: ['c'], removed: [] })
    dispatch(routing.routeTable, { type: 'remote_nodes_cleared' })
    assert.deepEqual(await dump(routing), [{ filter: 'a', nodes: [NODE] }])
    assert.deepEqual(await forwardedTo(routing, 'a'), [])
    const stats = await shardStats(routing)
    assert.equal(stats.reduce((sum, s) => sum + s.filters, 0), 1, 'the remote-only filters were pruned from the tries')
  })
})

describe('shared subscription routes $share/<group>/<filter> (MQTT 5 §4.8.2)', () => {
  let routing: Routing
  beforeEach(() => { routing = startRouting() })
  afterEach(() => { stop(routing.system) })

  /** Publishes `topic` once; returns where it went: node → the (group, filter) pairs it was annotated with. */
  async function publishOnce (topic: string): Promise<Record<string, string[]>> {
    await forwardedTo(routing, topic)
    const where: Record<string, string[]> = {}
    for (const { node, message } of routing.sent.splice(0)) {
      assert.equal(where[node], undefined, `${topic} forwarded to ${node} once`)
      where[node] = (message.shared?.targets ?? []).map(target => `${target.group} ${target.filter}`).sort()
    }
    return where
  }

  it('a remote group route is held with its filter, dumped, and gets one message in turn; a node chosen for several groups gets one copy listing them', async () => {
    dispatch(routing.routeTable, { type: 'remote_routes_replaced', node: 'n2', filters: ['$share/g/a/#', 'a/1'] })
    dispatch(routing.routeTable, { type: 'remote_routes_changed', node: 'n3', added: ['$share/g/a/#', '$share/h/+/1'], removed: [] })
    assert.deepEqual(await dump(routing), [
      { filter: '$share/g/a/#', nodes: ['n2', 'n3'] },
      { filter: '$share/h/+/1', nodes: ['n3'] },
      { filter: 'a/1', nodes: ['n2'] }
    ])
    // Round robin over [n2, n3] for g; h only on n3; n2's plain route a/1 gets the message unannotated unless picked.
    assert.deepEqual(await publishOnce('a/1'), { n2: ['g a/#'], n3: ['h +/1'] })
    assert.deepEqual(await publishOnce('a/1'), { n2: [], n3: ['g a/#', 'h +/1'] })
    assert.deepEqual(await publishOnce('a/2'), { n2: ['g a/#'] })
    assert.deepEqual(await publishOnce('b/1'), { n3: ['h +/1'] })
  })

  it('removing a group route, a snapshot without it and a removed node all take the node out of the group', async () => {
    dispatch(routing.routeTable, { type: 'remote_routes_replaced', node: 'n2', filters: ['$share/g/a'] })
    dispatch(routing.routeTable, { type: 'remote_routes_replaced', node: 'n3', filters: ['$share/g/a', '$share/k/a'] })
    dispatch(routing.routeTable, { type: 'remote_routes_changed', node: 'n3', added: [], removed: ['$share/g/a'] })
    for (let i = 0; i < 3; i++) assert.deepEqual(await publishOnce('a'), { n2: ['g a'], n3: ['k a'] })
    dispatch(routing.routeTable, { type: 'remote_routes_replaced', node: 'n3', filters: [] })
    assert.deepEqual(await publishOnce('a'), { n2: ['g a'] })
    dispatch(routing.routeTable, { type: 'remote_node_removed', node: 'n2' })
    assert.deepEqual(await publishOnce('a'), {})
    assert.deepEqual(await dump(routing), [])
  })

  it('a copy forwarded here for a group with no member left goes on to another node of the group, once; a second time it is dropped and counted', async () => {
    dispatch(routing.routeTable, { type: 'remote_routes_replaced', node: 'n3', filters: ['$share/g/q/+'] })
    await dump(routing)
    const shard = routing.shards[shardForTopic('q/1', SHARDS)]!
    const copy = (redispatched: boolean): Message => ({
      topic: 'q/1', payload: Buffer.from('x'), qos: 1, retain: false, publisher: 'c1', origin: 'n2', shared: { targets: [{ group: 'g', filter: 'q/+' }], redispatched }
    })
    const before = droppedByReason.get('no_shared_member') ?? 0
    dispatch(shard, { type: 'publish', messages: [copy(false), copy(true)], fromPeer: true })
    await shardStats(routing)
    assert.deepEqual(routing.sent.map(({ node, message }) => [node, message.shared]), [['n3', { targets: [{ group: 'g', filter: 'q/+' }], redispatched: true }]])
    assert.equal((droppedByReason.get('no_shared_member') ?? 0) - before, 1)
  })

  it('a departed member\'s unacknowledged messages go to another member; with none left, to itself only if its session stays', async () => {
    const delivered: string[] = []
    const recorder = (name: string): Ref<SessionMsg> => spawnStateless(routing.system, (msg: SessionMsg) => {
      if (msg.type === 'deliver') for (const d of msg.deliveries) delivered.push(`${name} ${d.message.payload.toString()} ${d.shared?.group ?? ''}`)
    })
    const options = { qos: 1 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const }
    const shard = routing.shards[shardForTopic('w/1', SHARDS)]!
    dispatch(shard, { type: 'subscriptions', changes: [
      { op: 'subscribe', filter: 'w/1', group: 'g', subscriber: { clientId: 'a', session: recorder('a'), options } },
      { op: 'subscribe', filter: 'w/1', group: 'g', subscriber: { clientId: 'b', session: recorder('b'), options } },
      { op: 'subscribe', filter: 'w/1', group: 'solo', subscriber: { clientId: 'a', session: recorder('a'), options } }
    ] })
    const item = (payload: string, group: string): { message: Message, target: { group: string, filter: string } } =>
      ({ message: { topic: 'w/1', payload: Buffer.from(payload), qos: 1, retain: false, publisher: 'p', origin: NODE }, target: { group, filter: 'w/1' } })
    const before = droppedByReason.get('no_shared_member') ?? 0
    dispatch(shard, { type: 'redispatch', items: [item('1', 'g'), item('2', 'solo')], departed: 'a', persists: false })
    dispatch(shard, { type: 'redispatch', items: [item('3', 'solo')], departed: 'a', persists: true })
    await shardStats(routing)
    await waitUntil(() => delivered.length === 2, TIMEOUT_MS, 'two deliveries')
    assert.deepEqual(delivered.sort(), ['a 3 solo', 'b 1 g'])
    assert.equal((droppedByReason.get('no_shared_member') ?? 0) - before, 1)
  })

  it('this node announces $share/<group>/<filter> while it has members of the group, apart from the plain route', async () => {
    const member = (clientId: string): { clientId: string, session: Ref<SessionMsg>, options: { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 } } =>
      ({ clientId, session: sessionRef(routing.system), options: { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 } })
    const shard = routing.shards[shardForTopic('s/1', SHARDS)]!
    dispatch(shard, { type: 'subscriptions', changes: [
      { op: 'subscribe', filter: 's/1', group: 'g', subscriber: member('c1') },
      { op: 'subscribe', filter: 's/1', group: 'g', subscriber: member('c2') },
      { op: 'subscribe', filter: 's/1', subscriber: member('c3') },
      { op: 'unsubscribe', filter: 's/1', group: 'g', clientId: 'c1' },
      { op: 'unsubscribe', filter: 's/1', group: 'g', clientId: 'c2' }
    ] })
    await shardStats(routing)
    await dump(routing)
    assert.deepEqual(routing.replicated, ['+$share/g/s/1', '+s/1', '-$share/g/s/1'])
  })
})

describe('invalid routes from a peer', () => {
  let routing: Routing
  let lines: Array<Record<string, unknown>>
  beforeEach(() => {
    lines = []
    routing = startRouting(lines)
  })
  afterEach(() => { stop(routing.system) })

  const invalid = ['bad/#/x', 'a+b', '', 'nul\u0000', '$share//x', '$share/g', '$share/g+/x', '$share/g/x/#/y']

  it('[MQTT-4.7.1-2] [MQTT-4.7.1-3] invalid filters in a route delta are dropped alone, in one log line with their exact count; the rest of the batch is applied', async () => {
    dispatch(routing.routeTable, { type: 'remote_routes_changed', node: 'n2', added: ['good/1', ...invalid, 'good/2', '+/ok'], removed: [] })
    assert.deepEqual((await dump(routing)).map(r => r.filter), ['+/ok', 'good/1', 'good/2'])
    for (const topic of ['good/1', 'good/2', 'x/ok']) assert.deepEqual(await forwardedTo(routing, topic), ['n2'], `'${topic}' is routed to n2`)
    const dropped = lines.filter(line => line.msg === 'invalid_route_dropped')
    assert.deepEqual(dropped.map(line => [line.node, line.count]), [['n2', invalid.length]])
  })

  it('invalid filters in a route snapshot are dropped alone; the rest of the snapshot is applied', async () => {
    dispatch(routing.routeTable, { type: 'remote_routes_replaced', node: 'n3', filters: [...invalid, 's/1', '#'] })
    assert.deepEqual(await dump(routing), [{ filter: '#', nodes: ['n3'] }, { filter: 's/1', nodes: ['n3'] }])
    assert.deepEqual(await forwardedTo(routing, 'anything'), ['n3'])
    assert.deepEqual(lines.filter(line => line.msg === 'invalid_route_dropped').map(line => line.count), [invalid.length])
  })

  it('a shard handed an invalid filter directly drops it alone and applies the filters after it', async () => {
    const shard = routing.shards[shardForTopic('ok', SHARDS)]!
    dispatch(shard, { type: 'remote_routes_changed', node: 'n4', added: ['ok/1', 'ok/#/bad', 'ok/2'], removed: [] })
    assert.deepEqual(await forwardedTo(routing, 'ok/2'), ['n4'])
    assert.deepEqual(await forwardedTo(routing, 'ok/1'), ['n4'])
    assert.deepEqual(lines.filter(line => line.msg === 'invalid_route_dropped').map(line => [line.node, line.count, line.shard]),
      [['n4', 1, shardForTopic('ok', SHARDS)]])
  })
})

/** A session stand-in: accepts session messages and ignores them. */
function sessionRef (system: ActorSystemRef): Ref<SessionMsg> {
  const ignore: StatelessActorFunc<SessionMsg, ActorSystemRef> = () => undefined
  return spawnStateless(system, ignore)
}

/**
 * Never called: each `@ts-expect-error` fails the type-check if typed refs (actors/nact-types.ts)
 * stop rejecting what it names.
 */
export function typedRefChecks (shard: Ref<ShardMsg>, session: Ref<SessionMsg>, retainer: Ref<RetainerMsg>): void {
  // @ts-expect-error a shard does not take a session's messages
  dispatch(shard, { type: 'deliver', deliveries: [] })
  // @ts-expect-error a session ref is not a shard ref
  const asShard: Ref<ShardMsg> = session
  // @ts-expect-error a shard ref is not where the retainer sends deliveries
  dispatch(retainer, { type: 'send_retained', requests: [{ filter: 'a', options: { qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 } }], session: shard })
  dispatch(asShard, { type: 'remote_node_removed', node: 'n2' })
}
