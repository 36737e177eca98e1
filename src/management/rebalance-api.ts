// POST /api/rebalance/queues, as RabbitMQ 3.10.8 answers it: administrators only, 204 at once, the
// queues moved afterwards (rabbit_amqqueue:rebalance runs asynchronously there too). On a single
// node there is nothing to move. In a cluster the node asks its cluster (ClusterView.rebalance).
import type { FastifyInstance } from 'fastify';
import type { Broker } from '../server/broker.js';

export function registerRebalanceApi(app: FastifyInstance, broker: Broker): void {
  app.post('/api/rebalance/queues', async (req, reply) => {
    req.authz.requireAdmin();
    const cluster = broker.cluster;
    if (cluster) {
      cluster.rebalance().catch((err: unknown) => broker.log.warn({ err }, 'queue rebalance failed'));
    }
    return reply.code(204).send();
  });
}
