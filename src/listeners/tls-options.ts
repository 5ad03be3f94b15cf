/**
 * The TLS side of the `tls` and `wss` listeners: the server options from a listener's PEM files,
 * and what a connection's verified client certificate tells about the client.
 */
import { readFile } from 'node:fs/promises'
import type tls from 'node:tls'
import type { ListenerConfig } from '../core/config/schema.js'
import type { ClientCertificate, TransportInfo } from '../core/auth/identity.js'

/** A listener's PEM file that cannot be read. */
export class ListenerFileError extends Error {
  constructor (readonly listener: string, readonly key: 'certFile' | 'keyFile' | 'caFile', readonly file: string, cause: unknown) {
    super(`listener ${listener}: cannot read ${key} ${file}: ${(cause as Error).message}`, { cause })
    this.name = 'ListenerFileError'
  }
}

async function readPem (listener: string, key: 'certFile' | 'keyFile' | 'caFile', file: string): Promise<Buffer> {
  try {
    return await readFile(file)
  } catch (err) {
    throw new ListenerFileError(listener, key, file, err)
  }
}

/**
 * Server options from the entry's certFile, keyFile and caFile (read now: at start). With a CA
 * the server asks clients for a certificate; `requireClientCert` refuses the handshake of one
 * without a certificate the CA signed. `handshakeTimeoutMs` bounds a handshake that stalls.
 */
export async function serverTlsOptions (entry: ListenerConfig, listener: string, handshakeTimeoutMs: number): Promise<tls.TlsOptions> {
  if (entry.certFile === undefined || entry.keyFile === undefined) throw new ListenerFileError(listener, 'certFile', '(none)', new Error('a TLS listener needs certFile and keyFile'))
  const options: tls.TlsOptions = {
    cert: await readPem(listener, 'certFile', entry.certFile),
    key: await readPem(listener, 'keyFile', entry.keyFile),
    handshakeTimeout: handshakeTimeoutMs,
    requestCert: false,
    rejectUnauthorized: false
  }
  if (entry.caFile !== undefined) {
    options.ca = await readPem(listener, 'caFile', entry.caFile)
    options.requestCert = true
    options.rejectUnauthorized = entry.requireClientCert ?? false
  }
  return options
}

/**
 * Serves new handshakes of `server` with the entry's certificate files read again; the old ones
 * stay in force when a file cannot be read or the new certificate and key do not go together.
 */
export async function reloadServerCertificates (server: tls.Server, entry: ListenerConfig, listener: string): Promise<void> {
  const { cert, key, ca } = await serverTlsOptions(entry, listener, 0)
  server.setSecureContext(ca === undefined ? { cert, key } : { cert, key, ca })
}

/** `CN=…,O=…` from a certificate subject (a field may repeat: each value is listed). */
function subjectText (subject: Record<string, string | string[]>): string {
  const parts: string[] = []
  for (const [key, value] of Object.entries(subject)) {
    for (const one of Array.isArray(value) ? value : [value]) parts.push(`${key}=${one}`)
  }
  return parts.join(',')
}

/** The client's certificate when the listener's CA verified it (`socket.authorized`), else undefined. */
export function verifiedCertificate (socket: tls.TLSSocket): ClientCertificate | undefined {
  if (!socket.authorized) return undefined
  const peer = socket.getPeerCertificate()
  // Without a certificate, Node returns an empty object.
  if (Object.keys(peer).length === 0) return undefined
  const subject = peer.subject as unknown as Record<string, string | string[]> | undefined
  if (subject === undefined) return undefined
  const certificate: ClientCertificate = { subject: subjectText(subject) }
  const cn = subject.CN
  const commonName = Array.isArray(cn) ? cn[0] : cn
  if (commonName !== undefined) certificate.commonName = commonName
  return certificate
}

/** A TLS connection's transport: the listener's, with the client's verified certificate when it has one. */
export function tlsTransport (listenerTransport: TransportInfo, socket: tls.TLSSocket): TransportInfo {
  const certificate = verifiedCertificate(socket)
  return certificate === undefined ? listenerTransport : { ...listenerTransport, certificate }
}
