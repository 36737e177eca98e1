// RabbitMQ's /api/vhost-limits and /api/user-limits: list, read, set one limit ({"value": N}) and
// clear it, with RabbitMQ 3.10.8's codes and bodies. Administrators only; the broker enforces
// them (server/limits.ts).
import type { FastifyInstance } from 'fastify';
import type { Broker } from '../server/broker.js';
import { checkLimitName, checkLimitValue, type LimitScope } from '../server/limits.js';
import { erlangTerm } from '../server/parameter-validation.js';
import type { JsonValue } from '../store/store.js';
import { HttpError, badRequest, notFound, requireKeys } from './http-errors.js';

type Params = { owner?: string; name?: string };

export function registerLimitsApi(app: FastifyInstance, broker: Broker): void {
  const list = (scope: LimitScope, only?: string): object[] => {
    const key = scope === 'vhost' ? 'vhost' : 'user';
    const m = scope === 'vhost' ? broker.limits.vhost : broker.limits.user;
    return [...m.entries()].filter(([n]) => only === undefined || n === only).map(([n, value]) => ({ [key]: n, value }));
  };
  const exists = (scope: LimitScope, name: string): boolean => (scope === 'vhost' ? broker.vhosts.has(name) : broker.access.users.has(name));

  const routes = (scope: LimitScope, base: string): void => {
    app.get(base, async (req) => {
      req.authz.requireAdmin();
      return list(scope);
    });
    app.get<{ Params: Params }>(`${base}/:owner`, async (req) => {
      req.authz.requireAdmin();
      const owner = req.params.owner ?? '';
      if (!exists(scope, owner)) throw notFound();
      return list(scope, owner);
    });
    app.put<{ Params: Params; Body: { value?: unknown } | null }>(`${base}/:owner/:name`, { config: { body: 'json' } }, async (req, reply) => {
      req.authz.requireAdmin();
      const owner = req.params.owner ?? '';
      const name = req.params.name ?? '';
      if (!exists(scope, owner)) {
        // RabbitMQ 3.10.8: 404 not_found vhost_not_found; 400 ["no_such_user", name] for a user.
        if (scope === 'vhost') throw new HttpError(404, 'not_found', 'vhost_not_found');
        throw badRequest(`no_such_user ${owner}`);
      }
      const body = req.body ?? {};
      requireKeys(body, ['value']);
      const bad = checkLimitName(scope, name, body.value);
      if (bad) throw badRequest(bad);
      const value = body.value;
      if (!checkLimitValue(value)) {
        // 3.10.8 takes numbers only (a string of digits is refused too), printed as Erlang terms,
        // and words the two scopes apart.
        const text = `${name} should be a number, actually was ${erlangTerm(value as JsonValue)}`;
        throw badRequest(scope === 'vhost' ? `Validation failed\n\n${text}\n` : text);
      }
      broker.limits.set(scope, owner, name, value);
      await broker.store.flush();
      return reply.code(204).send();
    });
    app.delete<{ Params: Params }>(`${base}/:owner/:name`, async (req, reply) => {
      req.authz.requireAdmin();
      const owner = req.params.owner ?? '';
      if (!exists(scope, owner)) throw notFound();
      broker.limits.clear(scope, owner, req.params.name ?? '');
      await broker.store.flush();
      return reply.code(204).send();
    });
  };
  routes('vhost', '/api/vhost-limits');
  routes('user', '/api/user-limits');
}
