/** A configuration value breaks its key's rules; `key` is the dotted config key (or `config` for the file itself). */
export class ConfigError extends Error {
  override name = 'ConfigError'
  readonly key: string

  constructor (key: string, message: string) {
    super(`${key}: ${message}`)
    this.key = key
  }
}
