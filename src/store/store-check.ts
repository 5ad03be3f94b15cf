/**
 * Offline check and repair of a node's store (`meshmq ctl store check|repair`), run on the store
 * directory of a stopped node: another process holding it is a `StoreLockedError`.
 *
 * `checkStore` reads every record and decodes it with the codec of its kind (records.ts); a
 * record that does not decode, and a store whose files LevelDB cannot read, are problems. It reads
 * a copy of the store and leaves the store as it was: opening a
 * store makes LevelDB rewrite its log and delete the table files its MANIFEST does not list, which
 * after a cut MANIFEST are the tables a repair would recover. Such tables are a problem too.
 * `repairStore` runs LevelDB's own repair (which rebuilds the store from the tables and logs it
 * can read, setting the others aside in `lost/`), then deletes the records that do not decode,
 * and reports what is gone: the records per kind before and after, and the files set aside.
 */
import { constants, copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { LevelStore } from './level-store.js'
import {
  decodeAwaitingRel, decodeDelivery, decodeForwarded, decodeMembers, decodeRetained, decodeStoredSession, decodeSubscription, parseSequencedKey,
  parseSubscriptionKey, AWAITING_REL_PREFIX, DELIVERY_PREFIX, FORWARD_PREFIX, MEMBERS_KEY, RETAINED_PREFIX, SESSION_PREFIX, SUBSCRIPTION_PREFIX
} from './records.js'
import { StoreCorruptError, type StoreCheckReport } from './store.js'

export type RecordKind = 'session' | 'subscription' | 'awaiting' | 'delivery' | 'retained' | 'forwarded' | 'members' | 'unknown'

const KINDS: ReadonlyArray<{ prefix: string, kind: RecordKind, decode: (key: string, value: Uint8Array) => unknown }> = [
  { prefix: SESSION_PREFIX, kind: 'session', decode: (_key, value) => decodeStoredSession(value) },
  { prefix: SUBSCRIPTION_PREFIX, kind: 'subscription', decode: (key, value) => { parseSubscriptionKey(key); return decodeSubscription(value) } },
  { prefix: AWAITING_REL_PREFIX, kind: 'awaiting', decode: (_key, value) => decodeAwaitingRel(value) },
  { prefix: DELIVERY_PREFIX, kind: 'delivery', decode: (key, value) => { parseSequencedKey(key); return decodeDelivery(value) } },
  { prefix: RETAINED_PREFIX, kind: 'retained', decode: (_key, value) => decodeRetained(value) },
  { prefix: FORWARD_PREFIX, kind: 'forwarded', decode: (key, value) => { parseSequencedKey(key); return decodeForwarded(value) } },
  { prefix: MEMBERS_KEY, kind: 'members', decode: (_key, value) => decodeMembers(value) }
]

export type KindCounts = Record<RecordKind, number>

export interface UnreadableRecord {
  key: string
  kind: RecordKind
  reason: string
}

export interface StoreCheck extends StoreCheckReport {
  location: string
  /** Readable records per kind. */
  kinds: KindCounts
  unreadable: UnreadableRecord[]
  /** Set when LevelDB itself cannot read the store (the read stopped there). */
  corrupt?: string
}

export interface StoreRepair {
  location: string
  before: StoreCheck
  /** Whether LevelDB's repair ran (the store's files were damaged). */
  backendRepaired: boolean
  /** Files LevelDB's repair set aside (in `<store>/lost`): what they held is gone. */
  lostFiles: string[]
  /** Unreadable records deleted, per kind. */
  dropped: KindCounts
  after: StoreCheck
}

function emptyCounts (): KindCounts {
  return { session: 0, subscription: 0, awaiting: 0, delivery: 0, retained: 0, forwarded: 0, members: 0, unknown: 0 }
}

function kindOf (key: string): RecordKind {
  return KINDS.find(entry => key.startsWith(entry.prefix))?.kind ?? 'unknown'
}

function decodeRecord (key: string, value: Uint8Array): string | undefined {
  const entry = KINDS.find(candidate => key.startsWith(candidate.prefix))
  if (entry === undefined) return 'not a record kind the broker writes'
  try {
    entry.decode(key, value)
    return undefined
  } catch (err) {
    return (err as Error).message
  }
}

/** Reads and decodes every record of the store in `location` (from a copy: the store is left as it is). */
export async function checkStore (location: string): Promise<StoreCheck> {
  const report: StoreCheck = { location, ok: false, records: 0, problems: [], kinds: emptyCounts(), unreadable: [] }
  if (!existsSync(join(location, 'CURRENT')) && !existsSync(join(location, 'LOCK'))) {
    report.problems.push(`no store at ${location}`)
    return report
  }
  await LevelStore.assertUnlocked(location)
  const copy = copyStore(location)
  try {
    await readCopy(copy, report)
  } finally {
    rmSync(copy, { recursive: true, force: true })
  }
  report.ok = report.problems.length === 0
  return report
}

const TABLE = /\.(ldb|sst)$/

/**
 * A copy of the store beside it (reflinked where the file system can). Not hard links: after a
 * damaged MANIFEST, LevelDB may reuse the number of a table it does not know of for a new table.
 */
function copyStore (location: string): string {
  const copy = mkdtempSync(join(dirname(location), `.${basename(location)}-check-`))
  for (const file of readdirSync(location)) {
    if (file === 'LOCK' || file.startsWith('LOG') || file === 'lost') continue
    copyFileSync(join(location, file), join(copy, file), constants.COPYFILE_FICLONE)
  }
  return copy
}

/** The table files of a store with their sizes: a table is never changed once written. */
function tableFiles (location: string): Map<string, number> {
  return new Map(readdirSync(location).filter(file => TABLE.test(file)).map(file => [file, statSync(join(location, file)).size]))
}

async function readCopy (copy: string, report: StoreCheck): Promise<void> {
  const tables = tableFiles(copy)
  const store = new LevelStore(copy, { createIfMissing: false })
  try {
    await store.open()
  } catch (err) {
    if (!(err instanceof StoreCorruptError)) throw err
    corrupt(report, err)
    return
  }
  try {
    const left = tableFiles(copy)
    const unlisted = [...tables].filter(([file, size]) => left.get(file) !== size).map(([file]) => file)
    if (unlisted.length > 0) {
      report.corrupt = `table files not listed in the MANIFEST: ${unlisted.join(', ')}`
      report.problems.push(`${unlisted.length} table files are not listed in the store's MANIFEST (${unlisted.join(', ')}): the MANIFEST is damaged (or a compaction was cut short); the node would drop them when it starts, repair rebuilds the store from them`)
    }
    for await (const [key, value] of store.entries('')) {
      report.records++
      const reason = decodeRecord(key, value)
      if (reason === undefined) {
        report.kinds[kindOf(key)]++
      } else {
        report.unreadable.push({ key, kind: kindOf(key), reason })
        report.problems.push(`unreadable ${kindOf(key)} record ${JSON.stringify(key)}: ${reason}`)
      }
    }
  } catch (err) {
    if (!(err instanceof StoreCorruptError)) throw err
    corrupt(report, err)
  } finally {
    await store.close()
  }
}

function corrupt (report: StoreCheck, err: StoreCorruptError): StoreCheck {
  const detail = (err.cause as Error | undefined)?.message ?? err.message
  report.corrupt = detail
  report.problems.push(`the store's files are damaged (${detail}); read stopped after ${report.records} records`)
  report.ok = false
  return report
}

/** Repairs the store in `location`: LevelDB's repair when its files are damaged, then the unreadable records deleted. */
export async function repairStore (location: string): Promise<StoreRepair> {
  const before = await checkStore(location)
  const lostBefore = new Set(lostFiles(location))
  const repair: StoreRepair = { location, before, backendRepaired: false, lostFiles: [], dropped: emptyCounts(), after: before }
  if (before.ok || !existsSync(join(location, 'LOCK'))) return repair
  if (before.corrupt !== undefined) {
    await ClassicLevel.repair(location)
    repair.backendRepaired = true
    repair.lostFiles = lostFiles(location).filter(file => !lostBefore.has(file))
  }
  const store = new LevelStore(location, { createIfMissing: false })
  await store.open()
  try {
    const unreadable: UnreadableRecord[] = []
    for await (const [key, value] of store.entries('')) {
      const reason = decodeRecord(key, value)
      if (reason !== undefined) unreadable.push({ key, kind: kindOf(key), reason })
    }
    if (unreadable.length > 0) await store.write(unreadable.map(record => ({ type: 'del', key: record.key })), { sync: true })
    for (const record of unreadable) repair.dropped[record.kind]++
  } finally {
    await store.close()
  }
  repair.after = await checkStore(location)
  return repair
}

function lostFiles (location: string): string[] {
  try {
    return readdirSync(join(location, 'lost'))
  } catch {
    return []
  }
}
