// What the core and the management plugin may know of a cluster the node belongs to, without
// importing it (src/cluster/ implements it; a single node has none).
export interface ClusterMember {
  name: string;
  running: boolean;
  /** ms since the node started, as it reported. */
  startedAt: number;
  host: string;
  amqpPort: number;
  managementPort: number;
  /** The NATS server beside it. */
  server: string;
}

export interface ClusterView {
  /** This node's name. */
  readonly name: string;
  nodes(): ClusterMember[];
  /**
   * Moves replicated queues from the running nodes that own more than their share to the others
   * (RabbitMQ's queue rebalance: POST /api/rebalance/queues); resolves once it has tried.
   */
  rebalance(): Promise<void>;
}

/**
 * Whether this node runs a cluster-wide singleton (a shovel, a federation link): a node alone does;
 * in a cluster, the running node whose name sorts first.
 */
export function runsSingletons(cluster: ClusterView | null): boolean {
  if (!cluster) return true;
  const names = cluster
    .nodes()
    .filter((n) => n.running)
    .map((n) => n.name)
    .sort();
  return (names[0] ?? cluster.name) === cluster.name;
}
