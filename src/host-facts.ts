/**
 * What `loadConfig` needs to know about this host to name a node given none (`HostFacts`): its
 * network interfaces and the node name a data directory records. `meshmq start` and `meshmq ctl`
 * both use it, so ctl finds the data directory start would use.
 */
import { networkInterfaces } from 'node:os'
import { readRecordedNodeName } from '../network/node-info-file.js'
import type { HostFacts } from './core/config/config.js'

/** The host's network interfaces; none when the system will not list them (the node is then `meshmq@127.0.0.1`). */
function hostInterfaces (): ReturnType<typeof networkInterfaces> {
  try {
    return networkInterfaces()
  } catch {
    return {}
  }
}

/** This host's facts, with `onNameChosen` when given. */
export function hostFacts (onNameChosen?: HostFacts['onNameChosen']): HostFacts {
  return { interfaces: hostInterfaces(), recordedNodeName: readRecordedNodeName, ...(onNameChosen !== undefined ? { onNameChosen } : {}) }
}
