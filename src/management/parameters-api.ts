// /api/parameters[/component[/vhost[/name]]] and /api/global-parameters, read-only, as RabbitMQ
// 3.10.8 lists them: Warren's runtime parameters are operator policies (component
// operator_policy) and vhost limits (component vhost-limits, name limits). Administrators only
// (RabbitMQ also lets policymakers read them in their vhosts). Set them through
// /api/operator-policies and /api/vhost-limits.
import type { FastifyInstance } from 'fastify';
import type { Broker } from '../server/broker.js';
import { vhostParameters } from './definitions.js';
import { notFound } from './http-errors.js';
import type { JsonObject } from './views.js';

type Params = { component?: string; vhost?: string; name?: string };

export function registerParametersApi(app: FastifyInstance, broker: Broker): void {
  const all = (): JsonObject[] => [...broker.vhosts.keys()].flatMap((v) => vhostParameters(broker, v));
  app.get('/api/global-parameters', async (req) => {
    req.authz.requireAdmin();
    return [];
  });
  app.get('/api/parameters', async (req) => {
    req.authz.requireAdmin();
    return all();
  });
  app.get<{ Params: Params }>('/api/parameters/:component', async (req) => {
    req.authz.requireAdmin();
    return all().filter((p) => p.component === req.params.component);
  });
  app.get<{ Params: Params }>('/api/parameters/:component/:vhost', async (req) => {
    req.authz.requireAdmin();
    if (!broker.vhosts.has(req.params.vhost ?? '')) throw notFound();
    return all().filter((p) => p.component === req.params.component && p.vhost === req.params.vhost);
  });
  app.get<{ Params: Params }>('/api/parameters/:component/:vhost/:name', async (req) => {
    req.authz.requireAdmin();
    const p = all().find((x) => x.component === req.params.component && x.vhost === req.params.vhost && x.name === req.params.name);
    if (!p) throw notFound();
    return p;
  });
}
