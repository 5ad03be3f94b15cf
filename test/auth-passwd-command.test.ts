/**
 * `meshmq passwd` makes and edits the password file (`auth.passwordFile`) as mosquitto_passwd does,
 * on a machine without mosquitto: `$7$` entries a node accepts, other lines kept, the file replaced
 * whole (a running node reloads it), mode 0600 for a new file; and mosquitto_passwd, when it is
 * installed, edits the same file.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CODES, connectWith, startAuthBroker, tempDir } from './helpers/auth-broker.js'
import { setTimeout as sleep } from 'node:timers/promises'

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url))
const codes = CODES[5]

/** Runs `meshmq passwd ARGS` with `input` on stdin. */
function passwd (args: string[], input = ''): { status: number | null, stderr: string } {
  const run = spawnSync(process.execPath, [MAIN, 'passwd', ...args], { input, encoding: 'utf8', timeout: 20_000 })
  return { status: run.status, stderr: run.stderr }
}

/** The CONNACK code for `username` / `password`. */
async function codeFor (t: Parameters<typeof tempDir>[0], port: number, username: string, password: string): Promise<number> {
  return (await connectWith(t, port, 5, { username, password: Buffer.from(password) })).code
}

describe('meshmq passwd', () => {
  it('-c -b creates a 0600 file of $7$ entries a node accepts; a password from stdin adds a user and keeps the other lines', async t => {
    const file = join(tempDir(t), 'passwd')
    assert.equal(passwd(['-c', '-b', 'pw-alice', file, 'alice']).status, 0)
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.match(readFileSync(file, 'utf8'), /^alice:\$7\$101\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*\n$/)
    writeFileSync(file, '# operators\n' + readFileSync(file, 'utf8'))
    assert.equal(passwd([file, 'bob'], 'pw-bob\n').status, 0)
    const text = readFileSync(file, 'utf8')
    assert.ok(text.startsWith('# operators\nalice:$7$'), text)
    const { port } = await startAuthBroker(t, { passwordFile: file, allowAnonymous: false })
    assert.equal(await codeFor(t, port, 'alice', 'pw-alice'), codes.accepted)
    assert.equal(await codeFor(t, port, 'bob', 'pw-bob'), codes.accepted)
    assert.equal(await codeFor(t, port, 'bob', 'pw-alice'), codes.badCredentials)
  })

  it('a changed password and a removed user take effect on a running node without a restart', async t => {
    const file = join(tempDir(t), 'passwd')
    assert.equal(passwd(['-c', '-b', 'old', file, 'alice']).status, 0)
    assert.equal(passwd(['-b', 'pw-bob', file, 'bob']).status, 0)
    const { port } = await startAuthBroker(t, { passwordFile: file, allowAnonymous: false })
    assert.equal(await codeFor(t, port, 'alice', 'old'), codes.accepted)
    assert.equal(passwd(['-b', 'new', '-I', '1000', file, 'alice']).status, 0)
    assert.match(readFileSync(file, 'utf8'), /^alice:\$7\$1000\$/m)
    assert.equal(passwd(['-D', file, 'bob']).status, 0)
    assert.doesNotMatch(readFileSync(file, 'utf8'), /^bob:/m)
    // The node reloads the file within its settle time (100 ms) of the rename.
    const deadline = Date.now() + 5000
    while (await codeFor(t, port, 'alice', 'new') !== codes.accepted) {
      assert.ok(Date.now() < deadline, 'the new password accepted within 5 s')
      await sleep(100)
    }
    assert.equal(await codeFor(t, port, 'alice', 'old'), codes.badCredentials)
    assert.equal(await codeFor(t, port, 'bob', 'pw-bob'), codes.badCredentials)
  })

  it('refuses what it cannot do, with a message and exit code 1', t => {
    const dir = tempDir(t)
    const missing = passwd(['-b', 'x', join(dir, 'none'), 'alice'])
    assert.equal(missing.status, 1)
    assert.match(missing.stderr, /does not exist \(use -c to create it\)/)
    assert.match(passwd(['-c', '-b', 'x', join(dir, 'p'), 'a:b']).stderr, /may not contain ":"/)
    assert.match(passwd(['-D', join(dir, 'p'), 'alice']).stderr, /does not exist/)
    writeFileSync(join(dir, 'plain'), 'alice:plaintext\n')
    const bad = passwd(['-b', 'x', join(dir, 'plain'), 'bob'])
    assert.equal(bad.status, 1)
    assert.match(bad.stderr, /line 1/)
    assert.equal(readFileSync(join(dir, 'plain'), 'utf8'), 'alice:plaintext\n')
    assert.equal(passwd(['-c', join(dir, 'p'), 'alice'], '\n').status, 1)
  })

  it('mosquitto_passwd edits a file meshmq passwd made, and the node accepts both entries', async t => {
    if (spawnSync('mosquitto_passwd', ['-h']).error !== undefined) {
      t.skip('mosquitto_passwd is not installed')
      return
    }
    const file = join(tempDir(t), 'passwd')
    assert.equal(passwd(['-c', '-b', 'pw-alice', file, 'alice']).status, 0)
    assert.equal(spawnSync('mosquitto_passwd', ['-b', file, 'carol', 'pw-carol']).status, 0)
    const { port } = await startAuthBroker(t, { passwordFile: file, allowAnonymous: false })
    assert.equal(await codeFor(t, port, 'alice', 'pw-alice'), codes.accepted)
    assert.equal(await codeFor(t, port, 'carol', 'pw-carol'), codes.accepted)
  })
})
