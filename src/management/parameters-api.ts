// /api/parameters[/component[/vhost[/name]]] and /api/global-parameters, as RabbitMQ 3.10.8
// answers them. Warren's runtime parameters are operator policies (component operator_policy),
// vhost limits (component vhost-limits, name limits), and the components plugins register
// (shovel, federation-upstream, federation-upstream-set; runtime-parameters.ts): listed, read, set
// (PUT {"value": …}: 201 created, 204 updated) and cleared (DELETE: 204, 404 when there is none).
// Any other component is one whose plugin Warren does not have: its lists are empty, and a PUT is
// refused as 3.10.8 refuses it without that plugin (400 "Validation failed\n\ncomponent X not found\n").
// Global parameters (cluster_name, internal_cluster_id, any other) are listed, read, set and
// cleared as 3.10.8 does, and /api/cluster-name reads and sets cluster_name.
// Administrators only (RabbitMQ also lets policymakers at them in their vhosts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Broker } from '../server/broker.js';
import { CLUSTER_NAME_PARAMETER } from '../server/global-parameters.js';
import type { JsonValue } from '../store/store.js';
import { checkLimitName, checkLimitValue } from '../server/limits.js';
import { PolicyError, parsePolicy } from '../server/policies.js';
import { ParameterError } from '../server/runtime-parameters.js';
import type { ApiAuthz } from './authz.js';
import { vhostParameters } from './definitions.js';
import { HttpError, badRequest, notFound, requireKeys } from './http-errors.js';
import type { JsonObject } from './views.js';

/** A JSON value as RabbitMQ's messages print it (binaries as <<"…">>; not HTML-escaped). */
const erlang = (x: unknown): string => (typeof x === 'string' ? `<<"${x}">>` : JSON.stringify(x));
/** The management API escapes these in the reasons of /api/parameters (not in /api/vhost-limits'). */
const htmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

type Params = { component?: string; vhost?: string; name?: string };

/** 3.10.8 answers a user who may not use parameters "User not authorised to access object". */
function onlyAdmin(a: ApiAuthz): void {
  if (!a.isAdmin) throw new HttpError(401, 'not_authorised', 'User not authorised to access object');
}

