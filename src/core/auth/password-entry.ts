/**
 * Writing the password file (`meshmq passwd`, as `mosquitto_passwd`): a new `$7$` entry for a
 * password, and the file's text with one user's line set or removed, every other line (comments
 * included) kept as it was.
 */
import { pbkdf2, randomBytes } from 'node:crypto'
import { MOSQUITTO_ITERATIONS, parsePasswordFile } from './password-file.js'

/** Salt bytes of a new entry (mosquitto_passwd's 12). */
const SALT_BYTES = 12
const HASH_BYTES = 64

/** A username the file can hold: not empty, no `:` (the separator), no line break. */
export function usernameProblem (user: string): string | undefined {
  if (user.length === 0) return 'the username is empty'
  if (/[:\r\n]/.test(user)) return 'a username may not contain ":" or a line break'
  return undefined
}

/** `$7$<iterations>$<salt>$<hash>`: PBKDF2-HMAC-SHA512 with a fresh salt. */
export async function hashPassword (password: string, iterations = MOSQUITTO_ITERATIONS): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const hash = await new Promise<Buffer>((resolve, reject) => {
    pbkdf2(Buffer.from(password, 'utf8'), salt, iterations, HASH_BYTES, 'sha512', (err, key) => { if (err === null) resolve(key); else reject(err) })
  })
  return `$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`
}

/** The line of `user` in `text`, by the parser's rules (0-based index), or -1. */
function lineOf (lines: readonly string[], user: string): number {
  return lines.findIndex(line => {
    const entry = line.replace(/\r$/, '').trim()
    return !entry.startsWith('#') && entry.slice(0, entry.indexOf(':')) === user
  })
}

/** `text` with `user`'s entry replaced by `hash`, or appended. Throws when `text` does not parse. */
export function withUser (text: string, user: string, hash: string): string {
  parsePasswordFile(text)
  const lines = text.length === 0 ? [] : text.replace(/\n$/, '').split('\n')
  const index = lineOf(lines, user)
  const entry = `${user}:${hash}`
  if (index >= 0) lines[index] = entry
  else lines.push(entry)
  return lines.join('\n') + '\n'
}

/** `text` without `user`'s entry, or undefined when it has none. Throws when `text` does not parse. */
export function withoutUser (text: string, user: string): string | undefined {
  parsePasswordFile(text)
  const lines = text.replace(/\n$/, '').split('\n')
  const index = lineOf(lines, user)
  if (index < 0) return undefined
  lines.splice(index, 1)
  return lines.length === 0 ? '' : lines.join('\n') + '\n'
}
