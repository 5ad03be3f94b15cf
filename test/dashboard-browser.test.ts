/**
 * The web dashboard (issue 13) in a real browser: Debian's chromium, driven by playwright-core,
 * opens the page a node serves at `/` for a 3-node cluster of real node processes (static seeds on
 * loopback). It shows 3 nodes up; a node killed with SIGKILL shows as down within the
 * failure-detection bound (`cluster.peerTimeoutMs`, short here) plus a poll of the page; a message
 * a client publishes on another node appears in the watch panel (MQTT over the node's WebSocket
 * listener); the log tail shows the session events of a client that connected; a kick after the
 * confirm closes the client's connection on another node. Screenshots go to
 * test-output/dashboard/.
 *
 * Without /usr/bin/chromium the suite is skipped, or fails when `CI` is set (.ci/run installs it).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { MqttClient } from 'mqtt'
import { planCluster, startPlanned, waitForFullMesh } from './helpers/cluster.js'
import { SuiteCleanup } from './helpers/api-nodes.js'
import { connectClient } from './helpers/mqtt-client.js'
import type { NodeProcess } from './helpers/node-process.js'
import { freePorts } from './helpers/ports.js'
import { withTimeout } from './helpers/wait.js'

const CHROMIUM = '/usr/bin/chromium'
const PEER_TIMEOUT_MS = 1500
const HEARTBEAT_MS = 300
/** The page polls /api/v1/nodes once a second (web/src/main.ts). */
const PAGE_POLL_MS = 1000
/** A killed node must show as down within the failure-detection bound, two polls of the page and a margin for a busy machine. */
const DOWN_BOUND_MS = PEER_TIMEOUT_MS + HEARTBEAT_MS + 2 * PAGE_POLL_MS + 1500
const WAIT_MS = 15_000
/** Node 2's API wants this token. */
const TOKEN = 'dash2-api-token'
const OUTPUT = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'test-output', 'dashboard')

const chromiumMissing = !existsSync(CHROMIUM)
const inCi = (process.env.CI ?? '') !== '' && process.env.CI !== 'false'
const skip = chromiumMissing && !inCi ? `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the dashboard browser test` : false

