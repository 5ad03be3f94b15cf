/**
 * `node.json` in a node's data directory: the node name, recorded on first start and immutable
 * after (`node-identity.ts` enforces that). `readRecordedNodeName` lets the entry point name a node
 * started without `--name` after its data directory, before the network starts.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { NODE_INFO_FILE } from './constants.js'

/** Content of `node.json`. */
export interface NodeInfoFile {
  name: string
  /** Epoch ms when the data directory was first used. */
  createdAt: number
}

/** Path of `node.json` in `dataDir`. */
export function nodeInfoPath (dataDir: string): string {
  return join(dataDir, NODE_INFO_FILE)
}

/** The name a `node.json` text records, or undefined when it is not JSON with a string `name`. */
export function recordedNameOf (text: string): string | undefined {
  let recorded: unknown
  try {
    recorded = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof recorded !== 'object' || recorded === null) return undefined
  const name = (recorded as { name?: unknown }).name
  return typeof name === 'string' ? name : undefined
}

/**
 * The node name `dataDir` records, or undefined when it records none readable: no directory, no
 * `node.json`, or a file that cannot be read or parsed (starting the network then reports that
 * file precisely, as `CorruptDataDirError` or the read error).
 */
export function readRecordedNodeName (dataDir: string): string | undefined {
  let text: string
  try {
    text = readFileSync(nodeInfoPath(dataDir), 'utf8')
  } catch {
    return undefined
  }
  return recordedNameOf(text)
}
