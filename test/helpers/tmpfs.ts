/**
 * A small tmpfs for disk-full tests: mounted as root (the test is skipped with the reason
 * otherwise), unmounted when the test ends, with a ballast file (`ballast`) to delete to free space.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const TMPFS_BYTES = 1024 * 1024
export const BALLAST_BYTES = 256 * 1024

/** Mounts a tmpfs of `bytes` for the test; undefined (the test skipped) when it cannot. */
export function mountTmpfs (t: { after: (fn: () => void) => void, skip: (reason: string) => void }, bytes = TMPFS_BYTES, ballast = BALLAST_BYTES): string | undefined {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to mount a tmpfs')
    return undefined
  }
  const dir = mkdtempSync(join(tmpdir(), 'meshmq-full-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir], { stdio: 'pipe', timeout: 10_000 })
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    t.skip(`cannot mount a tmpfs: ${(err as Error).message.split('\n')[0] ?? ''}`)
    return undefined
  }
  t.after(() => {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe', timeout: 10_000 })
    rmSync(dir, { recursive: true, force: true })
  })
  writeFileSync(join(dir, 'ballast'), new Uint8Array(ballast))
  return dir
}
