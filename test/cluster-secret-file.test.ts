/**
 * Keeping the cluster secret off the command line (issue 10): `--secret-file` (trailing newline
 * ignored; an empty file is a config error), `MESHMQ_CLUSTER_SECRET`, a warning for `--secret`,
 * `cluster.requireSecret` refusing the public default, and `$SYS/.../cluster/default_secret`.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ctlJson, waitForMembership } from './helpers/cluster.js'
import { connectClient, Inbox } from './helpers/mqtt-client.js'
import { launchNode, logEvent, NodeExitedError, startNode, type NodeProcess } from './helpers/node-process.js'
import { freePorts } from './helpers/ports.js'

/** A file holding `text` in a temporary directory removed when the test ends. */
function secretFile (t: { after: (fn: () => void) => void }, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshmq-secret-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'cluster.secret')
  writeFileSync(file, text, { mode: 0o600 })
  return file
}

/** The retained `$SYS/brokers/<node>/cluster/default_secret` value of a node. */
async function defaultSecretTopic (t: { after: (fn: () => unknown) => void }, node: NodeProcess): Promise<string> {
  const client = await connectClient(t, node.mqttPort, { clientId: `sys-${node.name.replace(/[^a-z0-9]/gi, '')}` })
  const inbox = new Inbox(client)
  const topic = `$SYS/brokers/${node.name}/cluster/default_secret`
  await client.subscribeAsync(topic)
  return (await inbox.waitForTopic(topic, 5_000)).payload.toString()
}

/** Resolves once `node` exits before starting, with its exit code and error output. */
async function refusedStart (node: NodeProcess): Promise<NodeExitedError> {
  try {
    await node.waitForLog(logEvent('broker_started'), { timeoutMs: 10_000 })
  } catch (err) {
    assert.ok(err instanceof NodeExitedError, String(err))
    return err
  }
  assert.fail(`${node.name} started`)
}

test('a node with --secret-file (trailing newline ignored) and one with MESHMQ_CLUSTER_SECRET hold the same secret: they join, neither warns, $SYS says default_secret false', async t => {
  const [clusterA, clusterB] = await freePorts(2)
  const file = secretFile(t, 'the-private-secret\n')
  const fromFile = await startNode(t, { name: 'sfile1@127.0.0.1', clusterPort: clusterA, args: ['--secret-file', file] })
  const fromEnv = await startNode(t, { name: 'sfile2@127.0.0.1', clusterPort: clusterB, env: { MESHMQ_CLUSTER_SECRET: 'the-private-secret' } })
  await ctlJson(fromEnv, 'cluster', 'join', `${fromFile.name}:${clusterA}`)
  await waitForMembership(fromFile, { running: [fromFile.name, fromEnv.name] }, 10_000)
  for (const node of [fromFile, fromEnv]) {
    assert.equal(node.logs.find(logEvent('cluster_default_secret')), undefined, `${node.name} does not warn of the default secret`)
    assert.equal(node.logs.find(logEvent('cluster_secret_on_command_line')), undefined, `${node.name} has no secret on its command line`)
    assert.equal((await ctlJson(node, 'cluster', 'status') as { default_secret: boolean }).default_secret, false)
  }
  assert.equal(await defaultSecretTopic(t, fromFile), 'false')
})

test('--secret S still works but warns cluster_secret_on_command_line; a node on the default secret publishes default_secret true', async t => {
  const [clusterA, clusterB] = await freePorts(2)
  const onCommandLine = await startNode(t, { name: 'sargs1@127.0.0.1', clusterPort: clusterA, args: ['--secret', 'visible-in-ps'] })
  const warning = await onCommandLine.waitForLog(logEvent('cluster_secret_on_command_line'), { timeoutMs: 1000 })
  assert.equal(warning.level, 'warn')
  assert.match(String(warning.advice), /--secret-file FILE.*MESHMQ_CLUSTER_SECRET/)
  assert.equal(JSON.stringify(warning).includes('visible-in-ps'), false, 'the warning does not repeat the secret')
  assert.equal(await defaultSecretTopic(t, onCommandLine), 'false')
  const onDefault = await startNode(t, { name: 'sdefault1@127.0.0.1', clusterPort: clusterB })
  assert.equal(await defaultSecretTopic(t, onDefault), 'true')
})

test('an empty --secret-file stops the node with exit code 78 naming cluster.secretFile', async t => {
  const [clusterPort] = await freePorts(1)
  const node = launchNode(t, { name: 'sempty1@127.0.0.1', clusterPort, args: ['--secret-file', secretFile(t, '\n')] })
  const failure = await refusedStart(node)
  assert.equal(failure.status.code, 78, failure.stderr)
  assert.match(failure.stderr, /invalid configuration: cluster\.secretFile: secret file '.*cluster\.secret' is empty/)
})

test('cluster.requireSecret refuses to start on the public default secret (exit 78) and starts with a secret file', async t => {
  const [clusterA, clusterB] = await freePorts(2)
  const onDefault = launchNode(t, { name: 'sreq1@127.0.0.1', clusterPort: clusterA, env: { MESHMQ_CLUSTER_REQUIRE_SECRET: 'true' } })
  const failure = await refusedStart(onDefault)
  assert.equal(failure.status.code, 78, failure.stderr)
  assert.match(failure.stderr, /invalid configuration: cluster\.requireSecret: the cluster secret is the public default/)
  const withFile = await startNode(t, { name: 'sreq2@127.0.0.1', clusterPort: clusterB, env: { MESHMQ_CLUSTER_REQUIRE_SECRET: 'true', MESHMQ_CLUSTER_SECRET_FILE: secretFile(t, 'private') } })
  assert.equal((await ctlJson(withFile, 'cluster', 'status') as { default_secret: boolean }).default_secret, false)
})
