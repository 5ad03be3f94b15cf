/**
 * The password file `mosquitto_passwd` writes (`auth.passwordFile`): one `user:hash` line per
 * user, where the hash is `$7$<iterations>$<base64 salt>$<base64 hash>` (PBKDF2-HMAC-SHA512 with
 * a 64-byte key, the mosquitto 2.x default with 101 iterations) or `$6$<base64 salt>$<base64 hash>`
 * (SHA-512 over the password then the salt, mosquitto 1.x). Blank lines and `#` comments are
 * ignored; any other line that is not such an entry is an error naming its line, as mosquitto
 * refuses to start on one. Verification uses node:crypto only: PBKDF2 runs off the event loop,
 * hashes are compared in constant time, and an unknown user costs a verification against a dummy
 * hash, so a username cannot be probed by timing.
 */
import { createHash, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto'

/** One user's stored hash. */
export type PasswordHash =
  | { kind: 'pbkdf2-sha512', iterations: number, salt: Buffer, hash: Buffer }
  | { kind: 'sha512', salt: Buffer, hash: Buffer }

/** A line of the password file that is not an entry, a blank line or a comment. */
export class PasswordFileError extends Error {
  override name = 'PasswordFileError'
  constructor (readonly line: number, problem: string) {
    super(`line ${line}: ${problem}`)
  }
}

/** What a password check found. */
export type PasswordCheck = 'ok' | 'unknown_user' | 'bad_password'

/** Length of the SHA-512 / PBKDF2-SHA512 hash mosquitto stores. */
const HASH_BYTES = 64
/** Iterations of the `$7$` hashes mosquitto_passwd writes by default. */
export const MOSQUITTO_ITERATIONS = 101
/** PBKDF2 takes a 32-bit signed iteration count. */
const MAX_ITERATIONS = 2 ** 31 - 1
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

function decodeBase64 (text: string, what: string, line: number): Buffer {
  if (!BASE64.test(text)) throw new PasswordFileError(line, `${what} is not base64`)
  return Buffer.from(text, 'base64')
}

/** The hash part of one line (after `user:`). */
function parseHash (text: string, line: number): PasswordHash {
  const parts = text.split('$')
  if (parts[0] !== '' || (parts[1] !== '6' && parts[1] !== '7')) {
    throw new PasswordFileError(line, 'not a mosquitto_passwd hash ($7$ or $6$); plain-text passwords are not accepted (hash the file with mosquitto_passwd -U)')
  }
  let iterations = 0
  if (parts[1] === '7') {
    if (parts.length !== 5) throw new PasswordFileError(line, 'a $7$ hash is $7$<iterations>$<salt>$<hash>')
    iterations = /^\d{1,10}$/.test(parts[2]!) ? Number(parts[2]) : 0
    if (iterations < 1 || iterations > MAX_ITERATIONS) throw new PasswordFileError(line, `iteration count must be an integer between 1 and ${MAX_ITERATIONS}`)
  } else if (parts.length !== 4) {
    throw new PasswordFileError(line, 'a $6$ hash is $6$<salt>$<hash>')
  }
  const salt = decodeBase64(parts.at(-2)!, 'salt', line)
  const hash = decodeBase64(parts.at(-1)!, 'hash', line)
  if (hash.length !== HASH_BYTES) throw new PasswordFileError(line, `hash must be ${HASH_BYTES} bytes, got ${hash.length}`)
  return parts[1] === '7' ? { kind: 'pbkdf2-sha512', iterations, salt, hash } : { kind: 'sha512', salt, hash }
}

/** Parses the file's text; throws a PasswordFileError naming the first bad line. */
export function parsePasswordFile (text: string): PasswordFile {
  const users = new Map<string, PasswordHash>()
  const firstLine = new Map<string, number>()
  const lines = text.split('\n')
  for (let index = 0; index < lines.length; index++) {
    const line = index + 1
    const entry = lines[index]!.replace(/\r$/, '').trim()
    if (entry === '' || entry.startsWith('#')) continue
    const colon = entry.indexOf(':')
    if (colon <= 0) throw new PasswordFileError(line, colon === 0 ? 'empty username' : 'expected user:hash')
    const user = entry.slice(0, colon)
    const seen = firstLine.get(user)
    if (seen !== undefined) throw new PasswordFileError(line, `user '${user}' is already on line ${seen}`)
    users.set(user, parseHash(entry.slice(colon + 1), line))
    firstLine.set(user, line)
  }
  return new PasswordFile(users)
}

async function pbkdf2Sha512 (password: Buffer, salt: Buffer, iterations: number): Promise<Buffer> {
  return await new Promise((resolve, reject) => {
    pbkdf2(password, salt, iterations, HASH_BYTES, 'sha512', (err, key) => { if (err === null) resolve(key); else reject(err) })
  })
}

/** Hashes `password` as `stored` was hashed (its kind, salt and iteration count). */
export async function hashLike (stored: PasswordHash, password: Buffer): Promise<Buffer> {
  if (stored.kind === 'sha512') return createHash('sha512').update(password).update(stored.salt).digest()
  return await pbkdf2Sha512(password, stored.salt, stored.iterations)
}

/** Whether `password` matches the stored hash (compared in constant time). */
export async function verifyPassword (stored: PasswordHash, password: Buffer): Promise<boolean> {
  return timingSafeEqual(await hashLike(stored, password), stored.hash)
}

/** The users of a parsed password file. */
export class PasswordFile {
  /** Verified instead of a missing user's hash: like the file's first entry, so both take as long. */
  private readonly dummy: PasswordHash

  constructor (private readonly users: ReadonlyMap<string, PasswordHash>) {
    const first = users.values().next()
    const model: PasswordHash = first.done === true ? { kind: 'pbkdf2-sha512', iterations: MOSQUITTO_ITERATIONS, salt: Buffer.alloc(12), hash: Buffer.alloc(HASH_BYTES) } : first.value
    this.dummy = { ...model, salt: randomBytes(model.salt.length), hash: randomBytes(HASH_BYTES) }
  }

  get size (): number { return this.users.size }

  has (user: string): boolean { return this.users.has(user) }

  /** Checks a username and password; an unknown user is verified against a dummy hash first. */
  async check (user: string, password: Buffer): Promise<PasswordCheck> {
    const stored = this.users.get(user)
    if (stored === undefined) {
      await verifyPassword(this.dummy, password)
      return 'unknown_user'
    }
    return await verifyPassword(stored, password) ? 'ok' : 'bad_password'
  }
}
