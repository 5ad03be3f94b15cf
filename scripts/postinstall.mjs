// npm `postinstall`: applies patches/ (the nact run-queue patch, see patches/README.md) with
// patch-package. patch-package patches node_modules/<pkg> under this package's own directory:
// that is where nact is after `npm ci` in a checkout and after `npm install -g meshmq`. When meshmq
// is installed as a dependency of another project, npm usually hoists nact out of this directory;
// the patch is then not applied (meshmq runs correctly on stock nact, with its per-message costs)
// and this script says so instead of failing the install.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

if (!existsSync(join(root, 'node_modules', 'nact', 'package.json'))) {
  console.error('[meshmq] nact is installed outside meshmq\'s own node_modules: patches/nact+7.6.2.patch not applied (see patches/README.md)')
} else {
  const patchPackage = join(dirname(createRequire(join(root, 'package.json')).resolve('patch-package/package.json')), 'index.js')
  execFileSync(process.execPath, [patchPackage, '--error-on-fail'], { cwd: root, stdio: 'inherit' })
}
