/**
 * The layers hold: imports point one way only. The core is pure; actors, network and listeners
 * import only the core (and their own folder); the wiring in `src/` composes everything. The web
 * dashboard (`web/`, run in a browser) is apart: it imports only its own folder and browser packages,
 * and nothing imports it (the node serves its bundle as files).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The project root: this file runs from dist/test/. */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

type Layer = 'core' | 'actors' | 'network' | 'listeners' | 'wiring' | 'web'

/** Which layers each layer may import from (besides packages). */
const ALLOWED: Record<Layer, readonly Layer[]> = {
  core: ['core'],
  actors: ['core', 'actors'],
  network: ['core', 'network'],
  listeners: ['core', 'listeners'],
  wiring: ['core', 'actors', 'network', 'listeners', 'wiring'],
  web: ['web']
}

/** Packages a layer must not use: the core is pure; each runtime stays in its own layer. */
const FORBIDDEN_PACKAGES: Record<Layer, RegExp | undefined> = {
  core: /^(nact|libp2p|@libp2p\/|@chainsafe\/|node:net$|node:tls$|node:http$)/,
  actors: /^(libp2p|@libp2p\/|@chainsafe\/|node:net$|node:tls$)/,
  network: /^(nact|mqtt-packet)$/,
  listeners: /^(nact|libp2p|@libp2p\/|@chainsafe\/)/,
  wiring: undefined,
  web: /^(node:|nact$|libp2p|@libp2p\/|@chainsafe\/|fastify|pino|mqtt-packet$)/
}

function layerOf (path: string): Layer {
  if (path.startsWith('src/core/')) return 'core'
  if (path.startsWith('src/listeners/')) return 'listeners'
  if (path.startsWith('actors/')) return 'actors'
  if (path.startsWith('network/')) return 'network'
  if (path.startsWith('web/')) return 'web'
  return 'wiring'
}

function sourceFiles (dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(join(root, dir))) {
    const path = join(dir, entry)
    if (statSync(join(root, path)).isDirectory()) out.push(...sourceFiles(path))
    else if (path.endsWith('.ts')) out.push(path)
  }
  return out
}

/** Every module specifier a file imports or re-exports (static and dynamic). */
export function importsOf (text: string): string[] {
  const specifiers: string[] = []
  for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*'([^']+)'|(?:^|\n)\s*import\s*'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g)) {
    specifiers.push((match[1] ?? match[2] ?? match[3])!)
  }
  return specifiers
}

/** The layering violations of the tree: `file → import (rule)`. */
function violations (): string[] {
  const found: string[] = []
  for (const file of ['src', 'actors', 'network', 'web'].flatMap(sourceFiles)) {
    const from = layerOf(file)
    for (const specifier of importsOf(readFileSync(join(root, file), 'utf8'))) {
      if (specifier.startsWith('.')) {
        const target = relative(root, resolve(root, dirname(file), specifier))
        const to = layerOf(target)
        if (!ALLOWED[from].includes(to)) found.push(`${file} → ${specifier} (${from} may not import ${to})`)
      } else if (FORBIDDEN_PACKAGES[from]?.test(specifier) === true) {
        found.push(`${file} → ${specifier} (${from} may not use this package)`)
      }
    }
  }
  return found
}

describe('layering', () => {
  it('finds the imports of a file, static, side-effect and dynamic', () => {
    const text = "import a from './a.js'\nimport type { B } from '../b.js'\nimport './c.js'\nexport { d } from './d.js'\nconst e = await import('./e.js')\n"
    assert.deepEqual(importsOf(text), ['./a.js', '../b.js', './c.js', './d.js', './e.js'])
  })

  it('no file imports upward or sideways across layers', () => {
    assert.deepEqual(violations(), [])
  })
})
