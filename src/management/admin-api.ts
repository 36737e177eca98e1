// The management API's routes for administrators only, as in RabbitMQ: one vhost's details and
// vhost changes, users (with their password hashes), permissions and definitions.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { hashPassword } from '../server/access.js';
import type { Broker } from '../server/broker.js';
import { DefinitionsError, exportDefinitions, exportVHostDefinitions, importDefinitions, intoVHost } from './definitions.js';
import { isQueueTypeName } from '../server/default-queue-type.js';
import { badRequest, HttpError, notFound, requireKeys } from './http-errors.js';
import { definitionsUpload } from './request-bodies.js';
import { userView, vhostView, type JsonObject } from './views.js';
import type { StoredUser } from '../store/store.js';
import { ownName } from './nodes-view.js';
import type { RateSampler } from './rates.js';
import { vhostTotals } from './vhost-stats.js';

type Params = { vhost?: string; user?: string };

const S = { type: 'string' };
const O = { type: 'object' };
const obj = (properties: Record<string, unknown>, required: string[] = []): object => ({ type: 'object', properties, required });

type VHostBody = { description?: string; tags?: string | string[]; default_queue_type?: string; tracing?: unknown; [k: string]: unknown };

/**
 * A vhost PUT's `tracing` as rabbit_mgmt_util:parse_bool reads it: true, false, "true" or
 * "false"; left out, tracing stays as it is; anything else is 400 ["not_boolean", value].
 */
function tracingOf(body: VHostBody): boolean | undefined {
  const v = body.tracing;
  if (!('tracing' in body)) return undefined;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  const shown = v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : JSON.stringify(v);
  throw new HttpError(400, 'bad_request', ['not_boolean', shown]);
}

/**
 * The metadata a vhost PUT sets, as RabbitMQ 3.12 takes it: `tags` as a list or a comma-separated
 * string, `default_queue_type` a registered queue type (400 otherwise). Left out: unchanged.
 */
export function vhostMetadata(body: VHostBody): { tags?: string[]; defaultQueueType?: string } {
  const out: { tags?: string[]; defaultQueueType?: string } = {};
  if (body.description !== undefined && typeof body.description !== 'string') throw badRequest('description must be a string');
  if (body.tags !== undefined) {
    const raw = body.tags;
    if (!(typeof raw === 'string' || (Array.isArray(raw) && raw.every((t) => typeof t === 'string')))) throw badRequest('tags must be a list of strings or a comma-separated string');
    out.tags = (Array.isArray(raw) ? raw : raw.split(',')).map((t) => t.trim()).filter(Boolean);
  }
  const dqt = body.default_queue_type;
  if (dqt !== undefined) {
    if (typeof dqt !== 'string' || !isQueueTypeName(dqt)) {
      throw badRequest(`invalid default_queue_type ${JSON.stringify(dqt)}: known queue types are ${KNOWN_QUEUE_TYPES.filter(isQueueTypeName).join(', ')}`);
    }
    out.defaultQueueType = dqt;
  }
  return out;
}

/** Queue type names RabbitMQ knows; a vhost may default to those this broker has registered. */
const KNOWN_QUEUE_TYPES = ['classic', 'quorum', 'stream'];

