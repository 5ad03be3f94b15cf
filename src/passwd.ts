/**
 * `meshmq passwd`: manages a password file (`auth.passwordFile`) as `mosquitto_passwd` does, for
 * machines without mosquitto. The file is written to a temporary file beside it and renamed over
 * it (mode 0600 for a new file, the old mode kept otherwise), so a running node reloads a whole
 * file, never a half-written one.
 */
import { chmodSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { hashPassword, usernameProblem, withoutUser, withUser } from './core/auth/password-entry.js'

export interface PasswdCommand {
  file: string
  user: string
  /** `-c`: start a new file, replacing any there. */
  create: boolean
  /** `-D`: remove the user. */
  remove: boolean
  /** `-b PASSWORD`: the password on the command line (visible in `ps`). */
  password?: string
  /** `-I N`: PBKDF2 iterations. */
  iterations?: number
}

/** Reads a password: from a terminal twice without echo, else the first line of stdin. */
async function readPassword (): Promise<string> {
  const stdin = process.stdin
  if (!stdin.isTTY) {
    let text = ''
    for await (const chunk of stdin) {
      text += String(chunk)
      if (text.includes('\n')) break
    }
    return text.split(/\r?\n/)[0] ?? ''
  }
  const ask = async (prompt: string): Promise<string> => await new Promise(resolve => {
    process.stderr.write(prompt)
    stdin.setRawMode(true)
    stdin.resume()
    let typed = ''
    const onData = (chunk: Buffer): void => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') {
          stdin.off('data', onData)
          stdin.setRawMode(false)
          stdin.pause()
          process.stderr.write('\n')
          resolve(typed)
          return
        }
        if (char === '\u0003') process.exit(130)
        typed = char === '\u007f' ? typed.slice(0, -1) : typed + char
      }
    }
    stdin.on('data', onData)
  })
  const first = await ask('Password: ')
  const second = await ask('Reenter password: ')
  if (first !== second) throw new Error('the passwords do not match')
  return first
}

function readExisting (file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${file} does not exist (use -c to create it)`, { cause: err })
    throw err
  }
}

function writeAtomically (file: string, text: string): void {
  let mode = 0o600
  try {
    mode = statSync(file).mode & 0o777
  } catch {
    // A new file: owner only.
  }
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`)
  writeFileSync(temporary, text, { mode })
  chmodSync(temporary, mode)
  renameSync(temporary, file)
}

export async function runPasswd (command: PasswdCommand): Promise<number> {
  try {
    const problem = usernameProblem(command.user)
    if (problem !== undefined) throw new Error(problem)
    if (command.remove) {
      const text = withoutUser(readExisting(command.file), command.user)
      if (text === undefined) throw new Error(`user ${command.user} is not in ${command.file}`)
      writeAtomically(command.file, text)
      return 0
    }
    const base = command.create ? '' : readExisting(command.file)
    const password = command.password ?? await readPassword()
    if (password.length === 0) throw new Error('the password is empty')
    writeAtomically(command.file, withUser(base, command.user, await hashPassword(password, command.iterations)))
    return 0
  } catch (err) {
    process.stderr.write(`meshmq passwd: ${(err as Error).message}\n`)
    return 1
  }
}
