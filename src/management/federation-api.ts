// /api/federation-links, as RabbitMQ 3.10.8's rabbitmq_federation_management answers it: each link
// of a federated exchange or queue (its upstream, status running, starting or error with the
// reason, the URI it is connected to without credentials). DELETE …/restart starts a link again. The links come
// from the runtime parameter component federation-upstream (src/federation/, a plugin the
// management API does not import).
import type { FastifyInstance } from 'fastify';
import type { Broker } from '../server/broker.js';
import type { ParameterStatus } from '../server/runtime-parameters.js';
import { notFound } from './http-errors.js';
import { statusTimestamp } from './shovels-api.js';
import type { JsonObject } from './views.js';

const COMPONENT = 'federation-upstream';
type Params = { vhost?: string; id?: string; node?: string };

function linkView(broker: Broker, s: ParameterStatus): JsonObject {
  return { node: broker.nodeName, ...Object.fromEntries(s.details), timestamp: statusTimestamp(s.since) };
}

export function registerFederationApi(app: FastifyInstance, broker: Broker): void {
  const links = (): ParameterStatus[] => broker.parameters.component(COMPONENT)?.status?.() ?? [];
  app.get('/api/federation-links', async (req) => links().filter((s) => req.authz.seesObjectsIn(s.vhost)).map((s) => linkView(broker, s)));
  app.get<{ Params: Params }>('/api/federation-links/:vhost', async (req) => {
    const vhost = req.params.vhost ?? '';
    if (!broker.vhosts.has(vhost)) throw notFound();
    req.authz.readIn(vhost);
    return links()
      .filter((s) => s.vhost === vhost)
      .map((s) => linkView(broker, s));
  });
  app.delete<{ Params: Params }>('/api/federation-links/vhost/:vhost/:id/:node/restart', async (req, reply) => {
    const vhost = req.params.vhost ?? '';
    if (!broker.vhosts.has(vhost)) throw notFound();
    req.authz.requireAdmin();
    if (!broker.parameters.component(COMPONENT)?.restart?.(vhost, req.params.id ?? '')) throw notFound();
    return reply.code(204).send();
  });
}
