/**
 * The mosquitto_passwd file format: the hashes mosquitto writes verify (fixtures with known
 * passwords, and files made by mosquitto_passwd at test time when it is installed), bad lines are
 * reported with their line number, and an unknown user costs a hash verification like a known one.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { pbkdf2Sync, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parsePasswordFile, PasswordFileError } from '../src/core/auth/password-file.js'
import { authFixture, tempDir } from './helpers/auth-broker.js'

const fixture = (): string => readFileSync(authFixture('passwd'), 'utf8')

/** Whether mosquitto_passwd can be run here (it is not installed on every CI machine). */
function hasMosquittoPasswd (): boolean {
  try {
    execFileSync('mosquitto_passwd', ['-h'], { stdio: 'ignore' })
    return true
  } catch (err) {
    // It prints its usage and exits 1 when present; ENOENT when absent.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT'
  }
}

describe('password file: hashes mosquitto writes', () => {
  const cases: Array<[string, string, string]> = [
    ['alice', 'alice-pass', '$7$ PBKDF2-SHA512, 101 iterations (mosquitto 2 default)'],
    ['bob', 'pa:ss wörd', '$7$, a password with a colon, a space and UTF-8'],
    ['carol', 'hunter2', '$6$ SHA-512 (mosquitto 1.x)'],
    ['dave', 'dave-pass', '$7$ with 1000 iterations']
  ]
  for (const [user, password, what] of cases) {
    it(`${user}: ${what} — the right password passes, a wrong one fails`, async () => {
      const file = parsePasswordFile(fixture())
      assert.equal(await file.check(user, Buffer.from(password)), 'ok')
      assert.equal(await file.check(user, Buffer.from(`${password}x`)), 'bad_password')
      assert.equal(await file.check(user, Buffer.alloc(0)), 'bad_password')
    })
  }

  it('an unknown user is unknown_user, whatever the password', async () => {
    const file = parsePasswordFile(fixture())
    assert.equal(file.size, 4)
    assert.equal(await file.check('mallory', Buffer.from('alice-pass')), 'unknown_user')
    assert.equal(await file.check('Alice', Buffer.from('alice-pass')), 'unknown_user')
  })

  it('files made by mosquitto_passwd now verify ($7$ and -H sha512)', async t => {
    if (!hasMosquittoPasswd()) {
      t.skip('mosquitto_passwd is not installed (the fixtures cover its formats)')
      return
    }
    const path = join(tempDir(t), 'passwd')
    execFileSync('mosquitto_passwd', ['-b', '-c', path, 'erin', 'erin secret'])
    execFileSync('mosquitto_passwd', ['-H', 'sha512', '-b', path, 'frank', 'frank:secret'])
    const file = parsePasswordFile(readFileSync(path, 'utf8'))
    assert.equal(await file.check('erin', Buffer.from('erin secret')), 'ok')
    assert.equal(await file.check('frank', Buffer.from('frank:secret')), 'ok')
    assert.equal(await file.check('erin', Buffer.from('frank:secret')), 'bad_password')
  })
})

describe('password file: what is not an entry', () => {
  it('blank lines, CRLF line ends and # comments are ignored', async () => {
    const text = fixture().split('\n').map(line => `${line}\r`).join('\n') + '\n\n   \n# last\n'
    const file = parsePasswordFile(text)
    assert.equal(file.size, 4)
    assert.equal(await file.check('carol', Buffer.from('hunter2')), 'ok')
  })

  const good = 'alice:$7$101$1NsEKPb+WX9WOot4$Mj6OIVZIhvP0TeJOoQrPbCRflW8KttZ4spcEbb/10AT8RuARmnyCpPXM8i4Ct9m/S/LTmVjhzGEA2/s/Hp+kAQ=='
  const bad: Array<[string, string, RegExp]> = [
    ['a plain-text password (mosquitto_passwd -U not run)', 'bob:secret', /not a mosquitto_passwd hash/],
    ['a line without a colon', 'bob', /expected user:hash/],
    ['an empty username', ':$6$c2FsdA==$' + 'A'.repeat(86) + '==', /empty username/],
    ['a $7$ without iterations', 'bob:$7$c2FsdA==$' + 'A'.repeat(86) + '==', /\$7\$<iterations>/],
    ['iterations 0', 'bob:$7$0$c2FsdA==$' + 'A'.repeat(86) + '==', /iteration count/],
    ['a salt that is not base64', 'bob:$6$sa!t$' + 'A'.repeat(86) + '==', /salt is not base64/],
    ['a hash of the wrong length', 'bob:$6$c2FsdA==$c2hvcnQ=', /64 bytes/],
    ['an unknown hash type', 'bob:$5$c2FsdA==$' + 'A'.repeat(86) + '==', /not a mosquitto_passwd hash/],
    ['a user listed twice', 'alice:$6$c2FsdA==$' + 'A'.repeat(86) + '==', /already on line 2/]
  ]
  for (const [what, line, message] of bad) {
    it(`${what} is an error naming its line`, () => {
      assert.throws(() => parsePasswordFile(`# users\n${good}\n${line}\n`), (err: unknown) => {
        assert.ok(err instanceof PasswordFileError, String(err))
        assert.equal(err.line, 3)
        assert.match(err.message, /^line 3: /)
        assert.match(err.message, message)
        return true
      })
    })
  }
})

describe('password file: timing', () => {
  it('an unknown user costs a hash verification like a known user (no username probing by timing)', async () => {
    // 200,000 iterations make one verification take tens of milliseconds, far above the noise.
    const salt = randomBytes(12)
    const hash = pbkdf2Sync('pw', salt, 200_000, 64, 'sha512')
    const file = parsePasswordFile(`slow:$7$200000$${salt.toString('base64')}$${hash.toString('base64')}\n`)
    const time = async (user: string): Promise<number> => {
      const start = process.hrtime.bigint()
      await file.check(user, Buffer.from('wrong'))
      return Number(process.hrtime.bigint() - start) / 1e6
    }
    const known = Math.min(await time('slow'), await time('slow'))
    const unknown = Math.min(await time('nobody'), await time('nobody'))
    assert.ok(unknown > known / 2, `unknown user took ${unknown.toFixed(1)} ms, a known one ${known.toFixed(1)} ms`)
  })
})