/** A cleanup list the suite runs at its end, last added first. */
describe('web dashboard in chromium, 3-node cluster [issue 13]', { skip }, () => {
  const cleanup = new SuiteCleanup()
  let nodes: NodeProcess[] = []
  let browser: Browser | undefined
  let page: Page
  let url: string
  let tokenUrl: string
  const clients: MqttClient[] = []

  before(async () => {
    if (chromiumMissing) throw new Error(`${CHROMIUM} is missing and CI is set: .ci/run installs Debian's chromium`)
    const [http1, http2, http3, ws1] = await freePorts(4)
    const env = { MESHMQ_CLUSTER_PEER_TIMEOUT_MS: String(PEER_TIMEOUT_MS), MESHMQ_CLUSTER_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS) }
    const httpPorts = [http1!, http2!, http3!]
    const plan = await planCluster({
      prefix: 'dash',
      size: 3,
      perNode: i => ({
        args: ['--http-port', String(httpPorts[i])],
        env: i === 0
          ? { ...env, MESHMQ_LISTENERS: JSON.stringify([{ type: 'ws', host: '127.0.0.1', port: ws1 }]) }
          : i === 1 ? { ...env, MESHMQ_HTTP_TOKEN: TOKEN } : env
      })
    })
    const [launched] = await Promise.all([
      startPlanned(cleanup, plan),
      chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'], headless: true }).then(b => { browser = b })
    ])
    nodes = launched
    await waitForFullMesh(nodes, WAIT_MS)
    url = `http://127.0.0.1:${http1!}/`
    tokenUrl = `http://127.0.0.1:${http2!}/`
    page = await browser!.newPage({ viewport: { width: 1400, height: 1300 } })
    page.setDefaultTimeout(WAIT_MS)
    mkdirSync(OUTPUT, { recursive: true })
  })

  after(async () => {
    await browser?.close()
    await cleanup.run()
  })

  it('serves the page and its assets without the token, with content types and cache headers; 404 for anything else', async () => {
    const index = await fetch(url)
    assert.equal(index.status, 200)
    assert.match(index.headers.get('content-type') ?? '', /^text\/html/)
    assert.equal(index.headers.get('cache-control'), 'no-cache')
    const html = await index.text()
    const script = /src="\/assets\/([^"]+\.js)"/.exec(html)?.[1]
    assert.ok(script !== undefined, 'the page names its script')
    const asset = await fetch(`${url}assets/${script}`)
    assert.equal(asset.status, 200)
    assert.match(asset.headers.get('content-type') ?? '', /^text\/javascript/)
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/)
    assert.equal(asset.headers.get('content-encoding'), 'gzip', 'fetch accepts gzip')
    for (const path of ['assets/nothing.js', 'assets/..%2Fpackage.json', 'assets/%2e%2e%2f%2e%2e%2fpackage.json', '../package.json']) {
      assert.equal((await fetch(`${url}${path}`)).status, 404, path)
    }
  })

  it('serves the page of a node with a token without it, asks for the token, and then reads the API with it', async () => {
    assert.equal((await fetch(tokenUrl)).status, 200)
    assert.equal((await fetch(`${tokenUrl}api/v1/nodes`)).status, 401)
    const tokenPage = await browser!.newPage()
    try {
      await tokenPage.goto(tokenUrl)
      await tokenPage.locator('#token-form').waitFor({ state: 'visible' })
      await tokenPage.fill('#token-input', TOKEN)
      await tokenPage.click('#token-form button[type="submit"]')
      await tokenPage.locator('.node[data-state="up"]').nth(2).waitFor()
      assert.equal(await tokenPage.evaluate('sessionStorage.getItem("meshmq.apiToken")'), TOKEN)
      await tokenPage.locator('#watch-status', { hasText: 'This node has no ws or wss listener' }).waitFor()
    } finally {
      await tokenPage.close()
    }
  })

  it('shows the 3 nodes up, with their links', async () => {
    await page.goto(url)
    for (const node of nodes) await page.locator(`[data-node="${node.name}"][data-state="up"]`).waitFor()
    assert.equal(await page.locator('.node[data-state="up"]').count(), 3)
    // What the map and the rate chart read: each node's view of the others and its PUBLISH counters.
    const { data } = await (await fetch(`${url}api/v1/nodes`)).json() as { data: Array<{ name: string, sees: { up: string[], down: string[] }, messagesReceived: number, messagesSent: number }> }
    for (const view of data) {
      assert.deepEqual(view.sees, { up: nodes.map(node => node.name).filter(name => name !== view.name).sort(), down: [] }, view.name)
      assert.equal(typeof view.messagesReceived, 'number')
      assert.equal(typeof view.messagesSent, 'number')
    }
    await page.locator(`[data-node="${nodes[0]!.name}"] .link.connected, [data-node="${nodes[0]!.name}"] .link.backlog`).first().waitFor()
  })

  it('tails the log of the node: a client connecting shows its session events', async () => {
    await page.fill('#logs-form input[name="clientid"]', 'dash-sensor-')
    await page.click('#logs-toggle')
    await page.locator('#logs-status', { hasText: 'tailing' }).waitFor()
    for (let i = 0; i < 3; i++) {
      clients.push(await connectClient(cleanup, nodes[i % 3]!.mqttPort, { clientId: `dash-sensor-${i + 1}` }))
    }
    await page.locator('#logs-rows .row', { hasText: 'client_connected' }).first().waitFor()
  })

  it('shows a message a client publishes on another node in the watch panel', async () => {
    await page.fill('#watch-topic', 'sensors/#')
    await page.click('#watch-form button[type="submit"]')
    await page.locator('#watch-status', { hasText: 'watching sensors/#' }).waitFor()
    const publisher = clients[1]!
    const row = page.locator('#watch-rows .row[data-topic="sensors/hall/temp"]', { hasText: 'from-dash2' })
    // The page's subscription reaches the other node's route table within a moment: publish until the row appears.
    await withTimeout((async () => {
      for (let i = 0; !await row.isVisible(); i++) {
        publisher.publish('sensors/hall/temp', `21.${i} from-dash2`, { qos: 1 })
        await new Promise(resolve => setTimeout(resolve, 250))
      }
    })(), WAIT_MS, 'the published message in the watch panel')
    // Some traffic and retained state for the screenshot.
    for (let i = 0; i < 20; i++) clients[i % 3]!.publish(`sensors/room${i % 4}/temp`, String(20 + i / 10), { qos: 1, retain: i < 4 })
    await page.locator('#latency-chart canvas').waitFor()
    await page.click('#topics-form button[type="submit"]')
    await page.click('#clients-form button[type="submit"]')
    await page.locator('#clients-rows tr[data-clientid="dash-sensor-2"]', { hasText: nodes[1]!.name }).waitFor()
    await page.locator('#retained-rows tr', { hasText: 'sensors/room3/temp' }).waitFor()
    await page.screenshot({ path: join(OUTPUT, 'cluster-up.png'), fullPage: true })
  })

  it('kicks a client held by another node after a confirm: its connection closes and it leaves the list', async () => {
    const kicked = clients[1]!
    const closed = new Promise<void>(resolve => { kicked.once('close', () => { resolve() }) })
    page.once('dialog', dialog => { void dialog.accept() })
    await page.click('#clients-rows tr[data-clientid="dash-sensor-2"] button')
    await withTimeout(closed, WAIT_MS, 'the kicked client to be disconnected')
    await page.locator('#clients-rows tr[data-clientid="dash-sensor-2"]').waitFor({ state: 'detached' })
  })

  it('shows a node killed with SIGKILL as down within the failure-detection bound', async () => {
    const victim = nodes[2]!
    const started = Date.now()
    process.kill(victim.pid, 'SIGKILL')
    await page.locator(`[data-node="${victim.name}"][data-state="down"]`).waitFor({ timeout: DOWN_BOUND_MS })
    const elapsed = Date.now() - started
    assert.ok(elapsed <= DOWN_BOUND_MS, `down after ${elapsed} ms`)
    assert.equal(await page.locator('.node[data-state="up"]').count(), 2)
    await page.screenshot({ path: join(OUTPUT, 'node-down.png'), fullPage: true })
  })
})
