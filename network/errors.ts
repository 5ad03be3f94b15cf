/** Typed failures of the cluster network: one class per failure, each with its `name` set. */

/** Naming failures are defined once, by the core rules every layer shares. */
export { InvalidNodeAddressError, InvalidNodeNameError } from '../src/core/config/node-name.js'

export class InvalidClusterSecretError extends Error {
  override name = 'InvalidClusterSecretError'
  constructor () {
    super('the cluster secret must be a non-empty string')
  }
}

/** The data directory belongs to a node with another name: node names are immutable. */
export class NodeNameMismatchError extends Error {
  override name = 'NodeNameMismatchError'
  constructor (readonly dataDir: string, readonly recordedName: string, readonly requestedName: string) {
    super(`data directory ${dataDir} belongs to node "${recordedName}"; refusing to start as "${requestedName}" ` +
      '(node names are immutable: start with the recorded name or use another data directory)')
  }
}

/** A file in the data directory cannot be read as what it should contain. */
export class CorruptDataDirError extends Error {
  override name = 'CorruptDataDirError'
  constructor (readonly path: string, options?: { cause?: unknown }) {
    super(`cannot read ${path}: the file is corrupt; move it away to start with a new identity`, options)
  }
}

/** A method that needs the running service was called before `start()` or after `stop()`. */
export class NotStartedError extends Error {
  override name = 'NotStartedError'
  constructor () {
    super('the cluster network is not started')
  }
}

/** `start()` on an instance that is running or was stopped (an instance runs once). */
export class AlreadyStartedError extends Error {
  override name = 'AlreadyStartedError'
  constructor () {
    super('the cluster network was already started (an instance runs once: create a new one to restart)')
  }
}

/** The node name is not a member this node knows. */
export class UnknownNodeError extends Error {
  override name = 'UnknownNodeError'
  constructor (readonly node: string) {
    super(`unknown cluster node "${node}"`)
  }
}

/** `forceLeave()` was asked to remove this node itself; `leave()` does that. */
export class CannotRemoveSelfError extends Error {
  override name = 'CannotRemoveSelfError'
  constructor (readonly node: string) {
    super(`"${node}" is this node: use leave() instead of forceLeave()`)
  }
}

/** `join()` could not connect to the target or the target refused this node. */
export class JoinFailedError extends Error {
  override name = 'JoinFailedError'
  constructor (readonly address: string, options?: { cause?: unknown }) {
    super(`could not join the cluster through ${address}: ${causeMessage(options?.cause)}`, options)
  }
}

export type HelloRejectReason = 'left' | 'removed' | 'name-conflict' | 'same-name' | 'stale-incarnation' | 'future-incarnation'

/** The remote node refused the hello exchange. */
export class HelloRejectedError extends Error {
  override name = 'HelloRejectedError'
  constructor (readonly reason: HelloRejectReason, readonly detail: string) {
    super(`hello rejected (${reason}): ${detail}`)
  }
}

/** A control message was refused: its sender may not say it (see `control-trust.ts`). */
export class ControlRefusedError extends Error {
  override name = 'ControlRefusedError'
  constructor (readonly reason: string, detail: string) {
    super(`control message refused (${reason}): ${detail}`)
  }
}

/** A frame on a cluster stream does not decode (defined with the wire formats, `src/core/wire/`). */
export { MalformedFrameError } from '../src/core/wire/wire-errors.js'

/** A request/response exchange on a direct stream failed or timed out. */
export class RequestFailedError extends Error {
  override name = 'RequestFailedError'
  constructor (readonly protocol: string, readonly node: string, options?: { cause?: unknown }) {
    super(`${protocol} request to ${node} failed: ${causeMessage(options?.cause)}`, options)
  }
}

/** The peer sent nothing on its forward link for longer than the peer timeout. */
export class PeerUnresponsiveError extends Error {
  override name = 'PeerUnresponsiveError'
  constructor (readonly node: string, readonly silentMs: number) {
    super(`peer ${node} silent for ${silentMs} ms`)
  }
}

/** A forward stream was refused: its sender is not the member behind the connection, or it is misaddressed. */
export class UnexpectedSenderError extends Error {
  override name = 'UnexpectedSenderError'
  constructor (readonly claimed: string, detail: string) {
    super(`forward stream from "${claimed}" refused: ${detail}`)
  }
}

/** A forward stream was superseded by a newer one from the same sender, or its link was closed. */
export class ForwardStreamClosedError extends Error {
  override name = 'ForwardStreamClosedError'
  constructor (readonly node: string, readonly reason: string) {
    super(`forward stream with ${node} closed: ${reason}`)
  }
}

/**
 * A hello exchange finished after every connection to its peer had closed: the peer is not taken
 * as up (no connection would tell this node it went down).
 */
export class HelloWithoutConnectionError extends Error {
  override name = 'HelloWithoutConnectionError'
  constructor (readonly node: string) {
    super(`hello of ${node} completed after its connections closed`)
  }
}

/** A connection is closed because its node left or was removed from the cluster. */
export class NodeRemovedError extends Error {
  override name = 'NodeRemovedError'
  constructor (readonly node: string) {
    super(`node ${node} left or was removed from the cluster`)
  }
}

function causeMessage (cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause)
}

/** A service request named a service this node does not serve. */
export class UnknownServiceError extends Error {
  override name = 'UnknownServiceError'
  constructor (readonly service: string) {
    super(`unknown cluster service "${service}"`)
  }
}

/** A member's handler of a service request failed; `message` is what it answered. */
export class ServiceError extends Error {
  override name = 'ServiceError'
  constructor (readonly node: string, readonly service: string, reason: string) {
    super(`service ${service} on ${node} failed: ${reason}`)
  }
}
