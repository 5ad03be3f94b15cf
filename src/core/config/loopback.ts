/** Whether a listen address is reachable only from this host. */

/**
 * True for loopback addresses (`127.0.0.0/8`, `::1`, `localhost`); false for every other address,
 * the wildcards `0.0.0.0` and `::` included.
 */
export function isLoopbackHost (host: string): boolean {
  const lower = host.toLowerCase()
  if (lower === 'localhost' || lower === '::1' || lower === '[::1]') return true
  if (lower.startsWith('::ffff:')) return isLoopbackHost(lower.slice('::ffff:'.length))
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(lower)
}
