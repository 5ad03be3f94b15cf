/**
 * The start-up warning for a node open to anonymous clients from the network: `auth.allowAnonymous`
 * with a listener bound to a non-loopback address (`0.0.0.0` and `::` count).
 */
import { isLoopbackHost } from './control-server.js'

export const ANONYMOUS_EXPOSURE_ADVICE = 'clients without credentials can connect from the network: set auth.passwordFile (or auth.jwt) and auth.allowAnonymous false, or bind the listeners to 127.0.0.1'

/** The `anonymous_clients_allowed` warning's fields, or undefined when there is nothing to warn about. */
export function anonymousExposure (listeners: ReadonlyArray<{ name: string, host: string }>, allowAnonymous: boolean): { listeners: string[], advice: string } | undefined {
  if (!allowAnonymous) return undefined
  const exposed = listeners.filter(listener => !isLoopbackHost(listener.host))
  if (exposed.length === 0) return undefined
  return { listeners: exposed.map(listener => `${listener.name}@${listener.host}`), advice: ANONYMOUS_EXPOSURE_ADVICE }
}
