/**
 * Pure topic rules (MQTT 3.1.1 §4.7, MQTT 5 §4.7–4.8, §1.5.4): validation of Topic Names and
 * Topic Filters, matching one against the other, shared-subscription filters and UTF-8 checks.
 * No allocation on the checks that run per PUBLISH (`isValidTopicName`, `topicMatches`).
 */

/** Largest UTF-8 encoded length of a topic, the limit of an MQTT UTF-8 string [MQTT-1.5.3]. */
export const MAX_TOPIC_BYTES = 65535

const SLASH = 0x2f
const PLUS = 0x2b
const HASH = 0x23
const DOLLAR = 0x24

const SHARE_PREFIX = '$share/'

/** Thrown by `parseSharedFilter` for a `$share/...` filter that breaks MQTT 5 §4.8.2. */
export class InvalidSharedFilterError extends Error {
  override name = 'InvalidSharedFilterError'
}

/** A shared subscription's Share Name and the Topic Filter it subscribes to. */
export interface SharedFilter { group: string, filter: string }

/**
 * UTF-8 encoded length of a string, or -1 when it contains U+0000 [MQTT-4.7.3-2] or a lone
 * surrogate, which has no well-formed UTF-8 encoding [MQTT-1.5.3-1].
 */
function utf8Length (text: string): number {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) {
      if (c === 0) return -1
      bytes += 1
    } else if (c < 0x800) {
      bytes += 2
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const low = text.charCodeAt(i + 1)
      if (!(low >= 0xdc00 && low <= 0xdfff)) return -1
      bytes += 4
      i++
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return -1
    } else {
      bytes += 3
    }
  }
  return bytes
}

/** Non-empty, encodable as well-formed UTF-8 without U+0000, and at most MAX_TOPIC_BYTES long. */
function isWellFormedTopicString (text: string): boolean {
  if (text.length === 0 || text.length > MAX_TOPIC_BYTES) return false
  const bytes = utf8Length(text)
  return bytes > 0 && bytes <= MAX_TOPIC_BYTES
}

/**
 * Topic Name for PUBLISH: non-empty [MQTT-4.7.3-1], no '+'/'#' [MQTT-3.3.2-2], no U+0000
 * [MQTT-4.7.3-2], UTF-8 length ≤ 65535. Lone surrogates are rejected too [MQTT-1.5.3-1].
 */
export function isValidTopicName (topic: string): boolean {
  return isWellFormedTopicString(topic) && topic.indexOf('+') === -1 && topic.indexOf('#') === -1
}

/**
 * Topic Filter: non-empty [MQTT-4.7.3-1], '#' only last and alone in its level [MQTT-4.7.1-2],
 * '+' alone in its level [MQTT-4.7.1-3], no U+0000 [MQTT-4.7.3-2], UTF-8 length ≤ 65535.
 */
export function isValidTopicFilter (filter: string): boolean {
  if (!isWellFormedTopicString(filter)) return false
  const last = filter.length - 1
  for (let i = 0; i <= last; i++) {
    const c = filter.charCodeAt(i)
    if (c !== PLUS && c !== HASH) continue
    const startsLevel = i === 0 || filter.charCodeAt(i - 1) === SLASH
    const endsLevel = i === last || filter.charCodeAt(i + 1) === SLASH
    if (!startsLevel || !endsLevel) return false
    if (c === HASH && i !== last) return false
  }
  return true
}

/**
 * Whether a Topic Name matches a Topic Filter, both assumed valid. '+' matches exactly one level,
 * possibly empty; '#' matches its parent level and any number of levels below [MQTT-4.7.1-2];
 * a filter starting with '+' or '#' never matches a topic starting with '$' [MQTT-4.7.2-1].
 */
export function topicMatches (filter: string, topic: string): boolean {
  if (topic.charCodeAt(0) === DOLLAR && startsWithWildcard(filter)) return false
  const filterLength = filter.length
  const topicLength = topic.length
  // Start index of the current level in each string; a topic start past its length means the
  // topic has no levels left ('a/' still has an empty last level starting at its length).
  let f = 0
  let t = 0
  for (;;) {
    let filterEnd = filter.indexOf('/', f)
    if (filterEnd === -1) filterEnd = filterLength
    const filterLevelLength = filterEnd - f
    if (filterLevelLength === 1 && filter.charCodeAt(f) === HASH) return true
    if (t > topicLength) return false
    let topicEnd = topic.indexOf('/', t)
    if (topicEnd === -1) topicEnd = topicLength
    const isPlus = filterLevelLength === 1 && filter.charCodeAt(f) === PLUS
    if (!isPlus && !levelsEqual(filter, f, filterEnd, topic, t, topicEnd)) return false
    f = filterEnd + 1
    t = topicEnd + 1
    if (f > filterLength) return t > topicLength
  }
}

