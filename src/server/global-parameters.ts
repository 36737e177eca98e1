// RabbitMQ's global runtime parameters: named JSON values of the whole broker (of the cluster, in a
// cluster), kept in the store. Two mean something: cluster_name, the name clients (connection.start),
// the management API and the metrics give the cluster, and internal_cluster_id, a random id made
// once, which the metrics carry as rabbitmq_cluster_permanent_id. Any other name is kept and listed,
// as 3.10.8 keeps it.
import { randomBytes } from 'node:crypto';
import type { JsonValue, StoredGlobalParameter, Store } from '../store/store.js';

export const CLUSTER_NAME_PARAMETER = 'cluster_name';
export const CLUSTER_ID_PARAMETER = 'internal_cluster_id';
/** The cluster's name while none is set (RabbitMQ's is the node's name; Warren's the same on every node). */
export const DEFAULT_CLUSTER_NAME = 'warren';

export class GlobalParameters {
  private readonly values = new Map<string, JsonValue>();

  constructor(private readonly store: Store) {}

  /** Takes the parameters of the store (at start, before anything reads them). */
  restore(stored: readonly StoredGlobalParameter[]): void {
    for (const p of stored) this.values.set(p.name, p.value);
  }

  get(name: string): JsonValue | undefined {
    if (name === CLUSTER_ID_PARAMETER) this.clusterId();
    return this.values.get(name);
  }

  /** Sets a parameter; persist false: one a cluster's other node set (already stored). True when it is new. */
  set(name: string, value: JsonValue, persist = true): boolean {
    const isNew = !this.values.has(name);
    this.values.set(name, value);
    if (persist) this.store.putDefinition('globalParameter', name, { name, value });
    return isNew;
  }

  /** False when there was none. */
  clear(name: string, persist = true): boolean {
    if (!this.values.delete(name)) return false;
    if (persist) this.store.deleteDefinition('globalParameter', name);
    return true;
  }

  /** Every parameter, by name (as /api/global-parameters lists them). */
  list(): StoredGlobalParameter[] {
    this.clusterId();
    return [...this.values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, value]) => ({ name, value }));
  }

  /** cluster_name when set to a string; the default otherwise. */
  get clusterName(): string {
    const v = this.values.get(CLUSTER_NAME_PARAMETER);
    return typeof v === 'string' ? v : DEFAULT_CLUSTER_NAME;
  }

  /**
   * internal_cluster_id, made (and stored) the first time it is asked for: the broker asks at start,
   * once the store (a cluster's shared topology) is loaded. Nodes of a new cluster starting at the
   * same moment may each make one; the last written wins on every node.
   */
  clusterId(): string {
    const v = this.values.get(CLUSTER_ID_PARAMETER);
    if (typeof v === 'string') return v;
    const id = `rabbitmq-cluster-id-${randomBytes(16).toString('base64url')}`;
    this.set(CLUSTER_ID_PARAMETER, id);
    return id;
  }
}
