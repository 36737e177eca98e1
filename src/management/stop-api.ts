// rabbitmqctl stop over HTTP for `warren ctl stop` (RabbitMQ's CLI reaches the node by Erlang
// distribution; its HTTP API has no such call, so this path is Warren's own). Administrators only.
// The answer goes out first; the broker stops once it is written (Broker.requestStop).
import type { FastifyInstance } from 'fastify';
import type { Broker } from '../server/broker.js';

export function registerStopApi(app: FastifyInstance, broker: Broker): void {
  app.post('/api/warren/stop', async (req, reply) => {
    req.authz.requireAdmin();
    reply.raw.once('finish', () => broker.requestStop());
    return reply.code(204).send();
  });
}
