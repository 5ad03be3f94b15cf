/**
 * ACL decisions as mosquitto 2.0's default ACL check makes them, over a parsed `acl_file`:
 *
 * - A client's own `topic` rules (its username's, or the anonymous ones when it has none) are
 *   checked first, then the `pattern` rules with its variables filled in. In each list the `deny`
 *   rules come first: a matching deny refuses at once; else the first matching rule that grants
 *   the access allows it. No grant: refused (an ACL file allows only what it names).
 * - `read` grants subscribing and receiving, `write` publishing.
 * - A rule whose filter does not start with `$` never applies to a `$` topic (`#` does not give
 *   `$SYS/#`), as topic matching has it [MQTT-4.7.2-1].
 * - A SUBSCRIBE filter is allowed when a rule's filter covers it: every topic the subscription can
 *   match, the rule matches too (`a/#` covers `a/#` and `a/+/c`; `a/+` does not cover `a/#`);
 *   messages are checked again, with `read`, as each is delivered.
 * - A `pattern` whose variable the client lacks (no username for `%u`, no such claim for
 *   `%{claim}`) applies to nothing for it; a username or client id holding `+` or `#` gets no
 *   pattern at all (mosquitto refuses it, so a client cannot widen its own rules).
 * - Publishing under `$SYS/` is refused unless `allowSysPublish`, with or without an ACL file.
 *
 * Each client's decisions are cached (at most `cacheSize` topics and `cacheBytes` of topic text,
 * the oldest evicted first; a topic longer than `cacheBytes` is decided each time); a new file
 * (`replace`) bumps a generation that every client's authorizer checks, so long-lived sessions
 * take the new rules at their next decision.
 */
import type { AclAccess, AclFile, AclPatternRule } from './acl-file.js'
import { ALLOW_EVERYTHING, type Authorization, type ClientAuthorizer, type ClientIdentity, type TopicAccess } from './identity.js'
import { startsWithWildcard, topicMatches } from '../mqtt/topic.js'

export interface AclSettings {
  /** Clients may publish under `$SYS/`. */
  allowSysPublish: boolean
  /** Topics whose decisions each client caches; 0 caches nothing. */
  cacheSize: number
  /** Bytes of topic text (UTF-16 code units × 2) each client's cache holds at most. */
  cacheBytes: number
}

/** A rule as one client sees it: patterns with its variables filled in. */
export interface ClientRule { access: AclAccess, filter: string }

/** One client's rules: its own `topic` rules, then its patterns; denies first in each. */
export interface ClientRules { topics: ClientRule[], patterns: ClientRule[] }

/** No ACL file: everything but publishing under `$SYS/` is allowed. */
export const SYS_READ_ONLY: ClientAuthorizer = { allows: (access, topic) => access !== 'publish' || !isSysTopic(topic) }

/** Whether an authorizer allows every `read` (no ACL file), so deliveries need no check. */
export function readsEverything (authorizer: ClientAuthorizer): boolean {
  return authorizer === SYS_READ_ONLY || authorizer === ALLOW_EVERYTHING
}

/** `$SYS` and the topics under it. */
export function isSysTopic (topic: string): boolean {
  return topic.startsWith('$SYS') && (topic.length === 4 || topic.charCodeAt(4) === 0x2f)
}

/** The Authorization of a node without an ACL file: `$SYS/#` read-only unless `allowSysPublish`. */
export function withoutAclFile (allowSysPublish: boolean): Authorization {
  const authorizer = allowSysPublish ? ALLOW_EVERYTHING : SYS_READ_ONLY
  return { forClient: () => authorizer }
}

/** The Authorization of a node with an ACL file; `replace` swaps in a reloaded file. */
export class AclAuthorization implements Authorization {
  /** Bumped by each `replace`: client authorizers rebuild their rules and drop their cache. */
  generation = 0

  constructor (private file: AclFile, readonly settings: AclSettings) {}

  get current (): AclFile { return this.file }

  replace (file: AclFile): void {
    this.file = file
    this.generation++
  }

  forClient (identity: ClientIdentity): ClientAuthorizer {
    return new AclClientAuthorizer(this, identity)
  }
}

/** Access bits in the cache's per-topic value: bit 2i says decision i is known, bit 2i+1 that it allows. */
const ACCESS_INDEX: Record<TopicAccess, number> = { publish: 0, subscribe: 1, read: 2 }

class AclClientAuthorizer implements ClientAuthorizer {
  private generation = -1
  private rules: ClientRules = { topics: [], patterns: [] }
  private readonly cache = new Map<string, number>()
  /** Bytes of the topics in `cache`. */
  private cacheBytes = 0

  constructor (private readonly acl: AclAuthorization, private readonly identity: ClientIdentity) {}

