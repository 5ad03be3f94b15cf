/** The start-up warning for anonymous clients reachable from the network (`anonymous_clients_allowed`). */
import { it } from 'node:test'
import assert from 'node:assert/strict'
import { anonymousExposure, ANONYMOUS_EXPOSURE_ADVICE } from '../src/listener-exposure.js'

it('warns when anonymous clients are allowed on a listener bound beyond loopback (0.0.0.0 and :: count)', () => {
  const listeners = [
    { name: 'tcp:1883', host: '0.0.0.0' },
    { name: 'tls:8883', host: '127.0.0.1' },
    { name: 'ws:8083/mqtt', host: '::' },
    { name: 'wss:8084/mqtt', host: '192.0.2.10' },
    { name: 'tcp:1884', host: 'localhost' },
    { name: 'tcp:1885', host: '::1' }
  ]
  assert.deepEqual(anonymousExposure(listeners, true), {
    listeners: ['tcp:1883@0.0.0.0', 'ws:8083/mqtt@::', 'wss:8084/mqtt@192.0.2.10'],
    advice: ANONYMOUS_EXPOSURE_ADVICE
  })
  assert.match(ANONYMOUS_EXPOSURE_ADVICE, /auth\.passwordFile/)
  assert.match(ANONYMOUS_EXPOSURE_ADVICE, /auth\.allowAnonymous false/)
})

it('does not warn when anonymous clients are refused or every listener is loopback', () => {
  assert.equal(anonymousExposure([{ name: 'tcp:1883', host: '0.0.0.0' }], false), undefined)
  assert.equal(anonymousExposure([{ name: 'tcp:1883', host: '127.0.0.1' }, { name: 'tls:8883', host: 'localhost' }], true), undefined)
})
