/**
 * The cluster secret a node runs with, settled at start (wiring, not core: it reads a file):
 * `cluster.secretFile` is read here (its trailing newline ignored; an empty or unreadable file is a
 * config error), and `cluster.requireSecret` refuses to start while the secret is still the
 * public default.
 */
import { readFileSync } from 'node:fs'
import { ConfigError, DEFAULT_CLUSTER_SECRET, type BrokerConfig } from './core/config/config.js'

/** The text of a secret file without its trailing line breaks; ConfigError naming `key` when unreadable or empty. */
export function readSecretFile (path: string, key: string): string {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(key, `cannot read secret file '${path}': ${(err as Error).message}`)
  }
  const secret = text.replace(/[\r\n]+$/, '')
  if (secret === '') throw new ConfigError(key, `secret file '${path}' is empty`)
  return secret
}

/**
 * The config with `cluster.secret` taken from `cluster.secretFile` when that is set. Throws a
 * ConfigError on `cluster.requireSecret` when the secret is the public default.
 */
export function settleClusterSecret (config: BrokerConfig): BrokerConfig {
  const { cluster } = config
  const secret = cluster.secretFile === undefined ? cluster.secret : readSecretFile(cluster.secretFile, 'cluster.secretFile')
  if (cluster.requireSecret && secret === DEFAULT_CLUSTER_SECRET) {
    throw new ConfigError('cluster.requireSecret', `the cluster secret is the public default '${DEFAULT_CLUSTER_SECRET}': set MESHMQ_CLUSTER_SECRET, cluster.secretFile (--secret-file FILE) or cluster.secret to a private value`)
  }
  return secret === cluster.secret ? config : { ...config, cluster: { ...cluster, secret } }
}