export function registerParametersApi(app: FastifyInstance, broker: Broker): void {
  const all = (): JsonObject[] => [...broker.vhosts.keys()].flatMap((v) => vhostParameters(broker, v));
  // ---- global parameters (global-parameters.ts), and cluster_name's own route
  const globals = broker.globalParameters;
  app.get('/api/global-parameters', async (req) => {
    onlyAdmin(req.authz);
    return globals.list();
  });
  app.get<{ Params: Params }>('/api/global-parameters/:name', async (req) => {
    onlyAdmin(req.authz);
    const name = req.params.name ?? '';
    const value = globals.get(name);
    if (value === undefined) throw notFound();
    // 3.10.8's order: the value first.
    return { value, name };
  });
  app.put<{ Params: Params; Body: unknown }>('/api/global-parameters/:name', async (req, reply) => {
    onlyAdmin(req.authz);
    if (!isRecord(req.body)) throw badRequest('not_json');
    requireKeys(req.body, ['value']);
    const created = globals.set(req.params.name ?? '', req.body.value as JsonValue);
    await broker.store.flush();
    return reply.code(created ? 201 : 204).send();
  });
  app.delete<{ Params: Params }>('/api/global-parameters/:name', async (req, reply) => {
    onlyAdmin(req.authz);
    if (!globals.clear(req.params.name ?? '')) throw notFound();
    await broker.store.flush();
    return reply.code(204).send();
  });
  // Any user of the API may read the name (the overview shows it too); only administrators set it.
  app.get('/api/cluster-name', async () => ({ name: globals.clusterName }));
  app.put<{ Body: unknown }>('/api/cluster-name', async (req, reply) => {
    req.authz.requireAdmin();
    if (!isRecord(req.body)) throw badRequest('not_json');
    requireKeys(req.body, ['name']);
    // 3.10.8 fails with a 500 on a name that is not a string.
    if (typeof req.body.name !== 'string') throw badRequest('name must be a string');
    globals.set(CLUSTER_NAME_PARAMETER, req.body.name);
    await broker.store.flush();
    // 204 even for the first name set, as 3.10.8.
    return reply.code(204).send();
  });
  app.get('/api/parameters', async (req) => {
    onlyAdmin(req.authz);
    return all();
  });
  app.get<{ Params: Params }>('/api/parameters/:component', async (req) => {
    onlyAdmin(req.authz);
    return all().filter((p) => p.component === req.params.component);
  });
  app.get<{ Params: Params }>('/api/parameters/:component/:vhost', async (req) => {
    onlyAdmin(req.authz);
    if (!broker.vhosts.has(req.params.vhost ?? '')) throw notFound();
    return all().filter((p) => p.component === req.params.component && p.vhost === req.params.vhost);
  });
  app.get<{ Params: Params }>('/api/parameters/:component/:vhost/:name', async (req) => {
    onlyAdmin(req.authz);
    const p = all().find((x) => x.component === req.params.component && x.vhost === req.params.vhost && x.name === req.params.name);
    if (!p) throw notFound();
    return p;
  });

  app.put<{ Params: Params; Body: unknown }>('/api/parameters/:component/:vhost/:name', async (req, reply) => {
    try {
      return await putParameter(req, reply);
    } catch (e) {
      // 3.10.8 escapes <, > and & in this route's validation texts (not in /api/vhost-limits').
      if (e instanceof HttpError && e.status === 400 && typeof e.reason === 'string') throw badRequest(htmlEscape(e.reason));
      throw e;
    }
  });
  const putParameter = async (req: FastifyRequest<{ Params: Params; Body: unknown }>, reply: FastifyReply): Promise<FastifyReply> => {
    onlyAdmin(req.authz);
    const component = req.params.component ?? '';
    const name = req.params.name ?? '';
    const v = broker.vhosts.get(req.params.vhost ?? '');
    // 3.10.8: the vhost first (404 vhost_not_found), then the body, then the component.
    if (!v) throw new HttpError(404, 'not_found', 'vhost_not_found');
    if (!isRecord(req.body)) throw badRequest('not_json');
    requireKeys(req.body, ['value']);
    const value = req.body.value;
    if (component === 'vhost-limits') {
      // RabbitMQ names a vhost's limits "limits" (3.10.8 fails with a 500 on any other name).
      if (name !== 'limits') throw badRequest(`Validation failed\n\nvhost-limits are named limits, not ${name}\n`);
      if (!isRecord(value)) throw badRequest(`Validation failed\n\nlimits not a list ${erlang(value)}\n`);
      const limits: Record<string, number> = {};
      for (const [k, n] of Object.entries(value)) {
        const bad = checkLimitName('vhost', k, n);
        if (bad) throw badRequest(bad);
        // 3.10.8 takes numbers only here ("7" is refused), unlike /api/vhost-limits.
        if (!checkLimitValue(n)) throw badRequest(`Validation failed\n\n${k} should be a number, actually was ${erlang(n)}\n`);
        limits[k] = n;
      }
      const existed = Object.keys(broker.limits.of('vhost', v.name)).length > 0;
      // The parameter is the whole set of limits, as in RabbitMQ: keys left out are cleared.
      broker.limits.setAll('vhost', v.name, limits);
      await broker.store.flush();
      return reply.code(existed ? 204 : 201).send();
    }
    if (component === 'operator_policy') {
      if (!isRecord(value)) throw badRequest(`Validation failed\n\n${name} not a list ${erlang(value)}\n`);
      // As a runtime parameter, an operator policy must name its priority (3.10.8 adds this line
      // to the policy's own problems).
      const noPriority = 'priority' in value ? '' : `Key "priority" not found in ${name}\n`;
      let p;
      try {
        p = parsePolicy(v.name, name, value, true);
      } catch (e) {
        if (e instanceof PolicyError) throw badRequest(`${e.message.replace(/\n?$/, '\n')}${noPriority}`);
        throw e;
      }
      if (noPriority) throw badRequest(`Validation failed\n\n${noPriority}`);
      const existed = v.operatorPolicies.has(p.name);
      v.setPolicy(p.name, p, true, true);
      await broker.store.flush();
      return reply.code(existed ? 204 : 201).send();
    }
    // A plugin's component (shovel): its checks, its texts (or 'component X not found').
    try {
      const created = broker.parameters.set(component, v.name, name, value as JsonValue, true, req.authz.user.name);
      await broker.store.flush();
      return reply.code(created ? 201 : 204).send();
    } catch (e) {
      if (e instanceof ParameterError) throw badRequest(`Validation failed\n\n${e.problems.join('\n')}\n`);
      throw e;
    }
  };

  app.delete<{ Params: Params }>('/api/parameters/:component/:vhost/:name', async (req, reply) => {
    onlyAdmin(req.authz);
    const v = broker.vhosts.get(req.params.vhost ?? '');
    if (!v) throw notFound();
    const name = req.params.name ?? '';
    if (req.params.component === 'vhost-limits' && name === 'limits' && broker.limits.clear('vhost', v.name, 'all')) {
      await broker.store.flush();
      return reply.code(204).send();
    }
    if (req.params.component === 'operator_policy' && v.operatorPolicies.has(name)) {
      v.setPolicy(name, null, true, true);
      await broker.store.flush();
      return reply.code(204).send();
    }
    if (broker.parameters.clear(req.params.component ?? '', v.name, name)) {
      await broker.store.flush();
      return reply.code(204).send();
    }
    // 3.10.8: 404 for a parameter that is not there, whatever its component.
    throw notFound();
  });
}
