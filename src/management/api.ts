// The HTTP management API's routes, shaped like RabbitMQ's (/api/overview, /api/queues, …).
// Reads need a user tagged administrator, monitoring, management or policymaker; changes need
// administrator.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ReplyCode, toFieldTable, type PlainValue } from '../frames/index.js';
import type { Broker } from '../server/broker.js';
import { Message, deliveryModeOf } from '../server/message.js';
import type { Queue } from '../server/queue.js';
import { VERSION } from '../server/server-properties.js';
import type { VHost } from '../server/vhost.js';
import { exportDefinitions, importDefinitions, type DefinitionsJson } from './definitions.js';
import { HttpError, badRequest, fromAmqp, notFound } from './http-errors.js';
import { encodePropertiesJson, type PropertiesJson } from './properties-json.js';
import type { RateSampler } from './rates.js';
import {
  bindingView,
  channelView,
  connectionName,
  connectionView,
  consumersView,
  exchangeView,
  messageStatsView,
  propertiesKey,
  propertiesView,
  queueView,
  userView,
  type JsonObject,
} from './views.js';

type Args = { [k: string]: PlainValue };
type Params = { vhost?: string; name?: string; user?: string; source?: string; dest?: string; props?: string };

const obj = (properties: Record<string, unknown>, required: string[] = []): object => ({
  type: 'object',
  properties,
  required,
});
const S = { type: 'string' };
const B = { type: 'boolean' };
const O = { type: 'object' };

