import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  MAX_TOPIC_BYTES,
  InvalidSharedFilterError,
  firstLevel,
  isValidTopicFilter,
  isValidTopicName,
  isWellFormedUtf8,
  parseSharedFilter,
  startsWithWildcard,
  topicMatches
} from '../src/core/mqtt/topic.js'

describe('isValidTopicName', () => {
  const cases: Array<[string, string, boolean]> = [
    ['plain topic', 'sport/tennis/player1', true],
    ['single level', 'a', true],
    ['leading slash (empty first level) [MQTT-4.7.1-1]', '/finance', true],
    ['only a slash', '/', true],
    ['empty levels', 'a//b/', true],
    ['$SYS topic', '$SYS/broker/uptime', true],
    ['spaces and unicode', 'h\u00e9llo w\u00f6rld/\u{1F600}', true],
    ['empty [MQTT-4.7.3-1]', '', false],
    ['contains + [MQTT-3.3.2-2]', 'a/+/b', false],
    ['contains # [MQTT-3.3.2-2]', 'a/#', false],
    ['+ inside a level [MQTT-3.3.2-2]', 'a+b', false],
    ['contains U+0000 [MQTT-4.7.3-2]', 'a\u0000b', false],
    ['lone high surrogate [MQTT-1.5.3-1]', 'a\ud800', false],
    ['lone low surrogate [MQTT-1.5.3-1]', '\udc00a', false],
    ['65535 bytes of ASCII [MQTT-1.5.3]', 'a'.repeat(MAX_TOPIC_BYTES), true],
    ['65536 bytes of ASCII [MQTT-1.5.3]', 'a'.repeat(MAX_TOPIC_BYTES + 1), false],
    ['21845 three-byte chars = 65535 bytes', '\u20ac'.repeat(21845), true],
    ['21846 three-byte chars = 65538 bytes', '\u20ac'.repeat(21846), false]
  ]
  for (const [name, topic, expected] of cases) {
    it(`${name}: ${expected ? 'valid' : 'invalid'}`, () => {
      assert.equal(isValidTopicName(topic), expected)
    })
  }
})

describe('isValidTopicFilter', () => {
  const cases: Array<[string, string, boolean]> = [
    ['plain filter', 'sport/tennis', true],
    ['# alone [MQTT-4.7.1-2]', '#', true],
    ['# last [MQTT-4.7.1-2]', 'sport/tennis/#', true],
    ['+ alone [MQTT-4.7.1-3]', '+', true],
    ['+ in the middle [MQTT-4.7.1-3]', 'sport/+/player1', true],
    ['+ and # together', '+/tennis/#', true],
    ['+ on empty-level positions', '+/+', true],
    ['leading slash with +', '/+', true],
    ['$SYS filter', '$SYS/#', true],
    ['empty [MQTT-4.7.3-1]', '', false],
    ['# not last [MQTT-4.7.1-2]', 'sport/#/ranking', false],
    ['# glued to text [MQTT-4.7.1-2]', 'sport/tennis#', false],
    ['# followed by slash [MQTT-4.7.1-2]', '#/', false],
    ['+ glued to text [MQTT-4.7.1-3]', 'sport+', false],
    ['+ glued after slash [MQTT-4.7.1-3]', 'sport/+x', false],
    ['## [MQTT-4.7.1-2]', '##', false],
    ['contains U+0000 [MQTT-4.7.3-2]', 'a/\u0000', false],
    ['lone surrogate [MQTT-1.5.3-1]', 'a/\ud83d', false],
    ['65536 bytes [MQTT-1.5.3]', 'a'.repeat(MAX_TOPIC_BYTES + 1), false]
  ]
  for (const [name, filter, expected] of cases) {
    it(`${name}: ${expected ? 'valid' : 'invalid'}`, () => {
      assert.equal(isValidTopicFilter(filter), expected)
    })
  }
})