function levelsEqual (a: string, aStart: number, aEnd: number, b: string, bStart: number, bEnd: number): boolean {
  const length = aEnd - aStart
  if (length !== bEnd - bStart) return false
  for (let i = 0; i < length; i++) {
    if (a.charCodeAt(aStart + i) !== b.charCodeAt(bStart + i)) return false
  }
  return true
}

/**
 * Splits a shared subscription filter `$share/<group>/<filter>` (MQTT 5 §4.8.2). Returns undefined
 * for a filter that does not start with `$share/`. Throws InvalidSharedFilterError when the Share
 * Name is empty or holds '+'/'#' [MQTT-4.8.2-1, MQTT-4.8.2-2], or the filter after it is missing or
 * not a valid Topic Filter.
 */
export function parseSharedFilter (filter: string): SharedFilter | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined
  const groupEnd = filter.indexOf('/', SHARE_PREFIX.length)
  if (groupEnd === -1) throw new InvalidSharedFilterError(`shared subscription '${filter}' has no topic filter after its share name`)
  const group = filter.slice(SHARE_PREFIX.length, groupEnd)
  if (group.length === 0) throw new InvalidSharedFilterError(`shared subscription '${filter}' has an empty share name [MQTT-4.8.2-1]`)
  if (group.includes('+') || group.includes('#')) {
    throw new InvalidSharedFilterError(`shared subscription '${filter}' has '+' or '#' in its share name [MQTT-4.8.2-2]`)
  }
  const inner = filter.slice(groupEnd + 1)
  if (inner.length === 0) throw new InvalidSharedFilterError(`shared subscription '${filter}' has an empty topic filter`)
  if (!isValidTopicFilter(inner)) throw new InvalidSharedFilterError(`shared subscription '${filter}' has an invalid topic filter '${inner}'`)
  return { group, filter: inner }
}

/** First level of a topic or filter ('a/b' → 'a', '/x' → '', '#' → '#'). */
export function firstLevel (topicOrFilter: string): string {
  const end = topicOrFilter.indexOf('/')
  return end === -1 ? topicOrFilter : topicOrFilter.slice(0, end)
}

/** True when the filter's first level is '+' or '#'. */
export function startsWithWildcard (filter: string): boolean {
  const c = filter.charCodeAt(0)
  if (c !== PLUS && c !== HASH) return false
  return filter.length === 1 || filter.charCodeAt(1) === SLASH
}

/**
 * Well-formed UTF-8 check for raw bytes (Unicode Table 3-7): no surrogates U+D800..U+DFFF
 * [MQTT-1.5.3-1], no overlong encodings, nothing above U+10FFFF, no truncated sequence, and no
 * U+0000 [MQTT-1.5.3-2].
 */
export function isWellFormedUtf8 (bytes: Uint8Array): boolean {
  const length = bytes.length
  let i = 0
  while (i < length) {
    const b0 = bytes[i] ?? 0
    if (b0 < 0x80) {
      if (b0 === 0) return false
      i += 1
      continue
    }
    // A missing byte reads as 0, which is never a continuation byte.
    const b1 = bytes[i + 1] ?? 0
    if (b0 < 0xc2) return false
    if (b0 < 0xe0) {
      if (!isContinuation(b1)) return false
      i += 2
    } else if (b0 < 0xf0) {
      const low = b0 === 0xe0 ? 0xa0 : 0x80
      const high = b0 === 0xed ? 0x9f : 0xbf
      if (b1 < low || b1 > high || !isContinuation(bytes[i + 2] ?? 0)) return false
      i += 3
    } else if (b0 < 0xf5) {
      const low = b0 === 0xf0 ? 0x90 : 0x80
      const high = b0 === 0xf4 ? 0x8f : 0xbf
      if (b1 < low || b1 > high || !isContinuation(bytes[i + 2] ?? 0) || !isContinuation(bytes[i + 3] ?? 0)) return false
      i += 4
    } else {
      return false
    }
  }
  return true
}

function isContinuation (byte: number): boolean {
  return (byte & 0xc0) === 0x80
}

/** Number of levels in a topic or filter ('a/b' → 2, '' → 1). */
export function levelCount (topicOrFilter: string): number {
  let count = 1
  for (let i = topicOrFilter.indexOf('/'); i >= 0; i = topicOrFilter.indexOf('/', i + 1)) count++
  return count
}
