/**
 * Who a client is and what it may do: the identity a CONNECT establishes (with its transport),
 * the authenticator's decision on it, and the per-client authorizer sessions ask. Ports only: the
 * password file, JWT and ACL engines implement them.
 */

/** A verified TLS client certificate. */
export interface ClientCertificate {
  /** Subject CN, when the certificate has one. */
  commonName?: string
  /** The whole subject, `CN=…,O=…`. */
  subject: string
}

/** What a connection's transport tells about the client: which listener and, on TLS, its certificate. */
export interface TransportInfo {
  /** Listener the client connected to, `tcp:1883`, `tls:8883`, `ws:8083/mqtt`, … */
  listener: string
  /** TLS (tls, wss listeners). */
  secure: boolean
  /** Set only when the client presented a certificate the listener's CA verified. */
  certificate?: ClientCertificate
}

/** The plain TCP transport of the default listener. */
export function plainTransport (listener: string): TransportInfo {
  return { listener, secure: false }
}

/** Who a connected client is, as authentication established it (the ACL's `%c`, `%u` and claims). */
export interface ClientIdentity {
  clientId: string
  /** The username (after `useIdentityAsUsername` or a JWT's username claim); none when anonymous. */
  username?: string
  /**
   * True when a password file, JWT or certificate verified the username; an unverified one (no
   * method configured) names the client in logs and ACL patterns but owns no client id.
   */
  verified?: boolean
  /** CN of a verified client certificate. */
  certificateCommonName?: string
  /** String claims of a verified JWT (ACL pattern variables `%{claim}`). */
  claims?: Readonly<Record<string, string>>
}

/** What a CONNECT offers for authentication. */
export interface Credentials {
  clientId: string
  protocolVersion: 3 | 4 | 5
  username?: string
  password?: Buffer
  transport: TransportInfo
}

/**
 * An authenticator's answer. Refusals: `bad_credentials` (CONNACK 0x86 v5 / 0x04 v3.1.1),
 * `not_authorized` (0x87 / 0x05). `expiresAt` (ms since the epoch) closes the connection then
 * (a JWT's `exp`).
 */
export type AuthDecision =
  | { ok: true, identity: ClientIdentity, expiresAt?: number }
  | { ok: false, refusal: 'bad_credentials' | 'not_authorized', reason: string }

export interface Authenticator {
  authenticate: (credentials: Credentials, signal?: AbortSignal) => Promise<AuthDecision>
}

/** Lets every client in with the identity its CONNECT names (`auth` configured with nothing). */
export const ALLOW_ALL: Authenticator = {
  authenticate: async credentials => await Promise.resolve(identityOf(credentials))
}

/** The identity a CONNECT names: its client id, username and verified certificate CN. */
export function identityOf (credentials: Credentials): AuthDecision {
  const identity: ClientIdentity = { clientId: credentials.clientId }
  if (credentials.username !== undefined) identity.username = credentials.username
  if (credentials.transport.certificate?.commonName !== undefined) identity.certificateCommonName = credentials.transport.certificate.commonName
  return { ok: true, identity }
}

/** What one client may do with a topic. */
export type TopicAccess = 'publish' | 'subscribe' | 'read'

/**
 * One client's view of the ACL (its decisions cached per client). `read` is checked on each
 * message delivered to it (retained ones included), `subscribe` on each filter it subscribes,
 * `publish` on each message it publishes and on its will.
 */
export interface ClientAuthorizer {
  allows: (access: TopicAccess, topic: string) => boolean
}

/** Builds a client's authorizer from its identity; the broker holds one, sessions ask it at attach. */
export interface Authorization {
  forClient: (identity: ClientIdentity) => ClientAuthorizer
}

/** Allows everything: no ACL configured and `$SYS` writable. */
export const ALLOW_EVERYTHING: ClientAuthorizer = { allows: () => true }