export function registerAdminApi(app: FastifyInstance, broker: Broker, rates: RateSampler): void {
  void app.register(async (admin) => {
    // Before body validation, so a non-administrator learns nothing about the request's shape.
    admin.addHook('onRequest', async (req) => req.authz.requireAdmin());

    // ---- vhosts
    admin.get<{ Params: Params }>('/api/vhosts/:vhost', async (req) => {
      const v = broker.vhosts.get(req.params.vhost ?? '');
      if (!v) throw notFound();
      return vhostView(v, { totals: vhostTotals(broker).get(v)!, rates, node: ownName(broker) });
    });
    admin.put<{ Params: Params; Body: VHostBody | null }>('/api/vhosts/:vhost', async (req, reply) => {
      const name = req.params.vhost ?? '';
      const existed = broker.vhosts.has(name);
      const body = req.body ?? {};
      const tracing = tracingOf(body);
      const v = broker.addVHost(name, body.description ?? broker.vhosts.get(name)?.description ?? '', vhostMetadata(body));
      if (tracing !== undefined) v.setTracing(tracing, broker.nodeName);
      // RabbitMQ gives whoever creates a vhost through the API full permissions on it, so that
      // the administrator can go on to declare things there (actions need vhost permissions).
      if (!existed) broker.access.setPermissions({ user: req.authz.user.name, vhost: name, configure: '.*', write: '.*', read: '.*' });
      await broker.store.flush();
      return reply.code(existed ? 204 : 201).send();
    });
    admin.delete<{ Params: Params }>('/api/vhosts/:vhost', async (req, reply) => {
      if (!broker.deleteVHost(req.params.vhost ?? '')) throw notFound();
      await broker.store.flush();
      return reply.code(204).send();
    });

    // ---- users and permissions
    const withLimits = (u: StoredUser): JsonObject => userView(u, { ...broker.limits.of('user', u.name) });
    admin.get('/api/users', async () => [...broker.access.users.values()].map(withLimits));
    // Users with no permissions in any vhost (3.10.8: administrators, the objects of /api/users).
    admin.get('/api/users/without-permissions', async () => {
      const permitted = new Set(broker.access.listPermissions().map((p) => p.user));
      return [...broker.access.users.values()].filter((u) => !permitted.has(u.name)).map(withLimits);
    });
    admin.get<{ Params: Params }>('/api/users/:user', async (req) => {
      const u = broker.access.users.get(req.params.user ?? '');
      if (!u) throw notFound();
      return withLimits(u);
    });
    admin.put<{ Params: Params; Body: { password?: string; password_hash?: string; tags?: string | string[] } }>(
      '/api/users/:user',
      { schema: { body: obj({ password: S, password_hash: S, tags: { anyOf: [S, { type: 'array', items: S }] } }) } },
      async (req, reply) => {
        const name = req.params.user ?? '';
        const { password, password_hash, tags } = req.body ?? {};
        // 3.10.8 wants the tags every time ('' for none), a new user or not.
        if (tags === undefined) throw badRequest('tags_not_present');
        const existing = broker.access.users.get(name);
        const tagList = Array.isArray(tags) ? tags : tags.split(',').map((t) => t.trim()).filter(Boolean);
        // Without a password a new user cannot log in with one: as 3.10.8, it gets the hash of a
        // random one nobody is told (so its export imports anywhere); an existing user keeps its own.
        if (password !== undefined) broker.access.putUser(name, password, tagList);
        else broker.access.putUser(name, null, tagList, password_hash ?? existing?.passwordHash ?? hashPassword(randomBytes(32).toString('base64')));
        await broker.store.flush();
        return reply.code(existing ? 204 : 201).send();
      },
    );
    admin.delete<{ Params: Params }>('/api/users/:user', async (req, reply) => {
      if (!broker.access.deleteUser(req.params.user ?? '')) throw notFound();
      broker.limits.drop('user', req.params.user ?? '');
      await broker.store.flush();
      return reply.code(204).send();
    });
    admin.get('/api/permissions', async () => broker.access.listPermissions());
    admin.get<{ Params: Params }>('/api/vhosts/:vhost/permissions', async (req) => {
      if (!broker.vhosts.has(req.params.vhost ?? '')) throw notFound();
      return broker.access.listPermissions().filter((p) => p.vhost === req.params.vhost);
    });
    admin.get<{ Params: Params }>('/api/users/:user/permissions', async (req) => {
      if (!broker.access.users.has(req.params.user ?? '')) throw notFound();
      return broker.access.listPermissions().filter((p) => p.user === req.params.user);
    });
    admin.get<{ Params: Params }>('/api/permissions/:vhost/:user', async (req) => {
      const p = broker.access.listPermissions().find((x) => x.vhost === req.params.vhost && x.user === req.params.user);
      if (!p) throw notFound();
      return p;
    });
    admin.put<{ Params: Params; Body: { configure: string; write: string; read: string } }>(
      '/api/permissions/:vhost/:user',
      { schema: { body: obj({ configure: S, write: S, read: S }) } },
      async (req, reply) => {
        requireKeys(req.body, ['configure', 'write', 'read']);
        if (!broker.vhosts.has(req.params.vhost ?? '')) throw notFound();
        if (!broker.access.users.has(req.params.user ?? '')) throw notFound('no such user');
        for (const re of [req.body.configure, req.body.write, req.body.read]) {
          try {
            new RegExp(re);
          } catch {
            throw badRequest(`invalid regular expression '${re}'`);
          }
        }
        broker.access.setPermissions({ user: req.params.user ?? '', vhost: req.params.vhost ?? '', ...req.body });
        await broker.store.flush();
        return reply.code(201).send();
      },
    );
    admin.delete<{ Params: Params }>('/api/permissions/:vhost/:user', async (req, reply) => {
      if (!broker.access.clearPermissions(req.params.user ?? '', req.params.vhost ?? '')) throw notFound();
      await broker.store.flush();
      return reply.code(204).send();
    });

    // ---- topic permissions (RabbitMQ's topic authorisation; checked in channel.ts)
    const access = broker.access;
    admin.get('/api/topic-permissions', async () => access.listTopicPermissions());
    admin.get<{ Params: Params }>('/api/vhosts/:vhost/topic-permissions', async (req) => {
      if (!broker.vhosts.has(req.params.vhost ?? '')) throw notFound();
      // 3.10.8 names the vhost first in this list only.
      return access
        .listTopicPermissions()
        .filter((p) => p.vhost === req.params.vhost)
        .map(({ vhost, user, exchange, write, read }) => ({ vhost, user, exchange, write, read }));
    });
    admin.get<{ Params: Params }>('/api/users/:user/topic-permissions', async (req) => {
      if (!access.users.has(req.params.user ?? '')) throw notFound();
      return access.listTopicPermissions().filter((p) => p.user === req.params.user);
    });
    // 3.10.8: 404 for a user with none there, as for one that does not exist.
    const topicOf = (vhost: string, user: string) => access.listTopicPermissions().filter((p) => p.vhost === vhost && p.user === user);
    admin.get<{ Params: Params }>('/api/topic-permissions/:vhost/:user', async (req) => {
      const list = topicOf(req.params.vhost ?? '', req.params.user ?? '');
      if (list.length === 0) throw notFound();
      return list;
    });
    admin.put<{ Params: Params; Body: { exchange: string; write: string; read: string } }>(
      '/api/topic-permissions/:vhost/:user',
      { schema: { body: obj({ exchange: S, write: S, read: S }) } },
      async (req, reply) => {
        // 3.10.8 names the exchange alone first, then the patterns.
        requireKeys(req.body, ['exchange']);
        requireKeys(req.body, ['write', 'read']);
        const vhost = req.params.vhost ?? '';
        const user = req.params.user ?? '';
        if (!broker.vhosts.has(vhost) || !access.users.has(user)) throw badRequest('vhost_or_user_not_found');
        const existed = topicOf(vhost, user).length > 0;
        const { exchange, write, read } = req.body;
        try {
          access.setTopicPermission({ user, vhost, exchange, write, read });
        } catch {
          throw badRequest(`invalid regular expression in '${write}' or '${read}'`);
        }
        await broker.store.flush();
        return reply.code(existed ? 204 : 201).send();
      },
    );
    // ?exchange=X clears that exchange's alone (Warren's; 3.10.8's API clears the user's whole
    // vhost, and rabbitmqctl clears one exchange without the API): `warren ctl
    // clear_topic_permissions USER EXCHANGE` then never leaves the user without the others a moment.
    admin.delete<{ Params: Params; Querystring: { exchange?: string } }>('/api/topic-permissions/:vhost/:user', async (req, reply) => {
      const exchange = typeof req.query.exchange === 'string' ? req.query.exchange : undefined;
      if (access.clearTopicPermissions(req.params.user ?? '', req.params.vhost ?? '', exchange) === 0) throw notFound();
      await broker.store.flush();
      return reply.code(204).send();
    });

    // ---- definitions
    admin.get('/api/definitions', async () => exportDefinitions(broker));
    admin.post<{ Body: unknown }>('/api/definitions', { schema: { body: O }, config: { body: 'definitions' } }, async (req, reply) => {
      const { defs, redirect } = definitionsUpload(req.body);
      try {
        await importDefinitions(broker, defs, undefined, req.authz.user.name);
      } catch (e) {
        // Nothing was applied; the list lets a client show every problem, reason reads as one line.
        if (e instanceof DefinitionsError) return reply.code(400).send({ error: 'bad_request', reason: e.message, problems: e.problems });
        throw e;
      }
      // A form's redirect (the upload page of a browser) is followed with a 303, as 3.10.8 does.
      return redirect === null ? reply.code(204).send() : reply.code(303).header('location', redirect).send();
    });
    admin.get<{ Params: Params }>('/api/definitions/:vhost', async (req) => {
      if (!broker.vhosts.has(req.params.vhost ?? '')) throw notFound();
      return exportVHostDefinitions(broker, req.params.vhost ?? '');
    });
    admin.post<{ Params: Params; Body: unknown }>('/api/definitions/:vhost', { schema: { body: O }, config: { body: 'definitions' } }, async (req, reply) => {
      if (!broker.vhosts.has(req.params.vhost ?? '')) throw notFound();
      const { defs, redirect } = definitionsUpload(req.body);
      try {
        await importDefinitions(broker, intoVHost(defs, req.params.vhost ?? ''), undefined, req.authz.user.name);
      } catch (e) {
        if (e instanceof DefinitionsError) return reply.code(400).send({ error: 'bad_request', reason: e.message, problems: e.problems });
        throw e;
      }
      // A form's redirect (the upload page of a browser) is followed with a 303, as 3.10.8 does.
      return redirect === null ? reply.code(204).send() : reply.code(303).header('location', redirect).send();
    });
  });
}
