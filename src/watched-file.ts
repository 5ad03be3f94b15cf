/**
 * A configuration file the node reloads when it changes (the password file, the ACL file, a JWT
 * key): read once at start, where an error stops the node, then again when the file is written,
 * replaced (editors and `mosquitto_passwd` rename a new file over it) or `reload()` is called
 * (SIGHUP). A reload that fails keeps the last good contents and is logged.
 */
import { readFileSync, watch, type FSWatcher } from 'node:fs'
import path from 'node:path'
import type { Logger } from './core/log.js'

/** A watched file could not be read at start. */
export class WatchedFileError extends Error {
  override name = 'WatchedFileError'
  constructor (readonly file: string, readonly key: string, cause: unknown) {
    super(`${key}: cannot read '${file}': ${(cause as Error).message}`, { cause })
  }
}

export interface WatchedFileOptions<T> {
  /** The config key naming the file, for messages (`auth.passwordFile`). */
  key: string
  /** Turns the file's text into what the node uses; throws on contents it cannot accept. */
  parse: (text: string) => T
  /** Told the new value after each successful reload (not the first load). */
  onReload: (value: T) => void
  log: Logger
  /** Changes within this many milliseconds are read once. Default 100. */
  settleMs?: number
}

export class WatchedFile<T> {
  /** The value of the last good read. */
  current: T
  private text: string
  private watcher: FSWatcher | undefined
  private timer: NodeJS.Timeout | undefined

  /** Reads and parses the file; throws a WatchedFileError when it cannot be read, or parse's error. */
  constructor (readonly file: string, private readonly options: WatchedFileOptions<T>) {
    try {
      this.text = readFileSync(file, 'utf8')
    } catch (err) {
      throw new WatchedFileError(file, options.key, err)
    }
    this.current = options.parse(this.text)
    // The directory is watched, not the file: a file renamed over the old one keeps being seen.
    try {
      this.watcher = watch(path.dirname(file), { persistent: false }, (_event, name) => {
        if (name === null || name === path.basename(file)) this.schedule()
      })
      this.watcher.on('error', err => options.log.warn({ key: options.key, file, err: err.message }, 'watched_file_watch_failed'))
    } catch (err) {
      options.log.warn({ key: options.key, file, err: (err as Error).message }, 'watched_file_watch_failed')
    }
  }

  /** Reads the file again now (SIGHUP); unchanged contents are not parsed again. */
  reload (): void {
    let text: string
    try {
      text = readFileSync(this.file, 'utf8')
    } catch (err) {
      this.options.log.warn({ key: this.options.key, file: this.file, err: (err as Error).message }, 'watched_file_reload_failed')
      return
    }
    if (text === this.text) return
    let value: T
    try {
      value = this.options.parse(text)
    } catch (err) {
      this.options.log.warn({ key: this.options.key, file: this.file, err: (err as Error).message }, 'watched_file_reload_failed')
      return
    }
    this.text = text
    this.current = value
    this.options.log.info({ key: this.options.key, file: this.file }, 'watched_file_reloaded')
    this.options.onReload(value)
  }

  close (): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.watcher?.close()
  }

  private schedule (): void {
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.reload()
    }, this.options.settleMs ?? 100)
    this.timer.unref()
  }
}
