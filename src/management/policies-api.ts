// /api/policies and /api/operator-policies, as RabbitMQ 3.10's management plugin answers them:
// every management user reads the policies of the vhosts it sees; administrators, and policymakers
// in vhosts they have permissions in, set and clear policies; only administrators operator
// policies. A change applies at once to the queues and exchanges it matches.
import type { FastifyInstance } from 'fastify';
import type { Broker } from '../server/broker.js';
import { PolicyError, parsePolicy, sortPolicies, type Policy } from '../server/policies.js';
import type { VHost } from '../server/vhost.js';
import type { ApiAuthz } from './authz.js';
import { HttpError, badRequest, notFound } from './http-errors.js';

type Params = { vhost?: string; name?: string };

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

export function registerPolicyApi(app: FastifyInstance, broker: Broker): void {
  registerKind(app, broker, '/api/policies', false);
  registerKind(app, broker, '/api/operator-policies', true);
}

function registerKind(app: FastifyInstance, broker: Broker, base: string, operator: boolean): void {
  const policiesOf = (v: VHost): Map<string, Policy> => (operator ? v.operatorPolicies : v.policies);
  const mayChange = (a: ApiAuthz, vhost: string): void => (operator ? a.requireAdmin() : a.changePolicyIn(vhost));
  const vhostOf = (name: string | undefined): VHost => {
    const v = broker.vhosts.get(name ?? '');
    if (!v) throw notFound('Not Found');
    return v;
  };

  app.get(base, async (req) =>
    sortPolicies([...broker.vhosts.values()].filter((v) => req.authz.seesObjectsIn(v.name)).flatMap((v) => [...policiesOf(v).values()])),
  );
  app.get<{ Params: Params }>(`${base}/:vhost`, async (req) => {
    const v = vhostOf(req.params.vhost);
    req.authz.readIn(v.name);
    return sortPolicies([...policiesOf(v).values()]);
  });
  app.get<{ Params: Params }>(`${base}/:vhost/:name`, async (req) => {
    const v = vhostOf(req.params.vhost);
    if (!req.authz.seesObjectsIn(v.name)) throw new HttpError(401, 'not_authorised', 'User not authorised to access object');
    const p = policiesOf(v).get(req.params.name ?? '');
    if (!p) throw notFound('Not Found');
    return p;
  });
  // Operator policies take JSON only (3.10.8: 415 otherwise); policies any content type.
  app.put<{ Params: Params; Body: unknown }>(`${base}/:vhost/:name`, { config: { body: operator ? 'json' : 'any' } }, async (req, reply) => {
    if (operator) req.authz.requireAdmin();
    const v = broker.vhosts.get(req.params.vhost ?? '');
    if (!v) throw new HttpError(404, 'not_found', 'vhost_not_found');
    mayChange(req.authz, v.name);
    if (!isRecord(req.body)) throw badRequest('not_json');
    let p: Policy;
    try {
      p = parsePolicy(v.name, req.params.name ?? '', req.body, operator);
    } catch (e) {
      if (e instanceof PolicyError) throw badRequest(e.message);
      throw e;
    }
    const existed = policiesOf(v).has(p.name);
    v.setPolicy(p.name, p, true, operator);
    await broker.store.flush();
    return reply.code(existed ? 204 : 201).send();
  });
  app.delete<{ Params: Params }>(`${base}/:vhost/:name`, async (req, reply) => {
    if (operator) req.authz.requireAdmin();
    const v = vhostOf(req.params.vhost);
    mayChange(req.authz, v.name);
    if (!policiesOf(v).has(req.params.name ?? '')) throw notFound('Not Found');
    v.setPolicy(req.params.name ?? '', null, true, operator);
    await broker.store.flush();
    return reply.code(204).send();
  });
}
