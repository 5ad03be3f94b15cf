/**
 * The node's persistent identity in its data directory: `libp2p.key` (the libp2p private key, so
 * the peer id survives restarts) and `node.json` (the node name, immutable once recorded).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { PRIVATE_KEY_FILE } from './constants.js'
import { CorruptDataDirError, NodeNameMismatchError } from './errors.js'
import { nodeInfoPath, recordedNameOf, type NodeInfoFile } from './node-info-file.js'

/**
 * Loads (or creates) the identity of node `name` in `dataDir`. Without a data directory the key is
 * ephemeral. Throws `NodeNameMismatchError` if the directory belongs to another name.
 */
export async function loadNodeIdentity (name: string, dataDir?: string): Promise<PrivateKey> {
  if (dataDir === undefined) return await generateKeyPair('Ed25519')
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  await claimNodeName(name, dataDir)
  return await loadPrivateKey(join(dataDir, PRIVATE_KEY_FILE))
}

async function claimNodeName (name: string, dataDir: string): Promise<void> {
  const path = nodeInfoPath(dataDir)
  const text = await readIfExists(path)
  if (text === undefined) {
    const info: NodeInfoFile = { name, createdAt: Date.now() }
    await writeAtomically(path, JSON.stringify(info, null, 2) + '\n', 0o644)
    return
  }
  const recordedName = recordedNameOf(text)
  if (recordedName === undefined) throw new CorruptDataDirError(path)
  if (recordedName !== name) throw new NodeNameMismatchError(dataDir, recordedName, name)
}

async function loadPrivateKey (path: string): Promise<PrivateKey> {
  const bytes = await readIfExists(path, null)
  if (bytes !== undefined) {
    try {
      return privateKeyFromProtobuf(bytes)
    } catch (err) {
      throw new CorruptDataDirError(path, { cause: err })
    }
  }
  const key = await generateKeyPair('Ed25519')
  await writeAtomically(path, privateKeyToProtobuf(key), 0o600)
  return key
}

async function readIfExists (path: string): Promise<string | undefined>
async function readIfExists (path: string, encoding: null): Promise<Buffer | undefined>
async function readIfExists (path: string, encoding: 'utf8' | null = 'utf8'): Promise<string | Buffer | undefined> {
  try {
    return encoding === null ? await readFile(path) : await readFile(path, encoding)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** Write to a temporary file then rename, so a crash never leaves a half-written identity. */
async function writeAtomically (path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`
  await writeFile(temporary, data, { mode })
  await rename(temporary, path)
}
