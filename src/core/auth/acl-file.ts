/**
 * Parser of mosquitto's `acl_file` format (`man mosquitto.conf`, "acl_file"):
 *
 *   # a comment
 *   topic read public/#              ← before any `user` line: anonymous clients
 *   user alice
 *   topic readwrite alice/#          ← alice's own rules
 *   topic deny alice/secret
 *   pattern write devices/%c/state   ← every client: %c client id, %u username
 *   pattern read tenants/%{tenant}/# ← meshmq extension: a string claim of the client's JWT
 *
 * The access word is optional (`readwrite` then) unless the filter holds a space. `user` takes the
 * rest of the line as the username. `pattern` lines apply to every client wherever they stand.
 * Stricter than mosquitto, which skips what it does not know: an unknown keyword, access word or
 * pattern variable, or an invalid topic filter, is an error naming its line.
 */
import { isValidTopicFilter } from '../mqtt/topic.js'

/** What a rule grants: `read` (subscribe and receive), `write` (publish), both, or `deny` (neither, and it wins). */
export type AclAccess = 'read' | 'write' | 'readwrite' | 'deny'

/** A `topic` line: a topic filter, as written. */
export interface AclTopicRule {
  access: AclAccess
  filter: string
  /** 1-based line number in the file. */
  line: number
}

/** A piece of a `pattern` filter: literal text, or a variable filled in from the client's identity. */
export type AclPatternPart =
  | { literal: string }
  | { variable: 'username' | 'clientId' }
  | { claim: string }

/** A `pattern` line: a topic filter with `%u`, `%c` and `%{claim}` variables. */
export interface AclPatternRule {
  access: AclAccess
  /** The filter as written, variables included. */
  filter: string
  parts: AclPatternPart[]
  line: number
}

export interface AclFile {
  /** `topic` lines before any `user` line: clients without a username. */
  anonymous: AclTopicRule[]
  /** `topic` lines after `user NAME`, by username (a user named twice gathers both sets). */
  users: Map<string, AclTopicRule[]>
  patterns: AclPatternRule[]
}

/** A line the parser cannot accept. */
export class AclFileError extends Error {
  override name = 'AclFileError'
  constructor (readonly line: number, readonly detail: string, readonly file?: string) {
    super(`${file === undefined ? 'acl file' : `acl file '${file}'`} line ${line}: ${detail}`)
  }
}

const ACCESS_WORDS: ReadonlySet<string> = new Set(['read', 'write', 'readwrite', 'deny'])

export function parseAclFile (text: string): AclFile {
  const file: AclFile = { anonymous: [], users: new Map(), patterns: [] }
  let rules = file.anonymous
  const lines = text.split(/\r?\n/)
  for (let index = 0; index < lines.length; index++) {
    const line = index + 1
    const content = lines[index]!.trim()
    if (content.length === 0 || content.startsWith('#')) continue
    const space = content.search(/\s/)
    const keyword = space === -1 ? content : content.slice(0, space)
    const rest = space === -1 ? '' : content.slice(space).trimStart()
    switch (keyword) {
      case 'user': {
        if (rest.length === 0) throw new AclFileError(line, "'user' without a username")
        let userRules = file.users.get(rest)
        if (userRules === undefined) file.users.set(rest, userRules = [])
        rules = userRules
        break
      }
      case 'topic': {
        const { access, filter } = accessAndFilter(rest, line, keyword)
        if (!isValidTopicFilter(filter)) throw new AclFileError(line, `invalid topic filter '${filter}'`)
        rules.push({ access, filter, line })
        break
      }
      case 'pattern': {
        const { access, filter } = accessAndFilter(rest, line, keyword)
        if (!isValidTopicFilter(filter)) throw new AclFileError(line, `invalid topic filter '${filter}'`)
        file.patterns.push({ access, filter, parts: patternParts(filter, line), line })
        break
      }
      default:
        throw new AclFileError(line, `unknown keyword '${keyword}' (expected user, topic or pattern)`)
    }
  }
  return file
}

/** `[read|write|readwrite|deny] FILTER`: one word is the filter (readwrite); two or more, the first is the access. */
function accessAndFilter (rest: string, line: number, keyword: string): { access: AclAccess, filter: string } {
  if (rest.length === 0) throw new AclFileError(line, `'${keyword}' without a topic filter`)
  const space = rest.search(/\s/)
  if (space === -1) return { access: 'readwrite', filter: rest }
  const word = rest.slice(0, space)
  if (!ACCESS_WORDS.has(word)) throw new AclFileError(line, `unknown access '${word}' (expected read, write, readwrite or deny)`)
  return { access: word as AclAccess, filter: rest.slice(space).trimStart() }
}

/** Splits a pattern filter at its variables: `%u`, `%c`, `%{claim}`; any other `%` is literal (as in mosquitto). */
function patternParts (filter: string, line: number): AclPatternPart[] {
  const parts: AclPatternPart[] = []
  let literal = ''
  for (let i = 0; i < filter.length; i++) {
    const c = filter[i]!
    const next = filter[i + 1]
    if (c !== '%' || (next !== 'u' && next !== 'c' && next !== '{')) {
      literal += c
      continue
    }
    if (literal.length > 0) parts.push({ literal })
    literal = ''
    if (next === '{') {
      const end = filter.indexOf('}', i + 2)
      if (end === -1) throw new AclFileError(line, `unterminated '%{' in '${filter}'`)
      const claim = filter.slice(i + 2, end)
      if (claim.length === 0) throw new AclFileError(line, `empty claim name '%{}' in '${filter}'`)
      parts.push({ claim })
      i = end
    } else {
      parts.push({ variable: next === 'u' ? 'username' : 'clientId' })
      i++
    }
  }
  if (literal.length > 0) parts.push({ literal })
  return parts
}
