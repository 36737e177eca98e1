// rabbitmq_identity_info and rabbitmq_build_info, on every endpoint: what Grafana's dashboards
// join every query on (instance, job) to learn the node's and the cluster's names.
import { createHash } from 'node:crypto';
import { RABBITMQ_VERSION, VERSION } from '../server/server-properties.js';
import type { Family } from './exposition.js';
import { nodeName, type Snapshot } from './snapshot.js';

/** The cluster name Warren gives clients (server properties) and the management API. */
export const CLUSTER_NAME = 'warren';

/** Which endpoint a scrape came from: RabbitMQ 4's rabbitmq_endpoint label. */
export type Endpoint = 'aggregated' | 'per-object' | 'detailed';

/**
 * RabbitMQ keeps a random id in its database; Warren derives one from what names the cluster (a
 * single node: its name and data directory), so it stays the same across restarts.
 */
export function permanentId(s: Snapshot): string {
  const o = s.broker.options;
  const basis = s.broker.cluster ? CLUSTER_NAME : `${nodeName(s.broker)}\0${o.dataDir ?? ''}`;
  return `rabbitmq-cluster-id-${createHash('sha256').update(basis).digest('base64url').slice(0, 22)}`;
}

export function identityFamilies(s: Snapshot, endpoint: Endpoint): Family[] {
  return [
    {
      name: 'rabbitmq_build_info',
      type: 'untyped',
      help: 'RabbitMQ & Erlang/OTP version info',
      samples: [
        {
          labels: [
            ['rabbitmq_version', RABBITMQ_VERSION],
            ['prometheus_plugin_version', VERSION],
            ['product_name', 'Warren'],
            ['product_version', VERSION],
          ],
          value: 1,
        },
      ],
    },
    {
      name: 'rabbitmq_identity_info',
      type: 'untyped',
      help: 'RabbitMQ node & cluster identity info',
      samples: [
        {
          labels: [
            ['rabbitmq_node', nodeName(s.broker)],
            ['rabbitmq_cluster', CLUSTER_NAME],
            ['rabbitmq_cluster_permanent_id', permanentId(s)],
            ['rabbitmq_endpoint', endpoint],
          ],
          value: 1,
        },
      ],
    },
  ];
}
