/**
 * The node's Authorization from its `auth` config: with `auth.aclFile`, the mosquitto ACL file,
 * watched and reloaded when it changes (a file that does not parse stops the node at start, and is
 * ignored on reload: the last good rules stay); without one, everything is allowed but publishing
 * under `$SYS/` (unless `auth.allowSysPublish`).
 */
import type { AuthConfig } from './core/config/schema.js'
import type { Logger } from './core/log.js'
import type { Authorization } from './core/auth/identity.js'
import { AclFileError, parseAclFile, type AclFile } from './core/auth/acl-file.js'
import { AclAuthorization, withoutAclFile } from './core/auth/acl.js'
import { WatchedFile } from './watched-file.js'

export interface AclSetup {
  authorization: Authorization
  /** The watched ACL file, if any (reloaded on SIGHUP with the node's other auth files; closed when it stops). */
  files: Array<WatchedFile<AclFile>>
}

/** Throws WatchedFileError when the file cannot be read, AclFileError (naming the file and line) when it does not parse. */
export function setUpAcl (auth: AuthConfig, log: Logger): AclSetup {
  const settings = { allowSysPublish: auth.allowSysPublish, cacheSize: auth.aclCacheSize, cacheBytes: auth.aclCacheBytes }
  const path = auth.aclFile
  if (path === undefined) return { authorization: withoutAclFile(auth.allowSysPublish), files: [] }
  const authorization = new AclAuthorization({ anonymous: [], users: new Map(), patterns: [] }, settings)
  const file = new WatchedFile<AclFile>(path, {
    key: 'auth.aclFile',
    parse: text => parseNamed(text, path),
    onReload: acl => { authorization.replace(acl) },
    log
  })
  authorization.replace(file.current)
  log.info({ file: path, users: file.current.users.size, patterns: file.current.patterns.length }, 'acl_loaded')
  return { authorization, files: [file] }
}

function parseNamed (text: string, path: string): AclFile {
  try {
    return parseAclFile(text)
  } catch (err) {
    if (err instanceof AclFileError) throw new AclFileError(err.line, err.detail, path)
    throw err
  }
}
