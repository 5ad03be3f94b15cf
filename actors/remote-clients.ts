/**
 * The client registry's view of the other nodes: which client ids each holds a session for, as
 * the cluster replicates them (each node writes only its own set). Usually a client id lives on
 * one node; two hold it only for a moment (a concurrent connect, or after a partition) until the
 * conflict rule resolves it. Pure.
 */
export class RemoteClients {
  private readonly byNode = new Map<string, Set<string>>()
  private readonly nodesOf = new Map<string, Set<string>>()

  /** A node holding a session for `clientId` (the first by name when several do), or undefined. */
  ownerOf (clientId: string): string | undefined {
    const nodes = this.nodesOf.get(clientId)
    if (nodes === undefined) return undefined
    return [...nodes].sort()[0]
  }

  holds (node: string, clientId: string): boolean {
    return this.byNode.get(node)?.has(clientId) === true
  }

  change (node: string, added: readonly string[], removed: readonly string[]): void {
    for (const clientId of removed) this.remove(node, clientId)
    for (const clientId of added) this.add(node, clientId)
  }

  replace (node: string, clientIds: readonly string[]): void {
    for (const clientId of [...this.byNode.get(node) ?? []]) this.remove(node, clientId)
    for (const clientId of clientIds) this.add(node, clientId)
  }

  get size (): number {
    return this.nodesOf.size
  }

  private add (node: string, clientId: string): void {
    let ids = this.byNode.get(node)
    if (ids === undefined) this.byNode.set(node, ids = new Set())
    ids.add(clientId)
    let nodes = this.nodesOf.get(clientId)
    if (nodes === undefined) this.nodesOf.set(clientId, nodes = new Set())
    nodes.add(node)
  }

  private remove (node: string, clientId: string): void {
    const ids = this.byNode.get(node)
    if (ids?.delete(clientId) === true && ids.size === 0) this.byNode.delete(node)
    const nodes = this.nodesOf.get(clientId)
    if (nodes?.delete(node) === true && nodes.size === 0) this.nodesOf.delete(clientId)
  }
}
