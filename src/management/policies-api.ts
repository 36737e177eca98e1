// /api/policies, as RabbitMQ 3.10's management plugin answers it: every management user reads the
// policies of the vhosts it sees; administrators, and policymakers in vhosts they have permissions
// in, set and clear them. A change applies at once to the queues and exchanges it matches.
import type { FastifyInstance } from 'fastify';
import type { Broker } from '../server/broker.js';
import { PolicyError, parsePolicy, sortPolicies, type Policy } from '../server/policies.js';
import type { VHost } from '../server/vhost.js';
import { HttpError, badRequest, notFound } from './http-errors.js';

type Params = { vhost?: string; name?: string };

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

export function registerPolicyApi(app: FastifyInstance, broker: Broker): void {
  const vhostOf = (name: string | undefined): VHost => {
    const v = broker.vhosts.get(name ?? '');
    if (!v) throw notFound('Not Found');
    return v;
  };

  app.get('/api/policies', async (req) =>
    sortPolicies([...broker.vhosts.values()].filter((v) => req.authz.seesObjectsIn(v.name)).flatMap((v) => [...v.policies.values()])),
  );
  app.get<{ Params: Params }>('/api/policies/:vhost', async (req) => {
    const v = vhostOf(req.params.vhost);
    req.authz.readIn(v.name);
    return sortPolicies([...v.policies.values()]);
  });
  app.get<{ Params: Params }>('/api/policies/:vhost/:name', async (req) => {
    const v = vhostOf(req.params.vhost);
    if (!req.authz.seesObjectsIn(v.name)) throw new HttpError(401, 'not_authorised', 'User not authorised to access object');
    const p = v.policies.get(req.params.name ?? '');
    if (!p) throw notFound('Not Found');
    return p;
  });
  app.put<{ Params: Params; Body: unknown }>('/api/policies/:vhost/:name', async (req, reply) => {
    const v = broker.vhosts.get(req.params.vhost ?? '');
    if (!v) throw new HttpError(404, 'not_found', 'vhost_not_found');
    req.authz.changePolicyIn(v.name);
    if (!isRecord(req.body)) throw badRequest('not_json');
    let p: Policy;
    try {
      p = parsePolicy(v.name, req.params.name ?? '', req.body);
    } catch (e) {
      if (e instanceof PolicyError) throw badRequest(e.message);
      throw e;
    }
    const existed = v.policies.has(p.name);
    v.setPolicy(p.name, p);
    await broker.store.flush();
    return reply.code(existed ? 204 : 201).send();
  });
  app.delete<{ Params: Params }>('/api/policies/:vhost/:name', async (req, reply) => {
    const v = vhostOf(req.params.vhost);
    req.authz.changePolicyIn(v.name);
    if (!v.policies.has(req.params.name ?? '')) throw notFound('Not Found');
    v.setPolicy(req.params.name ?? '', null);
    await broker.store.flush();
    return reply.code(204).send();
  });
}