export function registerApi(app: FastifyInstance, broker: Broker, rates: RateSampler): void {
  const vhostOf = (name: string | undefined): VHost => {
    const v = broker.vhosts.get(name ?? '');
    if (!v) throw notFound();
    return v;
  };
  const queueOf = (p: Params): Queue => {
    const q = vhostOf(p.vhost).queues.get(p.name ?? '');
    if (!q) throw notFound();
    return q;
  };
  const allQueues = (v?: VHost): Queue[] => (v ? [...v.queues.values()] : [...broker.vhosts.values()].flatMap((x) => [...x.queues.values()]));

  app.get('/api/overview', async () => {
    const queues = allQueues();
    let channels = 0;
    let consumers = 0;
    for (const c of broker.connections) channels += c.channels.size;
    for (const q of queues) consumers += q.consumers.length;
    const ready = queues.reduce((n, q) => n + q.messageCount, 0);
    const unacked = queues.reduce((n, q) => n + q.unackedCount, 0);
    return {
      management_version: VERSION,
      rabbitmq_version: '3.12.0',
      product_name: 'Warren',
      product_version: VERSION,
      cluster_name: 'warren',
      node: 'warren',
      uptime: Date.now() - broker.startedAt,
      object_totals: {
        connections: broker.connections.size,
        channels,
        exchanges: [...broker.vhosts.values()].reduce((n, v) => n + v.exchanges.size, 0),
        queues: queues.length,
        consumers,
      },
      queue_totals: { messages: ready + unacked, messages_ready: ready, messages_unacknowledged: unacked },
      message_stats: messageStatsView(broker.stats, rates, broker.stats),
      listeners: [{ node: 'warren', protocol: 'amqp', ip_address: broker.options.host, port: broker.port }],
    };
  });

  // ---- queues
  app.get<{ Params: Params }>('/api/queues', async () => allQueues().map((q) => queueView(q, rates)));
  app.get<{ Params: Params }>('/api/queues/:vhost', async (req) => allQueues(vhostOf(req.params.vhost)).map((q) => queueView(q, rates)));
  app.get<{ Params: Params }>('/api/queues/:vhost/:name', async (req) => queueView(queueOf(req.params), rates));
  app.put<{ Params: Params; Body: { durable?: boolean; auto_delete?: boolean; arguments?: Args } }>(
    '/api/queues/:vhost/:name',
    { schema: { body: obj({ durable: B, auto_delete: B, arguments: O }) } },
    async (req, reply) => {
      const v = vhostOf(req.params.vhost);
      const name = req.params.name ?? '';
      const existing = v.queues.get(name);
      if (existing) return reply.code(204).send();
      if (name.startsWith('amq.')) throw badRequest(`queue name '${name}' contains reserved prefix 'amq.*'`);
      try {
        v.addQueue({
          name,
          durable: req.body?.durable ?? true,
          exclusiveOwner: null,
          autoDelete: req.body?.auto_delete ?? false,
          arguments: toFieldTable(req.body?.arguments ?? {}),
        });
      } catch (e) {
        throw fromAmqp(e);
      }
      await broker.store.flush();
      return reply.code(201).send();
    },
  );
  app.delete<{ Params: Params; Querystring: { 'if-unused'?: string; 'if-empty'?: string } }>('/api/queues/:vhost/:name', async (req, reply) => {
    const q = queueOf(req.params);
    if (req.query['if-unused'] === 'true' && q.consumers.length > 0) throw badRequest(`queue '${q.name}' in use`);
    if (req.query['if-empty'] === 'true' && q.messageCount > 0) throw badRequest(`queue '${q.name}' not empty`);
    q.vhost.deleteQueue(q);
    await broker.store.flush();
    return reply.code(204).send();
  });
  app.delete<{ Params: Params }>('/api/queues/:vhost/:name/contents', async (req, reply) => {
    queueOf(req.params).purge();
    await broker.store.flush();
    return reply.code(204).send();
  });
  app.post<{ Params: Params; Body: { count: number; ackmode: string; encoding?: string; truncate?: number } }>(
    '/api/queues/:vhost/:name/get',
    {
      schema: {
        body: obj(
          {
            count: { type: 'integer', minimum: 1 },
            ackmode: { enum: ['ack_requeue_true', 'ack_requeue_false', 'reject_requeue_true', 'reject_requeue_false'] },
            encoding: { enum: ['auto', 'base64'] },
            truncate: { type: 'integer', minimum: 0 },
          },
          ['count', 'ackmode'],
        ),
      },
    },
    async (req) => {
      const q = queueOf(req.params);
      const { count, ackmode, encoding, truncate } = req.body;
      const taken = [];
      for (let i = 0; i < count; i++) {
        await q.headReady();
        const e = q.take();
        if (!e) break;
        taken.push(e);
      }
      const out = taken.map((e, i) => {
        const body = truncate !== undefined ? e.msg.body.subarray(0, truncate) : e.msg.body;
        const text = body.toString('utf8');
        const printable = encoding !== 'base64' && Buffer.from(text, 'utf8').equals(body);
        return {
          payload_bytes: e.msg.body.length,
          redelivered: e.redelivered,
          exchange: e.msg.exchange,
          routing_key: e.msg.routingKey,
          message_count: q.readyCount + taken.length - i - 1,
          properties: propertiesView(e.msg.decoded()),
          payload: printable ? text : body.toString('base64'),
          payload_encoding: printable ? 'string' : 'base64',
        };
      });
      if (ackmode.endsWith('requeue_true')) q.requeue(taken);
      else if (ackmode === 'reject_requeue_false') for (const e of taken) q.discard(e, 'rejected');
      else for (const e of taken) q.settle(e);
      await broker.store.flush();
      return out;
    },
  );

  // ---- exchanges
  app.get<{ Params: Params }>('/api/exchanges', async () =>
    [...broker.vhosts.values()].flatMap((v) => [...v.exchanges.entries()].filter(([n]) => n !== 'amq.default').map(([, e]) => exchangeView(e, v.name))),
  );
  app.get<{ Params: Params }>('/api/exchanges/:vhost', async (req) => {
    const v = vhostOf(req.params.vhost);
    return [...v.exchanges.entries()].filter(([n]) => n !== 'amq.default').map(([, e]) => exchangeView(e, v.name));
  });
  app.get<{ Params: Params }>('/api/exchanges/:vhost/:name', async (req) => {
    const v = vhostOf(req.params.vhost);
    const e = v.exchanges.get(req.params.name ?? '');
    if (!e) throw notFound();
    return exchangeView(e, v.name);
  });
  app.put<{ Params: Params; Body: { type: string; durable?: boolean; auto_delete?: boolean; internal?: boolean; arguments?: Args } }>(
    '/api/exchanges/:vhost/:name',
    { schema: { body: obj({ type: { enum: ['direct', 'fanout', 'topic', 'headers'] }, durable: B, auto_delete: B, internal: B, arguments: O }, ['type']) } },
    async (req, reply) => {
      const v = vhostOf(req.params.vhost);
      const name = req.params.name ?? '';
      const existing = v.exchanges.get(name);
      if (existing) {
        if (existing.type !== req.body.type) throw badRequest(`inequivalent arg 'type' for exchange '${name}': received '${req.body.type}' but current is '${existing.type}'`);
        return reply.code(204).send();
      }
      if (name === '' || name.startsWith('amq.')) throw new HttpError(403, 'access_refused', `exchange name '${name}' contains reserved prefix 'amq.*'`);
      v.addExchange({
        name,
        type: req.body.type,
        durable: req.body.durable ?? true,
        autoDelete: req.body.auto_delete ?? false,
        internal: req.body.internal ?? false,
        arguments: toFieldTable(req.body.arguments ?? {}),
      });
      await broker.store.flush();
      return reply.code(201).send();
    },
  );
  app.delete<{ Params: Params; Querystring: { 'if-unused'?: string } }>('/api/exchanges/:vhost/:name', async (req, reply) => {
    const v = vhostOf(req.params.vhost);
    const e = v.exchanges.get(req.params.name ?? '');
    if (!e) throw notFound();
    if (e.name === '' || e.name.startsWith('amq.')) throw badRequest(`deletion of system exchange '${e.name}' not allowed`);
    if (req.query['if-unused'] === 'true' && e.bindings.size > 0) throw badRequest(`exchange '${e.name}' in use`);
    v.deleteExchange(e);
    await broker.store.flush();
    return reply.code(204).send();
  });
  app.post<{ Params: Params; Body: { routing_key: string; payload: string; payload_encoding: string; properties?: PropertiesJson } }>(
    '/api/exchanges/:vhost/:name/publish',
    { schema: { body: obj({ routing_key: S, payload: S, payload_encoding: { enum: ['string', 'base64'] }, properties: O }, ['routing_key', 'payload', 'payload_encoding']) } },
    async (req) => {
      const v = vhostOf(req.params.vhost);
      const name = req.params.name === 'amq.default' ? '' : (req.params.name ?? '');
      const e = v.exchanges.get(name);
      if (!e) throw notFound();
      const body = Buffer.from(req.body.payload, req.body.payload_encoding === 'base64' ? 'base64' : 'utf8');
      const props = encodePropertiesJson(req.body.properties ?? {});
      const msg = new Message(v.nextSeq(), name, req.body.routing_key, props, body, deliveryModeOf(props) === 2);
      const { routed } = v.publish(e, msg);
      broker.stats.publish++;
      await broker.store.flush();
      return { routed: routed > 0 };
    },
  );

  // ---- bindings
  const bindingsOf = (v: VHost): JsonObject[] =>
    [...v.exchanges.values()].flatMap((e) => [...e.bindings.values()].map((b) => bindingView(b, v.name)));
  app.get<{ Params: Params }>('/api/bindings', async () => [...broker.vhosts.values()].flatMap(bindingsOf));
  app.get<{ Params: Params }>('/api/bindings/:vhost', async (req) => bindingsOf(vhostOf(req.params.vhost)));
  const bindingRoutes = (kind: 'q' | 'e'): void => {
    const path = `/api/bindings/:vhost/e/:source/${kind}/:dest`;
    const endpoints = (p: Params) => {
      const v = vhostOf(p.vhost);
      const source = v.exchanges.get(p.source ?? '');
      const dest = kind === 'q' ? v.queues.get(p.dest ?? '') : v.exchanges.get(p.dest ?? '');
      if (!source || !dest) throw notFound();
      return { v, source, dest };
    };
    app.get<{ Params: Params }>(path, async (req) => {
      const { v, source, dest } = endpoints(req.params);
      return [...source.bindings.values()].filter((b) => b.destination === dest).map((b) => bindingView(b, v.name));
    });
    app.post<{ Params: Params; Body: { routing_key?: string; arguments?: Args } }>(
      path,
      { schema: { body: obj({ routing_key: S, arguments: O }) } },
      async (req, reply) => {
        const { v, source, dest } = endpoints(req.params);
        if (source.name === '') throw new HttpError(403, 'access_refused', 'operation not permitted on the default exchange');
        const args = toFieldTable(req.body?.arguments ?? {});
        const rk = req.body?.routing_key ?? '';
        v.addBinding(source, dest, rk, args);
        await broker.store.flush();
        return reply.code(201).header('location', propertiesKey({ routingKey: rk, arguments: args })).send();
      },
    );
    app.delete<{ Params: Params }>(`${path}/:props`, async (req, reply) => {
      const { v, source, dest } = endpoints(req.params);
      const b = [...source.bindings.values()].find((x) => x.destination === dest && propertiesKey(x) === req.params.props);
      if (!b) throw notFound();
      v.removeBinding(b);
      await broker.store.flush();
      return reply.code(204).send();
    });
  };
  bindingRoutes('q');
  bindingRoutes('e');

  // ---- connections, channels, consumers
  app.get('/api/connections', async () => [...broker.connections].filter((c) => c.vhost).map(connectionView));
  app.get<{ Params: Params }>('/api/connections/:name', async (req) => {
    const c = [...broker.connections].find((x) => connectionName(x) === req.params.name);
    if (!c) throw notFound();
    return connectionView(c);
  });
  app.delete<{ Params: Params }>('/api/connections/:name', async (req, reply) => {
    const c = [...broker.connections].find((x) => connectionName(x) === req.params.name);
    if (!c) throw notFound();
    const why = (req.headers['x-reason'] as string | undefined) ?? 'Closed via management plugin';
    c.close(ReplyCode.ConnectionForced, `CONNECTION_FORCED - ${why}`);
    return reply.code(204).send();
  });
  app.get('/api/channels', async () => [...broker.connections].flatMap((c) => [...c.channels.values()].map(channelView)));
  app.get('/api/consumers', async () => consumersView(broker));

  // ---- vhosts
  const vhostView = (v: VHost): JsonObject => {
    const qs = allQueues(v);
    const ready = qs.reduce((n, q) => n + q.messageCount, 0);
    const unacked = qs.reduce((n, q) => n + q.unackedCount, 0);
    return { name: v.name, description: v.description, tags: [], messages: ready + unacked, messages_ready: ready, messages_unacknowledged: unacked };
  };
  app.get('/api/vhosts', async () => [...broker.vhosts.values()].map(vhostView));
  app.get<{ Params: Params }>('/api/vhosts/:vhost', async (req) => vhostView(vhostOf(req.params.vhost)));
  app.put<{ Params: Params; Body: { description?: string } | null }>('/api/vhosts/:vhost', async (req, reply) => {
    const name = req.params.vhost ?? '';
    const existed = broker.vhosts.has(name);
    broker.addVHost(name, req.body?.description ?? broker.vhosts.get(name)?.description ?? '');
    await broker.store.flush();
    return reply.code(existed ? 204 : 201).send();
  });
  app.delete<{ Params: Params }>('/api/vhosts/:vhost', async (req, reply) => {
    if (!broker.deleteVHost(req.params.vhost ?? '')) throw notFound();
    await broker.store.flush();
    return reply.code(204).send();
  });

  // ---- users and permissions
  app.get('/api/users', async () => [...broker.access.users.values()].map(userView));
  app.get<{ Params: Params }>('/api/users/:user', async (req) => {
    const u = broker.access.users.get(req.params.user ?? '');
    if (!u) throw notFound();
    return userView(u);
  });
  app.put<{ Params: Params; Body: { password?: string; password_hash?: string; tags?: string | string[] } }>(
    '/api/users/:user',
    { schema: { body: obj({ password: S, password_hash: S, tags: { anyOf: [S, { type: 'array', items: S }] } }) } },
    async (req, reply) => {
      const name = req.params.user ?? '';
      const { password, password_hash, tags } = req.body ?? {};
      if (password === undefined && password_hash === undefined && !broker.access.users.has(name)) {
        throw badRequest('a password or password_hash is required');
      }
      const existing = broker.access.users.get(name);
      const tagList = Array.isArray(tags) ? tags : (tags ?? '').split(',').map((t) => t.trim()).filter(Boolean);
      if (password !== undefined) broker.access.putUser(name, password, tagList);
      else broker.access.putUser(name, null, tagList, password_hash ?? existing!.passwordHash);
      await broker.store.flush();
      return reply.code(existing ? 204 : 201).send();
    },
  );
  app.delete<{ Params: Params }>('/api/users/:user', async (req, reply) => {
    if (!broker.access.deleteUser(req.params.user ?? '')) throw notFound();
    await broker.store.flush();
    return reply.code(204).send();
  });
  app.get('/api/permissions', async () => broker.access.listPermissions());
  app.get<{ Params: Params }>('/api/vhosts/:vhost/permissions', async (req) => {
    vhostOf(req.params.vhost);
    return broker.access.listPermissions().filter((p) => p.vhost === req.params.vhost);
  });
  app.get<{ Params: Params }>('/api/users/:user/permissions', async (req) => {
    if (!broker.access.users.has(req.params.user ?? '')) throw notFound();
    return broker.access.listPermissions().filter((p) => p.user === req.params.user);
  });
  app.get<{ Params: Params }>('/api/permissions/:vhost/:user', async (req) => {
    const p = broker.access.listPermissions().find((x) => x.vhost === req.params.vhost && x.user === req.params.user);
    if (!p) throw notFound();
    return p;
  });
  app.put<{ Params: Params; Body: { configure: string; write: string; read: string } }>(
    '/api/permissions/:vhost/:user',
    { schema: { body: obj({ configure: S, write: S, read: S }, ['configure', 'write', 'read']) } },
    async (req, reply) => {
      vhostOf(req.params.vhost);
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
  app.delete<{ Params: Params }>('/api/permissions/:vhost/:user', async (req, reply) => {
    if (!broker.access.clearPermissions(req.params.user ?? '', req.params.vhost ?? '')) throw notFound();
    await broker.store.flush();
    return reply.code(204).send();
  });

  // ---- definitions
  app.get('/api/definitions', async () => exportDefinitions(broker));
  app.post<{ Body: DefinitionsJson }>('/api/definitions', { schema: { body: O } }, async (req, reply) => {
    await importDefinitions(broker, req.body);
    return reply.code(204).send();
  });
  app.get('/api/whoami', async (req: FastifyRequest) => ({ name: (req as FastifyRequest & { user?: string }).user ?? null }));
}
