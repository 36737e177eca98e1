// rabbitmq_identity_info and rabbitmq_build_info, on every endpoint: what Grafana's dashboards
// join every query on (instance, job) to learn the node's and the cluster's names.
import { RABBITMQ_VERSION, VERSION } from '../server/server-properties.js';
import type { Family } from './exposition.js';
import { nodeName, type Snapshot } from './snapshot.js';

/** Which endpoint a scrape came from: RabbitMQ 4's rabbitmq_endpoint label. */
export type Endpoint = 'aggregated' | 'per-object' | 'detailed';

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
            // The global parameters cluster_name and internal_cluster_id, as RabbitMQ's.
            ['rabbitmq_cluster', s.broker.globalParameters.clusterName],
            ['rabbitmq_cluster_permanent_id', s.broker.globalParameters.clusterId()],
            ['rabbitmq_endpoint', endpoint],
          ],
          value: 1,
        },
      ],
    },
  ];
}
