// Installs dependencies, compiles TypeScript and bundles the web dashboard (scripts/build-web.mjs)
// when needed, so `npm start`, `npm test` and `npm run bench` work on a fresh clone with only Node.js and npm.
import { execFileSync } from 'node:child_process'
import { existsSync, lstatSync, statSync, readdirSync, rmSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

function newest (path) {
  if (!existsSync(path)) return 0
  const st = statSync(path)
  if (!st.isDirectory()) return st.mtimeMs
  let max = st.mtimeMs
  for (const entry of readdirSync(path)) max = Math.max(max, newest(join(path, entry)))
  return max
}

// npm ci also applies patches/*.patch (the `postinstall` script runs patch-package), so a changed
// patch counts like a changed lock file.
const installed = join(root, 'node_modules', '.package-lock.json')
const patchesDir = join(root, 'patches')
const patches = existsSync(patchesDir) ? readdirSync(patchesDir).filter(f => f.endsWith('.patch')).map(f => newest(join(patchesDir, f))) : []
const wanted = Math.max(newest(join(root, 'package-lock.json')), ...patches)
const modules = join(root, 'node_modules')
// A node_modules that is a symbolic link is another checkout's (a git worktree sharing it): npm ci
// would empty that checkout's folder through the link, so it is left alone.
const shared = existsSync(modules) && lstatSync(modules).isSymbolicLink()
if (shared && (!existsSync(installed) || wanted > newest(installed))) {
  console.error('[meshmq] node_modules is a link to another checkout\'s: not reinstalling it (run npm ci there if its lock file changed)')
} else if (!existsSync(installed) || wanted > newest(installed)) {
  console.error('[meshmq] installing dependencies (npm ci)')
  execFileSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' })
}

const sources = Math.max(...['src', 'actors', 'network', 'test', 'bench', 'web', 'tsconfig.json', 'scripts/build-web.mjs'].map(p => newest(join(root, p))))
const stamp = join(root, 'dist', '.build-stamp')
if (!existsSync(stamp) || sources > newest(stamp)) {
  console.error('[meshmq] compiling TypeScript')
  // A clean output tree: a moved or deleted source must not leave a stale module (or test) behind.
  rmSync(join(root, 'dist'), { recursive: true, force: true })
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' })
  execFileSync(process.execPath, [join(root, 'scripts', 'build-web.mjs')], { cwd: root, stdio: 'inherit' })
  execFileSync(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(stamp)}, String(Date.now()))`])
}
