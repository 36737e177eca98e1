// rabbitmqctl set_log_level over HTTP for `warren ctl` (RabbitMQ's CLI reaches the node by Erlang
// distribution; its HTTP API has no such call, so this path is Warren's own). Administrators only.
import type { FastifyInstance } from 'fastify';
import type { Broker } from '../server/broker.js';
import { badRequest } from './http-errors.js';
import { LOG_LEVELS, unsupportedLevel } from '../server/log-levels.js';

export function registerLogLevelApi(app: FastifyInstance, broker: Broker): void {
  app.put('/api/warren/log-level', async (req, reply) => {
    req.authz.requireAdmin();
    const level = ((req.body ?? {}) as Record<string, unknown>).level;
    const pinoLevel = typeof level === 'string' && Object.hasOwn(LOG_LEVELS, level) ? LOG_LEVELS[level]! : undefined;
    if (!pinoLevel) throw badRequest(unsupportedLevel(String(level)));
    broker.setLogLevel(pinoLevel);
    return reply.code(204).send();
  });
}
