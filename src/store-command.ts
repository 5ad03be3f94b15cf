/**
 * `meshmq ctl store check|repair`: runs offline on the store of a stopped node, found as the other
 * ctl commands find a node (`--data-dir DIR`, else the data directory `meshmq start` would use with
 * `--node` as its name). A node still running holds the store: the command refuses. Exit code 0
 * when the store is (now) sound, 1 when check found problems or repair could not mend them.
 */
import type { Command } from './cli-args.js'
import { loadConfig } from './core/config/config.js'
import { hostFacts } from './host-facts.js'
import { storeDirectory } from './store/open-store.js'
import { checkStore, repairStore, type KindCounts, type StoreCheck, type StoreRepair } from './store/store-check.js'
import { StoreLockedError } from './store/store.js'

type CtlCommand = Extract<Command, { kind: 'ctl' }>

function dataDirOf (command: CtlCommand, env: NodeJS.ProcessEnv): string {
  if (command.dataDir !== undefined) return command.dataDir
  const config = loadConfig({ env, overrides: command.node === undefined ? {} : { node: { name: command.node } }, host: hostFacts() })
  return config.node.dataDir
}

export async function runStoreCommand (command: CtlCommand): Promise<number> {
  const location = storeDirectory(dataDirOf(command, process.env))
  try {
    if (command.args[1] === 'repair') {
      const repair = await repairStore(location)
      process.stdout.write(command.json ? JSON.stringify(repair) + '\n' : repairText(repair))
      return repair.after.ok ? 0 : 1
    }
    const check = await checkStore(location)
    process.stdout.write(command.json ? JSON.stringify(check) + '\n' : checkText(check))
    return check.ok ? 0 : 1
  } catch (err) {
    const advice = err instanceof StoreLockedError ? ': stop the node first (check and repair run on a stopped node\'s store)' : ''
    process.stderr.write(`meshmq ctl store: ${(err as Error).message}${advice}\n`)
    return 1
  }
}

/** Kinds shown even when none was read (the others only when some were). */
const ALWAYS_SHOWN = new Set(['session', 'delivery', 'retained', 'forwarded'])

function countsText (counts: KindCounts): string {
  return Object.entries(counts).filter(([kind, n]) => n > 0 || ALWAYS_SHOWN.has(kind)).map(([kind, n]) => `${n} ${kind}`).join(', ')
}

function checkText (check: StoreCheck): string {
  const lines = [`store ${check.location}: ${check.ok ? 'ok' : 'PROBLEMS FOUND'}`, `  records read: ${check.records} (${countsText(check.kinds)} readable)`]
  for (const problem of check.problems) lines.push(`  problem: ${problem}`)
  if (check.corrupt !== undefined || check.unreadable.length > 0) lines.push(`  run 'meshmq ctl store repair' on the same directory to repair it (what cannot be read is dropped)`)
  return lines.join('\n') + '\n'
}

function repairText (repair: StoreRepair): string {
  if (repair.before.ok) return `store ${repair.location}: ok, nothing to repair (${countsText(repair.before.kinds)})\n`
  const lines = [`store ${repair.location}: ${repair.after.ok ? 'repaired' : 'NOT REPAIRED'}`]
  lines.push(`  before: ${countsText(repair.before.kinds)} readable${repair.before.corrupt === undefined ? '' : ` (read stopped: ${repair.before.corrupt})`}`)
  if (repair.backendRepaired) {
    lines.push(`  LevelDB repair: ${repair.lostFiles.length === 0 ? 'no file set aside' : `files set aside in ${repair.location}/lost (their records are gone): ${repair.lostFiles.join(', ')}`}`)
  }
  const dropped = Object.values(repair.dropped).reduce((a, b) => a + b, 0)
  lines.push(`  unreadable records dropped: ${dropped}${dropped === 0 ? '' : ` (${countsText(repair.dropped)})`}`)
  lines.push(`  after: ${countsText(repair.after.kinds)}`)
  for (const problem of repair.after.problems) lines.push(`  problem left: ${problem}`)
  return lines.join('\n') + '\n'
}