describe('topicMatches', () => {
  const cases: Array<[string, string, string, boolean]> = [
    ['exact', 'sport/tennis', 'sport/tennis', true],
    ['different level', 'sport/tennis', 'sport/golf', false],
    ['prefix is not a match', 'sport', 'sport/tennis', false],
    ['longer filter is not a match', 'sport/tennis/x', 'sport/tennis', false],
    ['case sensitive [MQTT-4.7.3-4]', 'Sport', 'sport', false],
    ['# matches everything [MQTT-4.7.1-2]', '#', 'sport/tennis/player1', true],
    ['# matches several levels [MQTT-4.7.1-2]', 'sport/tennis/player1/#', 'sport/tennis/player1/ranking/wimbledon', true],
    ['# matches the parent level [MQTT-4.7.1-2]', 'sport/#', 'sport', true],
    ['# matches an empty child level [MQTT-4.7.1-2]', 'sport/#', 'sport/', true],
    ['# does not match a sibling', 'sport/#', 'sports', false],
    ['+ matches one level [MQTT-4.7.1-3]', 'sport/tennis/+', 'sport/tennis/player1', true],
    ['+ does not match two levels [MQTT-4.7.1-3]', 'sport/tennis/+', 'sport/tennis/player1/ranking', false],
    ['+ does not match the parent [MQTT-4.7.1-3]', 'sport/tennis/+', 'sport/tennis', false],
    ['+ matches an empty level [MQTT-4.7.1-3]', 'sport/+', 'sport/', true],
    ['+ matches an empty first level [MQTT-4.7.1-3]', '+/finance', '/finance', true],
    ['+ alone does not match a leading-slash topic [MQTT-4.7.1-3]', '+', '/finance', false],
    ['+/+ matches a leading-slash topic [MQTT-4.7.1-3]', '+/+', '/finance', true],
    ['/+ matches a leading-slash topic [MQTT-4.7.1-3]', '/+', '/finance', true],
    ['empty middle level literal', 'a//b', 'a//b', true],
    ['empty middle level vs +', 'a/+/b', 'a//b', true],
    ['empty middle level missing', 'a/b', 'a//b', false],
    ['trailing slash is a level', 'a', 'a/', false],
    ['+ then #', '+/tennis/#', 'sport/tennis', true],
    ['# does not match $SYS [MQTT-4.7.2-1]', '#', '$SYS/broker', false],
    ['+ first does not match $SYS [MQTT-4.7.2-1]', '+/broker', '$SYS/broker', false],
    ['+/# does not match $SYS [MQTT-4.7.2-1]', '+/#', '$SYS', false],
    ['$SYS/# matches $SYS topics [MQTT-4.7.2-1]', '$SYS/#', '$SYS/broker/uptime', true],
    ['$SYS/# matches $SYS itself [MQTT-4.7.2-1]', '$SYS/#', '$SYS', true],
    ['$SYS/+ matches [MQTT-4.7.2-1]', '$SYS/+', '$SYS/broker', true],
    ['$ only matters in the first level [MQTT-4.7.2-1]', 'a/+', 'a/$b', true],
    ['# matches a topic with $ after the first level', '#', 'a/$SYS', true]
  ]
  for (const [name, filter, topic, expected] of cases) {
    it(`${name}: '${filter}' ${expected ? 'matches' : 'does not match'} '${topic}'`, () => {
      assert.equal(topicMatches(filter, topic), expected)
    })
  }
})

describe('parseSharedFilter', () => {
  const shared: Array<[string, string, { group: string, filter: string } | undefined]> = [
    ['shared filter [MQTT 5 §4.8.2]', '$share/group1/sport/#', { group: 'group1', filter: 'sport/#' }],
    ['shared wildcard filter', '$share/g/+', { group: 'g', filter: '+' }],
    ['inner filter with leading slash', '$share/g//a', { group: 'g', filter: '/a' }],
    ['not shared', 'sport/#', undefined],
    ['$share alone is a plain filter', '$share', undefined],
    ['other $ topic', '$SYS/#', undefined],
    ['prefix is case sensitive', '$SHARE/g/a', undefined]
  ]
  for (const [name, filter, expected] of shared) {
    it(`${name}: '${filter}'`, () => {
      assert.deepEqual(parseSharedFilter(filter), expected)
    })
  }

  const malformed: Array<[string, string]> = [
    ['empty share name [MQTT-4.8.2-1]', '$share//a'],
    ['no share name nor filter [MQTT-4.8.2-1]', '$share/'],
    ['share name with + [MQTT-4.8.2-2]', '$share/g+/a'],
    ['share name with # [MQTT-4.8.2-2]', '$share/#/a'],
    ['missing filter [MQTT-4.8.2-2]', '$share/group'],
    ['empty filter [MQTT-4.8.2-2]', '$share/group/'],
    ['invalid inner filter [MQTT-4.7.1-2]', '$share/group/a/#/b']
  ]
  for (const [name, filter] of malformed) {
    it(`${name}: '${filter}' throws InvalidSharedFilterError`, () => {
      assert.throws(() => parseSharedFilter(filter), (err: unknown) => {
        assert.ok(err instanceof InvalidSharedFilterError)
        assert.equal(err.name, 'InvalidSharedFilterError')
        return true
      })
    })
  }
})

