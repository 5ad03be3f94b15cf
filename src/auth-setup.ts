/**
 * Builds the node's authenticator from `auth.*`: reads the password file and the JWT secret or
 * public key through WatchedFiles (reloaded when they change and by `reloadAuth()` / SIGHUP,
 * keeping the last good contents when a rewrite is broken) and returns them with the authenticator,
 * so the broker reloads and closes them. A file that cannot be read or parsed at start is a
 * ConfigError naming the key, the file and the line: the node does not start.
 */
import type { KeyObject } from 'node:crypto'
import type { BrokerConfig } from './core/config/config.js'
import { ConfigError } from './core/config/config-error.js'
import type { Logger } from './core/log.js'
import type { Authenticator } from './core/auth/identity.js'
import { ConfiguredAuthenticator, type AuthSources } from './core/auth/authenticator.js'
import { parsePasswordFile } from './core/auth/password-file.js'
import { checkKeyFits, parseJwtSecret, parsePublicKey, type JwtKeys } from './core/auth/jwt.js'
import { WatchedFile } from './watched-file.js'

/** A file the node reloads on request and stops watching when it stops (a WatchedFile). */
export interface ReloadableFile {
  reload: () => void
  close: () => void
}

export interface AuthSetup {
  authenticator: Authenticator
  /** The auth files read (password file, JWT secret / key), for `reloadAuth()` and stop. */
  files: ReloadableFile[]
}

/** Opens a WatchedFile; an unreadable or unparsable file at start is a ConfigError on `key`. */
function watch<T> (key: string, file: string, parse: (text: string) => T, log: Logger): WatchedFile<T> {
  try {
    return new WatchedFile(file, { key, parse, log, onReload: () => {} })
  } catch (err) {
    const message = (err as Error).message
    throw new ConfigError(key, message.startsWith(`${key}:`) ? message.slice(key.length + 2) : `'${file}': ${message}`)
  }
}

/** The authenticator `config.auth` describes, with the files it reads. */
export function setUpAuth (config: BrokerConfig, rootLog: Logger): AuthSetup {
  const { auth } = config
  const log = rootLog.child({ actor: 'auth' })
  const files: ReloadableFile[] = []
  const sources: AuthSources = { allowAnonymous: auth.allowAnonymous, useIdentityAsUsername: auth.useIdentityAsUsername }
  try {
    if (auth.passwordFile !== undefined) {
      const passwords = watch('auth.passwordFile', auth.passwordFile, parsePasswordFile, log)
      files.push(passwords)
      sources.passwords = () => passwords.current
    }
    const jwt = auth.jwt
    if (jwt !== undefined) {
      if (jwt.secret !== undefined && jwt.secretFile !== undefined) throw new ConfigError('auth.jwt.secretFile', 'set either auth.jwt.secret or auth.jwt.secretFile, not both')
      let secret: () => Uint8Array | undefined = () => undefined
      if (jwt.secret !== undefined) {
        const fixed = parseJwtSecretSetting(jwt.secret)
        secret = () => fixed
      } else if (jwt.secretFile !== undefined) {
        const file = watch('auth.jwt.secretFile', jwt.secretFile, parseJwtSecret, log)
        files.push(file)
        secret = () => file.current
      }
      let publicKey: () => KeyObject | undefined = () => undefined
      if (jwt.publicKeyFile !== undefined) {
        const file = watch('auth.jwt.publicKeyFile', jwt.publicKeyFile, text => {
          const key = parsePublicKey(text)
          checkKeyFits(key, jwt.algorithms)
          return key
        }, log)
        files.push(file)
        publicKey = () => file.current
      }
      const settings = { algorithms: jwt.algorithms, usernameClaim: jwt.usernameClaim, ...(jwt.issuer !== undefined ? { issuer: jwt.issuer } : {}), ...(jwt.audience !== undefined ? { audience: jwt.audience } : {}) }
      sources.jwt = {
        settings,
        keys: () => {
          const keys: JwtKeys = {}
          const s = secret()
          const k = publicKey()
          if (s !== undefined) keys.secret = s
          if (k !== undefined) keys.publicKey = k
          return keys
        }
      }
    }
  } catch (err) {
    for (const file of files) file.close()
    throw err
  }
  if (!auth.allowAnonymous && sources.passwords === undefined && sources.jwt === undefined && !auth.useIdentityAsUsername) {
    log.warn({ advice: 'set auth.passwordFile, auth.jwt or auth.useIdentityAsUsername, or auth.allowAnonymous true' }, 'no_authentication_method')
  }
  return { authenticator: new ConfiguredAuthenticator(sources), files }
}

function parseJwtSecretSetting (secret: string): Uint8Array {
  if (secret.length === 0) throw new ConfigError('auth.jwt.secret', 'the secret is empty')
  return Buffer.from(secret, 'utf8')
}
