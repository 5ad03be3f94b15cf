/**
 * The `listeners` configuration: the rules each entry must follow (as a ConfigError naming
 * `listeners`), the JSON environment variable, and certificate files that cannot be read at start.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig, startNode } from 'meshmq'
import { ListenerFileError } from '../src/listeners/tls-options.js'

function assertListenerProblem (listeners: unknown, ...parts: string[]): void {
  assert.throws(() => loadConfig({ env: {}, overrides: { listeners: listeners as [] } }), (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`)
    assert.equal(err.key, 'listeners')
    for (const part of parts) assert.ok(err.message.includes(part), `'${err.message}' lacks '${part}'`)
    return true
  })
}

describe('listeners config', () => {
  it('accepts each listener type with its own keys', () => {
    const listeners = [
      { type: 'tcp', host: '127.0.0.1', port: 1884 },
      { type: 'tls', port: 8883, certFile: '/etc/meshmq/server.crt', keyFile: '/etc/meshmq/server.key', caFile: '/etc/meshmq/ca.crt', requireClientCert: true },
      { type: 'ws', port: 8083 },
      { type: 'wss', port: 8084, certFile: '/c', keyFile: '/k', path: '/mqtt-secure' }
    ]
    assert.deepEqual(loadConfig({ env: {}, overrides: { listeners: listeners as [] } }).listeners, listeners)
  })

  it('reads MESHMQ_LISTENERS as JSON', () => {
    const config = loadConfig({ env: { MESHMQ_LISTENERS: '[{"type":"ws","port":8083,"path":"/ws"}]' } })
    assert.deepEqual(config.listeners, [{ type: 'ws', port: 8083, path: '/ws' }])
    assert.throws(() => loadConfig({ env: { MESHMQ_LISTENERS: '{"type":"ws"' } }), ConfigError)
  })

  it('refuses entries that break a rule, naming the entry and the rule', () => {
    assertListenerProblem({ type: 'tcp', port: 1 }, 'list')
    assertListenerProblem([{ type: 'quic', port: 1 }], 'entry 0', 'type must be one of tcp, tls, ws, wss')
    assertListenerProblem([{ type: 'tcp', port: 70000 }], 'entry 0', 'port')
    assertListenerProblem([{ type: 'tcp', port: 1, bind: 'x' }], 'unknown key bind')
    assertListenerProblem([{ type: 'ws', port: 1 }, { type: 'tls', port: 2, keyFile: '/k' }], 'entry 1', 'a tls listener needs certFile and keyFile')
    assertListenerProblem([{ type: 'wss', port: 2, certFile: '/c' }], 'a wss listener needs certFile and keyFile')
    assertListenerProblem([{ type: 'tcp', port: 2, certFile: '/c', keyFile: '/k' }], 'are for tls and wss listeners')
    assertListenerProblem([{ type: 'ws', port: 2, requireClientCert: true }], 'are for tls and wss listeners')
    assertListenerProblem([{ type: 'tls', port: 2, certFile: '/c', keyFile: '/k', requireClientCert: true }], 'requireClientCert needs caFile')
    assertListenerProblem([{ type: 'tls', port: 2, certFile: '/c', keyFile: '/k', requireClientCert: 'yes', caFile: '/a' }], 'requireClientCert must be true or false')
    assertListenerProblem([{ type: 'tls', port: 2, certFile: '/c', keyFile: '/k', path: '/mqtt' }], 'path is for ws and wss listeners')
    assertListenerProblem([{ type: 'ws', port: 2, path: 'mqtt' }], 'path must start with /')
    assertListenerProblem([{ type: 'ws', port: 2, host: '' }], 'host must be a non-empty string')
  })

  it('a certificate file that cannot be read fails the start, naming the listener and the file', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'meshmq-test-'))
    try {
      const config = {
        node: { dataDir },
        log: { level: 'silent' as const },
        cluster: { discovery: 'manual' as const, port: 0 },
        listener: { host: '127.0.0.1', port: 0 },
        listeners: [{ type: 'tls' as const, host: '127.0.0.1', port: 0, certFile: '/nonexistent/server.crt', keyFile: '/nonexistent/server.key' }]
      }
      await assert.rejects(startNode(config), (err: unknown) => {
        assert.ok(err instanceof ListenerFileError, String(err))
        assert.equal(err.key, 'certFile')
        assert.match(err.message, /listener tls:0: cannot read certFile \/nonexistent\/server\.crt/)
        return true
      })
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
