/**
 * The ACL file parser and the decisions over it (pure): mosquitto's acl_file format and its
 * default ACL check (deny first, own topic rules then patterns, `$` topics, %u/%c, sub-matches-acl
 * for SUBSCRIBE), the `%{claim}` extension, `$SYS` read-only, the per-client cache and reloads.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { AclFileError, parseAclFile } from '../src/core/auth/acl-file.js'
import { AclAuthorization, SYS_READ_ONLY, filterCovers, readsEverything, withoutAclFile } from '../src/core/auth/acl.js'
import type { ClientAuthorizer, ClientIdentity } from '../src/core/auth/identity.js'

const SETTINGS = { allowSysPublish: false, cacheSize: 16, cacheBytes: 65_536 }

function authorizer (text: string, identity: ClientIdentity, settings = SETTINGS): ClientAuthorizer & { cached?: { topics: number, bytes: number } } {
  return new AclAuthorization(parseAclFile(text), settings).forClient(identity)
}

describe('parseAclFile', () => {
  it('reads comments, blank lines, anonymous topics, users and patterns (access word optional: readwrite)', () => {
    const file = parseAclFile([
      '# comment',
      '',
      'topic read public/#',
      '  # indented comment',
      'topic anon/rw',
      'user alice',
      'topic readwrite alice/#',
      'topic deny alice/secret',
      'pattern write devices/%c/state',
      'user bob smith',
      'topic write   with space/level',
      'pattern read tenants/%{tenant}/%u/#',
      'user alice',
      'topic read more/alice\r',
      ''
    ].join('\n'))
    assert.deepEqual(file.anonymous, [
      { access: 'read', filter: 'public/#', line: 3 },
      { access: 'readwrite', filter: 'anon/rw', line: 5 }
    ])
    assert.deepEqual(file.users.get('alice'), [
      { access: 'readwrite', filter: 'alice/#', line: 7 },
      { access: 'deny', filter: 'alice/secret', line: 8 },
      { access: 'read', filter: 'more/alice', line: 14 }
    ])
    assert.deepEqual(file.users.get('bob smith'), [{ access: 'write', filter: 'with space/level', line: 11 }])
    assert.deepEqual(file.patterns.map(p => p.parts), [
      [{ literal: 'devices/' }, { variable: 'clientId' }, { literal: '/state' }],
      [{ literal: 'tenants/' }, { claim: 'tenant' }, { literal: '/' }, { variable: 'username' }, { literal: '/#' }]
    ])
  })

  const bad: Array<[string, string, number, RegExp]> = [
    ['unknown keyword', 'topic a\ntopics b', 2, /unknown keyword 'topics'/],
    ['unknown access word', 'topic readonly a/b', 1, /unknown access 'readonly'/],
    ['topic without filter', '\ntopic', 2, /without a topic filter/],
    ['user without name', 'user', 1, /without a username/],
    ['invalid filter [MQTT-4.7.1-2]', 'topic read a/#/b', 1, /invalid topic filter 'a\/#\/b'/],
    ['unterminated claim', 'pattern read a/%{tenant', 1, /unterminated/],
    ['empty claim', 'pattern read a/%{}/b', 1, /empty claim/]
  ]
  for (const [name, text, line, message] of bad) {
    it(`refuses ${name}, naming the line`, () => {
      assert.throws(() => parseAclFile(text), (err: unknown) => {
        assert.ok(err instanceof AclFileError)
        assert.equal(err.line, line)
        assert.match(err.message, new RegExp(`line ${line}: `))
        assert.match(err.message, message)
        return true
      })
    })
  }

  it('keeps an unknown %-sequence literal (as mosquitto does)', () => {
    assert.deepEqual(parseAclFile('pattern read a/%d').patterns[0]!.parts, [{ literal: 'a/%d' }])
  })
})

describe('ACL decisions', () => {
  const FILE = [
    'topic read public/#',
    'topic readwrite anon/#',
    'user alice',
    'topic readwrite alice/#',
    'topic deny alice/secret/#',
    'topic read shared/+/status',
    'topic write sensors/alice',
    'user reader',
    'topic read #',
    'topic read $SYS/#',
    'pattern readwrite devices/%c/#',
    'pattern read users/%u/inbox',
    'pattern deny devices/%c/locked'
  ].join('\n')

  it('anonymous clients get the topic rules before any user line, and no %u pattern', () => {
    const anon = authorizer(FILE, { clientId: 'anon1' })
    assert.equal(anon.allows('read', 'public/news'), true)
    assert.equal(anon.allows('publish', 'public/news'), false)
    assert.equal(anon.allows('publish', 'anon/x'), true)
    assert.equal(anon.allows('read', 'alice/x'), false)
    assert.equal(anon.allows('publish', 'devices/anon1/temp'), true)
    assert.equal(anon.allows('read', 'users/anon1/inbox'), false)
  })

  it('a user gets its own topic rules, not the anonymous ones, and the patterns', () => {
    const alice = authorizer(FILE, { clientId: 'a-1', username: 'alice' })
    assert.equal(alice.allows('publish', 'alice/x'), true)
    assert.equal(alice.allows('read', 'alice/x'), true)
    assert.equal(alice.allows('read', 'public/news'), false)
    assert.equal(alice.allows('read', 'users/alice/inbox'), true)
    assert.equal(alice.allows('publish', 'users/alice/inbox'), false)
    assert.equal(alice.allows('publish', 'devices/a-1/t'), true)
    assert.equal(alice.allows('publish', 'devices/b-2/t'), false)
  })

  it('read grants subscribe and receive, not publish; write grants publish only', () => {
    const alice = authorizer(FILE, { clientId: 'a-1', username: 'alice' })
    assert.equal(alice.allows('read', 'shared/x/status'), true)
    assert.equal(alice.allows('subscribe', 'shared/x/status'), true)
    assert.equal(alice.allows('publish', 'shared/x/status'), false)
    assert.equal(alice.allows('publish', 'sensors/alice'), true)
    assert.equal(alice.allows('read', 'sensors/alice'), false)
    assert.equal(alice.allows('subscribe', 'sensors/alice'), false)
  })

  it('a deny rule wins over a broader allow, in topic rules and in patterns', () => {
    const alice = authorizer(FILE, { clientId: 'a-1', username: 'alice' })
    assert.equal(alice.allows('read', 'alice/secret/x'), false)
    assert.equal(alice.allows('publish', 'alice/secret'), false)
    assert.equal(alice.allows('publish', 'devices/a-1/locked'), false)
    assert.equal(alice.allows('publish', 'devices/a-1/open'), true)
  })

  it('no matching grant is a refusal; a user not in the file gets only the patterns', () => {
    const carol = authorizer(FILE, { clientId: 'c', username: 'carol' })
    assert.equal(carol.allows('read', 'public/news'), false)
    assert.equal(carol.allows('read', 'users/carol/inbox'), true)
    assert.equal(carol.allows('publish', 'anything'), false)
  })

  it('[MQTT-4.7.2-1] a rule not starting with $ does not apply to $ topics: # does not give $SYS', () => {
    const reader = authorizer(FILE, { clientId: 'r', username: 'reader' })
    assert.equal(reader.allows('read', 'a/b'), true)
    assert.equal(reader.allows('read', '$SYS/brokers/x/uptime'), true)
    assert.equal(reader.allows('read', '$other/x'), false)
    const alice = authorizer('user alice\ntopic read #', { clientId: 'a', username: 'alice' })
    assert.equal(alice.allows('read', '$SYS/brokers/x/uptime'), false)
    assert.equal(alice.allows('subscribe', '$SYS/#'), false)
  })

  it('SUBSCRIBE needs a rule covering the whole filter (a/# by a/#, not by a/b)', () => {
    const rules = authorizer('user u\ntopic read a/#\ntopic read b/c\ntopic read d/+/e', { clientId: 'x', username: 'u' })
    assert.equal(rules.allows('subscribe', 'a/#'), true)
    assert.equal(rules.allows('subscribe', 'a/+/z'), true)
    assert.equal(rules.allows('subscribe', 'a'), true)
    assert.equal(rules.allows('subscribe', 'b/c'), true)
    assert.equal(rules.allows('subscribe', 'b/#'), false)
    assert.equal(rules.allows('subscribe', 'b/+'), false)
    assert.equal(rules.allows('subscribe', '#'), false)
    assert.equal(rules.allows('subscribe', 'd/+/e'), true)
    assert.equal(rules.allows('subscribe', 'd/x/e'), true)
    assert.equal(rules.allows('subscribe', 'd/#'), false)
  })

  it('filterCovers (mosquitto_sub_matches_acl)', () => {
    const cases: Array<[string, string, boolean]> = [
      ['#', '#', true], ['#', 'a/+/b', true], ['#', '$SYS/#', false], ['$SYS/#', '$SYS/a', true],
      ['a/+', 'a/b', true], ['a/+', 'a/+', true], ['a/+', 'a/#', false], ['a/+', 'a', false],
      ['a/b', 'a/+', false], ['a/#', 'a', true], ['+/b', 'x/b', true], ['a/b/c', 'a/b', false]
    ]
    for (const [rule, sub, expected] of cases) assert.equal(filterCovers(rule, sub), expected, `${rule} covers ${sub}`)
  })

  it('a client id or username holding + or # gets no pattern (it could widen its own rules)', () => {
    const wild = authorizer(FILE, { clientId: '#', username: 'alice' })
    assert.equal(wild.allows('publish', 'devices/x/y'), false)
    assert.equal(wild.allows('publish', 'alice/x'), true)
  })

  it('%{claim} is a JWT claim of the identity; a pattern with a missing claim applies to nothing', () => {
    const text = 'pattern readwrite tenants/%{tenant}/#'
    assert.equal(authorizer(text, { clientId: 'c', claims: { tenant: 'acme' } }).allows('publish', 'tenants/acme/x'), true)
    assert.equal(authorizer(text, { clientId: 'c', claims: { tenant: 'acme' } }).allows('publish', 'tenants/other/x'), false)
    assert.equal(authorizer(text, { clientId: 'c' }).allows('publish', 'tenants//x'), false)
    assert.equal(authorizer(text, { clientId: 'c', claims: { tenant: '+' } }).allows('publish', 'tenants/x/y'), false)
  })

  it('$SYS is read-only for clients unless allowSysPublish, with an ACL file', () => {
    const text = 'topic readwrite $SYS/#'
    assert.equal(authorizer(text, { clientId: 'c' }).allows('publish', '$SYS/brokers/x/version'), false)
    assert.equal(authorizer(text, { clientId: 'c' }).allows('read', '$SYS/brokers/x/version'), true)
    assert.equal(authorizer(text, { clientId: 'c' }, { allowSysPublish: true, cacheSize: 4, cacheBytes: 65_536 }).allows('publish', '$SYS/brokers/x/version'), true)
  })

  it('$SYS is read-only for clients without an ACL file; everything else is allowed', () => {
    const client = withoutAclFile(false).forClient({ clientId: 'c' })
    assert.equal(client, SYS_READ_ONLY)
    assert.equal(readsEverything(client), true)
    assert.equal(client.allows('publish', '$SYS/x'), false)
    assert.equal(client.allows('publish', '$SYS'), false)
    assert.equal(client.allows('publish', '$SYSTEM/x'), true)
    assert.equal(client.allows('read', '$SYS/x'), true)
    assert.equal(client.allows('subscribe', '#'), true)
    assert.equal(withoutAclFile(true).forClient({ clientId: 'c' }).allows('publish', '$SYS/x'), true)
  })

  it('a reload applies to authorizers already handed out (their cache is dropped)', () => {
    const acl = new AclAuthorization(parseAclFile('topic read a/#'), SETTINGS)
    const client = acl.forClient({ clientId: 'c' })
    assert.equal(client.allows('read', 'a/b'), true)
    assert.equal(readsEverything(client), false)
    acl.replace(parseAclFile('topic read b/#'))
    assert.equal(client.allows('read', 'a/b'), false)
    assert.equal(client.allows('read', 'b/c'), true)
  })

  it('the cache is bounded in bytes of topic text too: the oldest go first, a topic above the bound is decided each time, decisions stay right', () => {
    const client = authorizer('topic read long/#', { clientId: 'c' }, { allowSysPublish: false, cacheSize: 1_000, cacheBytes: 200 })
    for (let i = 0; i < 50; i++) {
      const topic = `long/${String(i).padStart(40, '0')}`
      assert.equal(client.allows('read', topic), true)
      assert.ok(client.cached!.bytes <= 200, `cached ${client.cached!.bytes} bytes`)
    }
    assert.equal(client.cached!.topics, 2, 'two topics of 90 bytes fit in 200')
    const huge = `long/${'x'.repeat(200)}`
    assert.equal(client.allows('read', huge), true)
    assert.equal(client.allows('publish', huge), false)
    assert.equal(client.cached!.topics, 2, 'a topic above the byte bound is not cached')
  })

  it('decisions stay right past the cache bound (oldest evicted) and with no cache', () => {
    for (const cacheSize of [0, 2]) {
      const client = authorizer('topic read even/#\ntopic write odd/#', { clientId: 'c' }, { allowSysPublish: false, cacheSize, cacheBytes: 65_536 })
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 10; i++) {
          const topic = `${i % 2 === 0 ? 'even' : 'odd'}/${i}`
          assert.equal(client.allows('read', topic), i % 2 === 0, `read ${topic} cache ${cacheSize}`)
          assert.equal(client.allows('publish', topic), i % 2 === 1, `publish ${topic} cache ${cacheSize}`)
        }
      }
    }
  })
})
