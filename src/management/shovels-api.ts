// /api/shovels, as RabbitMQ 3.10.8's rabbitmq_shovel_management answers it: each dynamic shovel's
// state (running, or starting while it connects or waits to connect again) and, while running,
// the URIs it is connected to (without credentials) and its queues or exchanges. DELETE of a shovel
// deletes its parameter; DELETE of …/restart starts it again. The statuses come from the runtime
// parameter component 'shovel' (src/shovel/, a plugin the management API does not import).
import type { FastifyInstance } from 'fastify';
import type { Broker } from '../server/broker.js';
import type { ParameterStatus } from '../server/runtime-parameters.js';
import { notFound } from './http-errors.js';
import type { JsonObject } from './views.js';

const COMPONENT = 'shovel';
type Params = { vhost?: string; name?: string };

/** 3.10.8's timestamp: local time, the hour not zero-padded ("2026-12-05 3:44:07"). */
export function statusTimestamp(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${d.getHours()}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function shovelView(broker: Broker, s: ParameterStatus): JsonObject {
  return { node: broker.nodeName, timestamp: statusTimestamp(s.since), name: s.name, vhost: s.vhost, type: 'dynamic', state: s.state, ...Object.fromEntries(s.details) };
}

export function registerShovelsApi(app: FastifyInstance, broker: Broker): void {
  const statuses = (): ParameterStatus[] => broker.parameters.component(COMPONENT)?.status?.() ?? [];
  app.get('/api/shovels', async (req) => statuses().filter((s) => req.authz.seesObjectsIn(s.vhost)).map((s) => shovelView(broker, s)));
  app.get<{ Params: Params }>('/api/shovels/:vhost', async (req) => {
    const vhost = req.params.vhost ?? '';
    if (!broker.vhosts.has(vhost)) throw notFound();
    req.authz.readIn(vhost);
    return statuses()
      .filter((s) => s.vhost === vhost)
      .map((s) => shovelView(broker, s));
  });
  const one = (req: { params: Params; authz: { readIn(v: string): void } }): ParameterStatus => {
    const vhost = req.params.vhost ?? '';
    if (!broker.vhosts.has(vhost)) throw notFound();
    req.authz.readIn(vhost);
    const s = statuses().find((x) => x.vhost === vhost && x.name === req.params.name);
    if (!s) throw notFound();
    return s;
  };
  // 3.10.8 answers a single shovel as a list of one (its …/restart too, to a GET).
  app.get<{ Params: Params }>('/api/shovels/vhost/:vhost/:name', async (req) => [shovelView(broker, one(req))]);
  app.get<{ Params: Params }>('/api/shovels/vhost/:vhost/:name/restart', async (req) => [shovelView(broker, one(req))]);
  app.delete<{ Params: Params }>('/api/shovels/vhost/:vhost/:name', async (req, reply) => {
    const s = one(req);
    req.authz.requireAdmin();
    broker.parameters.clear(COMPONENT, s.vhost, s.name);
    await broker.store.flush();
    return reply.code(204).send();
  });
  app.delete<{ Params: Params }>('/api/shovels/vhost/:vhost/:name/restart', async (req, reply) => {
    const s = one(req);
    req.authz.requireAdmin();
    broker.parameters.component(COMPONENT)?.restart?.(s.vhost, s.name);
    return reply.code(204).send();
  });
}