describe('firstLevel and startsWithWildcard', () => {
  const levels: Array<[string, string]> = [['a/b', 'a'], ['/x', ''], ['#', '#'], ['abc', 'abc'], ['$SYS/x', '$SYS'], ['+/x', '+']]
  for (const [input, expected] of levels) {
    it(`firstLevel('${input}') is '${expected}'`, () => {
      assert.equal(firstLevel(input), expected)
    })
  }

  const wildcards: Array<[string, boolean]> = [['#', true], ['+', true], ['+/a', true], ['a/#', false], ['/+', false], ['$SYS/#', false]]
  for (const [filter, expected] of wildcards) {
    it(`startsWithWildcard('${filter}') is ${String(expected)} [MQTT-4.7.2-1]`, () => {
      assert.equal(startsWithWildcard(filter), expected)
    })
  }
})

describe('isWellFormedUtf8', () => {
  const cases: Array<[string, number[], boolean]> = [
    ['empty', [], true],
    ['ASCII', [0x61, 0x2f, 0x62], true],
    ['2-byte é', [0xc3, 0xa9], true],
    ['3-byte €', [0xe2, 0x82, 0xac], true],
    ['4-byte U+1F600', [0xf0, 0x9f, 0x98, 0x80], true],
    ['U+10FFFF, the last code point', [0xf4, 0x8f, 0xbf, 0xbf], true],
    ['U+D7FF, just below the surrogates', [0xed, 0x9f, 0xbf], true],
    ['U+E000, just above the surrogates', [0xee, 0x80, 0x80], true],
    ['U+0000 [MQTT-1.5.3-2]', [0x61, 0x00], false],
    ['surrogate U+D800 [MQTT-1.5.3-1]', [0xed, 0xa0, 0x80], false],
    ['surrogate U+DFFF [MQTT-1.5.3-1]', [0xed, 0xbf, 0xbf], false],
    ['overlong NUL (C0 80) [MQTT-1.5.3-1]', [0xc0, 0x80], false],
    ['overlong 2-byte (C1 BF) [MQTT-1.5.3-1]', [0xc1, 0xbf], false],
    ['overlong 3-byte (E0 80 AF) [MQTT-1.5.3-1]', [0xe0, 0x80, 0xaf], false],
    ['overlong 4-byte (F0 80 80 AF) [MQTT-1.5.3-1]', [0xf0, 0x80, 0x80, 0xaf], false],
    ['above U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80], false],
    ['F5 lead byte', [0xf5, 0x80, 0x80, 0x80], false],
    ['lone continuation byte', [0x80], false],
    ['truncated 2-byte', [0xc3], false],
    ['truncated 3-byte', [0xe2, 0x82], false],
    ['truncated 4-byte', [0xf0, 0x9f, 0x98], false],
    ['bad continuation', [0xe2, 0x28, 0xa1], false],
    ['FF byte', [0xff], false]
  ]
  for (const [name, bytes, expected] of cases) {
    it(`${name}: ${expected ? 'well-formed' : 'ill-formed'}`, () => {
      assert.equal(isWellFormedUtf8(Uint8Array.from(bytes)), expected)
    })
  }

  it('agrees with a fatal TextDecoder (plus the U+0000 rule) on random byte strings', () => {
    const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
    const interesting = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff]
    let seed = 0x5eed
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0
      return seed >>> 8
    }
    for (let n = 0; n < 20000; n++) {
      const bytes = Uint8Array.from({ length: next() % 6 }, () => interesting[next() % interesting.length] ?? 0)
      let decodes = true
      try {
        decoder.decode(bytes)
      } catch {
        decodes = false
      }
      const expected = decodes && !bytes.includes(0)
      assert.equal(isWellFormedUtf8(bytes), expected, `bytes ${Buffer.from(bytes).toString('hex')}`)
    }
  })
})
