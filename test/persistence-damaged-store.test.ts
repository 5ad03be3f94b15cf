/**
 * A node on a damaged store: it does not start (exit 65) and says so, naming the recovery commands;
 * `meshmq ctl store repair` then lets it start with what the store still holds; a store another
 * process holds is refused (exit 75). Real processes, the LevelDB store on disk.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, truncateSync } from 'node:fs'
import { join } from 'node:path'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import { spawnBroker, tempDir } from './helpers/broker-process.js'
import { freePort } from './helpers/ports.js'
import { connectClient, endClient, type Cleanup } from './helpers/mqtt-client.js'

const MESHMQ = fileURLToPath(new URL('../../bin/meshmq.js', import.meta.url))

interface Run { code: number, stdout: string, stderr: string }

async function run (args: string[]): Promise<Run> {
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('MESHMQ_'))), MESHMQ_DISCOVERY: 'manual', MESHMQ_CLUSTER_PORT: '0' }
  return await new Promise(resolve => {
    execFile(process.execPath, [MESHMQ, ...args], { timeout: 20_000, env }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

function startArgs (dataDir: string, port: number): string[] {
  return ['start', '--name', 'damaged@127.0.0.1', '--data-dir', dataDir, '--port', String(port)]
}

/** A node that kept one persistent session (subscribed to `keep/#`) and one retained message, then stopped. */
async function nodeWithState (t: Cleanup): Promise<{ dataDir: string, port: number }> {
  const dataDir = tempDir(t, 'meshmq-damaged-')
  const port = await freePort()
  const node = spawnBroker(t, { args: startArgs(dataDir, port) })
  await node.waitForEvent('broker_started')
  const sub = await connectClient(t, port, { clientId: 'kept', clean: false })
  await sub.subscribeAsync('keep/#', { qos: 1 })
  await sub.publishAsync('keep/retained', 'r', { qos: 1, retain: true })
  await endClient(sub)
  await node.stop()
  return { dataDir, port }
}

describe('a damaged store', () => {
  it('stops the node with a clear message and exit 65; after ctl store repair it starts with its session', async t => {
    const { dataDir, port } = await nodeWithState(t)
    const location = join(dataDir, 'store')
    truncateSync(join(location, 'CURRENT'), 0)
    const refused = await run(startArgs(dataDir, port))
    assert.equal(refused.code, 65, refused.stderr)
    assert.match(refused.stderr, /cannot be read/)
    assert.match(refused.stderr, /meshmq ctl store check/)
    assert.match(refused.stderr, /meshmq ctl store repair/)
    assert.doesNotMatch(refused.stderr, /\n\s+at /, 'a message, not a stack trace')

    const repair = await run(['ctl', 'store', 'repair', '--data-dir', dataDir])
    assert.equal(repair.code, 0, repair.stderr + repair.stdout)
    const node = spawnBroker(t, { args: startArgs(dataDir, port) })
    const restored = await node.waitForEvent('store_restored')
    assert.equal(restored.sessions, 1)
    assert.equal(restored.retained, 1)
    await node.waitForEvent('broker_started')
    const back = mqtt.connect({ host: '127.0.0.1', port, clientId: 'kept', clean: false, reconnectPeriod: 0 })
    t.after(async () => { await back.endAsync(true) })
    const present = await new Promise<boolean>((resolve, reject) => {
      back.once('connect', packet => { resolve(packet.sessionPresent) })
      back.once('error', reject)
    })
    assert.equal(present, true)
  })

  it('refuses a store another process holds: exit 75, saying so', async t => {
    const dataDir = tempDir(t, 'meshmq-locked-')
    const node = spawnBroker(t, { args: startArgs(dataDir, await freePort()) })
    await node.waitForEvent('broker_started')
    const second = await run(startArgs(dataDir, await freePort()))
    assert.equal(second.code, 75, second.stderr)
    assert.match(second.stderr, /in use by another process/)
    assert.ok(readdirSync(join(dataDir, 'store')).includes('LOCK'))
  })
})
