// Bundles the web dashboard (web/) into dist/web/ with esbuild: minified ES modules with
// content-hashed names (MQTT.js in a chunk of its own, loaded when the watch panel connects),
// one stylesheet, and index.html from web/page.html naming them. The node serves dist/web/ at `/`.
import { build } from 'esbuild'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'dist', 'web')
// Only the files of an earlier bundle go: tsc puts web/src modules the tests import under dist/web/src/.
mkdirSync(out, { recursive: true })
for (const entry of readdirSync(out, { withFileTypes: true })) if (entry.isFile()) rmSync(join(out, entry.name))

const result = await build({
  entryPoints: { app: join(root, 'web', 'src', 'main.ts') },
  bundle: true,
  format: 'esm',
  splitting: true,
  minify: true,
  target: ['es2022'],
  platform: 'browser',
  outdir: out,
  entryNames: '[name]-[hash]',
  chunkNames: 'chunk-[hash]',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning'
})

const outputs = Object.entries(result.metafile.outputs)
const entry = outputs.find(([, output]) => output.entryPoint !== undefined && output.entryPoint.endsWith('main.ts'))
if (entry === undefined) throw new Error('esbuild produced no entry script')
const css = entry[1].cssBundle
if (css === undefined) throw new Error('esbuild produced no stylesheet')
const page = readFileSync(join(root, 'web', 'page.html'), 'utf8')
  .replace('{{js}}', basename(entry[0]))
  .replace('{{css}}', basename(css))
writeFileSync(join(out, 'index.html'), page)

const sizes = outputs.map(([path, output]) => `${basename(path)} ${(output.bytes / 1024).toFixed(1)} KiB`)
console.error(`[meshmq] web dashboard: ${sizes.join(', ')}`)
