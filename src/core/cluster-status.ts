/** Membership of the cluster as one node sees it, like EMQX `cluster status`: `[{running_nodes, [...]}, {stopped_nodes, [...]}]`. */
export interface ClusterStatus {
  /** Nodes up, this node included, sorted. */
  runningNodes: string[]
  /** Known nodes that are down, sorted. */
  stoppedNodes: string[]
}
