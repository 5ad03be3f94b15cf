/**
 * Throwaway PKI for TLS tests and the TLS bench, made with /usr/bin/openssl in a temp directory:
 * a CA, a server certificate for 127.0.0.1 and localhost (subjectAltName), and client
 * certificates with a given CN, signed by that CA or by another one.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const OPENSSL = '/usr/bin/openssl'
/** P-256 keys: fast to generate and to handshake. */
const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

/** A certificate and its key, as files and as PEM. */
export interface CertificatePair {
  certFile: string
  keyFile: string
  cert: Buffer
  key: Buffer
}

/** A CA: its certificate and key. */
export interface CertificateAuthority extends CertificatePair {
  name: string
}

export interface TestCertificates {
  dir: string
  /** The CA that signed the server certificate and `client()` certificates. */
  ca: CertificateAuthority
  /** For 127.0.0.1 and localhost. */
  server: CertificatePair
  /** A client certificate with subject `CN=<commonName>,O=meshmq tests`, signed by `signer` (default the CA). */
  client: (commonName: string, signer?: CertificateAuthority) => Promise<CertificatePair>
  /** Another server certificate for 127.0.0.1 and localhost (its own key), signed by the CA: a renewal. */
  renewedServer: () => Promise<CertificatePair>
  /** Another CA, whose certificates the listeners do not trust. */
  otherCa: () => Promise<CertificateAuthority>
  /** Removes the directory. */
  remove: () => void
}

async function openssl (args: string[]): Promise<void> {
  await run(OPENSSL, args, { timeout: 20_000 })
}

function pair (certFile: string, keyFile: string): CertificatePair {
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) }
}

async function createCa (dir: string, name: string): Promise<CertificateAuthority> {
  const certFile = join(dir, `${name}.crt`)
  const keyFile = join(dir, `${name}.key`)
  await openssl(['req', '-x509', ...KEY_ARGS, '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  return { name, ...pair(certFile, keyFile) }
}

/** Issues a certificate named `file` for `subject` with the extensions in `extensions`, signed by `ca`. */
async function issue (dir: string, file: string, subject: string, extensions: string, ca: CertificateAuthority): Promise<CertificatePair> {
  const certFile = join(dir, `${file}.crt`)
  const keyFile = join(dir, `${file}.key`)
  const csrFile = join(dir, `${file}.csr`)
  const extFile = join(dir, `${file}.ext`)
  writeFileSync(extFile, extensions)
  await openssl(['req', '-new', ...KEY_ARGS, '-keyout', keyFile, '-out', csrFile, '-subj', subject])
  await openssl(['x509', '-req', '-in', csrFile, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', extFile])
  return pair(certFile, keyFile)
}

/** Generates the CA and the server certificate; the caller removes the directory (`remove`). */
export async function createTestCertificates (): Promise<TestCertificates> {
  const dir = mkdtempSync(join(tmpdir(), 'meshmq-certs-'))
  try {
    const ca = await createCa(dir, 'meshmq-test-ca')
    const server = await issue(dir, 'server', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n', ca)
    let issued = 0
    let renewed = 0
    let other: CertificateAuthority | undefined
    return {
      dir,
      ca,
      server,
      renewedServer: async () => await issue(dir, `server-${++renewed}`, '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n', ca),
      client: async (commonName, signer = ca) => await issue(dir, `client-${++issued}`, `/O=meshmq tests/CN=${commonName}`, 'extendedKeyUsage=clientAuth\n', signer),
      otherCa: async () => {
        other ??= await createCa(dir, 'other-ca')
        return other
      },
      remove: () => { rmSync(dir, { recursive: true, force: true }) }
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
}
