/** An authenticator that lets everyone in (as `ALLOW_ALL`) and records the credentials it was asked about. */
import { identityOf, type AuthDecision, type Authenticator, type Credentials } from '../../src/core/auth/identity.js'

export class RecordingAuthenticator implements Authenticator {
  readonly seen: Credentials[] = []

  async authenticate (credentials: Credentials): Promise<AuthDecision> {
    this.seen.push(credentials)
    return await Promise.resolve(identityOf(credentials))
  }

  /** The credentials of the client with this id (the last CONNECT). */
  credentialsOf (clientId: string): Credentials | undefined {
    return this.seen.findLast(credentials => credentials.clientId === clientId)
  }
}
