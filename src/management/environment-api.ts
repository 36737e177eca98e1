// GET /api/environment (administrators): the settings this broker runs with, for `warren ctl
// environment` (rabbitmq-diagnostics environment prints a node's application environment).
// Only plain values; the default user's password is left out.
import type { FastifyInstance } from 'fastify';
import type { Broker } from '../server/broker.js';

const SECRET = new Set(['defaultPass']);

export function registerEnvironmentApi(app: FastifyInstance, broker: Broker, managementSettings: object): void {
  app.get('/api/environment', async (req) => {
    req.authz.requireAdmin();
    const out: Record<string, unknown> = {};
    for (const [k, v] of [...Object.entries(broker.options), ...Object.entries(managementSettings)]) {
      if (SECRET.has(k) || v === undefined) continue;
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || (Array.isArray(v) && v.every((x) => typeof x === 'string'))) out[k] = v;
    }
    return out;
  });
}
