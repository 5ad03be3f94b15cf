/**
 * The broker as operators run it: `meshmq <args>` as a child process (compiled
 * `dist/src/main.js`, or `src/main.ts` through tsx when the tests themselves run from TypeScript),
 * any command and flags, with the operator's environment. The process handling is
 * `MeshmqProcess`; this adds every stdout line as written, for commands that print text.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Cleanup } from './mqtt-client.js'
import { MeshmqProcess } from './meshmq-process.js'

export type { LogLine } from './meshmq-process.js'

const here = dirname(fileURLToPath(import.meta.url))
/** True when this module runs as TypeScript source (tsx), false when compiled into dist/. */
const fromSource = import.meta.url.endsWith('.ts')
/** The repository root: two levels up from test/helpers, three from dist/test/helpers. */
export const REPO_ROOT = fromSource ? join(here, '..', '..') : join(here, '..', '..', '..')

/** The node arguments that run the `meshmq` entry point. */
export function mainCommand (): string[] {
  return fromSource
    ? ['--import', 'tsx', join(REPO_ROOT, 'src', 'main.ts')]
    : [join(REPO_ROOT, 'dist', 'src', 'main.js')]
}

/** A temporary directory removed when the test ends. */
export function tempDir (t: Cleanup, prefix = 'meshmq-op-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export interface SpawnOptions {
  args: string[]
  /** Extra environment; `MESHMQ_DISCOVERY=manual`, `MESHMQ_CLUSTER_PORT=0` and `MESHMQ_HTTP_PORT=0` are always set. */
  env?: Record<string, string>
}

export class BrokerProcess extends MeshmqProcess {
  /** Every stdout line as written, JSON or not. */
  readonly rawStdout: string[] = []

  protected override onStdoutLine (text: string): void {
    if (text.trim() !== '') this.rawStdout.push(text)
  }
}

/** Starts `meshmq <args>` as a child process; it is stopped when the test ends. */
export function spawnBroker (t: Cleanup, options: SpawnOptions): BrokerProcess {
  const env = { ...process.env, MESHMQ_DISCOVERY: 'manual', MESHMQ_CLUSTER_PORT: '0', MESHMQ_HTTP_PORT: '0', ...options.env }
  const broker = new BrokerProcess(`meshmq ${options.args.join(' ')}`, process.execPath, [...mainCommand(), ...options.args], env)
  t.after(async () => { await broker.stop() })
  return broker
}