  allows (access: TopicAccess, topic: string): boolean {
    if (access === 'publish' && !this.acl.settings.allowSysPublish && isSysTopic(topic)) return false
    if (this.generation !== this.acl.generation) {
      this.generation = this.acl.generation
      this.rules = clientRules(this.acl.current, this.identity)
      this.cache.clear()
      this.cacheBytes = 0
    }
    const { cacheSize, cacheBytes } = this.acl.settings
    const bytes = topic.length * 2
    if (cacheSize === 0 || bytes > cacheBytes) return decide(this.rules, access, topic)
    const shift = 2 * ACCESS_INDEX[access]
    const known = this.cache.get(topic)
    if (known !== undefined && (known & (1 << shift)) !== 0) return (known & (2 << shift)) !== 0
    const allowed = decide(this.rules, access, topic)
    if (known === undefined) {
      while (this.cache.size > 0 && (this.cache.size >= cacheSize || this.cacheBytes + bytes > cacheBytes)) this.evictOldest()
      this.cacheBytes += bytes
    }
    this.cache.set(topic, (known ?? 0) | (1 << shift) | (allowed ? 2 << shift : 0))
    return allowed
  }

  private evictOldest (): void {
    const oldest = this.cache.keys().next().value!
    this.cache.delete(oldest)
    this.cacheBytes -= oldest.length * 2
  }

  /** Topics and bytes cached now (tests, diagnostics). */
  get cached (): { topics: number, bytes: number } {
    return { topics: this.cache.size, bytes: this.cacheBytes }
  }
}

/** The rules that apply to one client, denies first in each list. */
export function clientRules (file: AclFile, identity: ClientIdentity): ClientRules {
  const own = identity.username === undefined ? file.anonymous : file.users.get(identity.username) ?? []
  const topics = denyFirst(own.map(({ access, filter }) => ({ access, filter })))
  const dangerous = hasWildcard(identity.clientId) || (identity.username !== undefined && hasWildcard(identity.username))
  const patterns: ClientRule[] = []
  if (!dangerous) {
    for (const pattern of file.patterns) {
      const filter = fillPattern(pattern, identity)
      if (filter !== undefined) patterns.push({ access: pattern.access, filter })
    }
  }
  return { topics, patterns: denyFirst(patterns) }
}

/** The pattern's filter for this client, or undefined when it lacks a variable (or a claim holds a wildcard). */
function fillPattern (pattern: AclPatternRule, identity: ClientIdentity): string | undefined {
  let filter = ''
  for (const part of pattern.parts) {
    if ('literal' in part) {
      filter += part.literal
    } else if ('variable' in part) {
      const value = part.variable === 'clientId' ? identity.clientId : identity.username
      if (value === undefined) return undefined
      filter += value
    } else {
      const value = identity.claims?.[part.claim]
      if (value === undefined || hasWildcard(value)) return undefined
      filter += value
    }
  }
  return filter
}

function hasWildcard (value: string): boolean {
  return value.includes('+') || value.includes('#')
}

function denyFirst (rules: ClientRule[]): ClientRule[] {
  return [...rules.filter(rule => rule.access === 'deny'), ...rules.filter(rule => rule.access !== 'deny')]
}

/** The decision for one access: the client's topic rules, then its patterns (see the file comment). */
export function decide (rules: ClientRules, access: TopicAccess, topic: string): boolean {
  const verdict = decideIn(rules.topics, access, topic) ?? decideIn(rules.patterns, access, topic)
  return verdict ?? false
}

function decideIn (rules: readonly ClientRule[], access: TopicAccess, topic: string): boolean | undefined {
  const dollar = topic.charCodeAt(0) === 0x24
  for (const rule of rules) {
    if (dollar && rule.filter.charCodeAt(0) !== 0x24) continue
    const applies = access === 'subscribe' ? filterCovers(rule.filter, topic) : topicMatches(rule.filter, topic)
    if (!applies) continue
    if (rule.access === 'deny') return false
    if (grants(rule.access, access)) return true
  }
  return undefined
}

function grants (ruleAccess: Exclude<AclAccess, 'deny'>, access: TopicAccess): boolean {
  if (ruleAccess === 'readwrite') return true
  return access === 'publish' ? ruleAccess === 'write' : ruleAccess === 'read'
}

/**
 * Whether every topic `subscription` can match is matched by `rule` too (mosquitto's
 * `mosquitto_sub_matches_acl`): level by level, `#` in the rule covers the rest, `+` covers one
 * level that is not `#`, a literal level covers only itself.
 */
export function filterCovers (rule: string, subscription: string): boolean {
  if (subscription.charCodeAt(0) === 0x24 && startsWithWildcard(rule)) return false
  const ruleLevels = rule.split('/')
  const subLevels = subscription.split('/')
  for (let i = 0; i < ruleLevels.length; i++) {
    const level = ruleLevels[i]
    if (level === '#') return true
    const sub = subLevels[i]
    if (sub === undefined || sub === '#') return false
    if (level !== '+' && level !== sub) return false
  }
  return ruleLevels.length === subLevels.length
}
