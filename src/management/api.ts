// The HTTP management API's routes, shaped like RabbitMQ's (/api/overview, /api/queues, …).
// Every route asks req.authz (authz.ts) what the user's tags and vhost permissions allow.
import { Buffer } from 'node:buffer';
import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AmqpError, ReplyCode, toFieldTable, type PlainValue } from '../frames/index.js';
import type { Broker } from '../server/broker.js';
import type { Connection } from '../server/connection.js';
import { checkExchangeEquivalent } from '../server/exchanges/equivalent.js';
import { checkAlternateExchangeArg } from '../server/exchanges/exchange.js';
import { checkBindingKey, checkExchangeArguments, isExchangeType, unknownExchangeTypeText } from '../server/exchanges/types.js';
import { Message, deliveryModeOf } from '../server/message.js';
import type { Queue } from '../server/queue.js';
import { checkEquivalent } from '../server/queue-args.js';
import { deleteRefusal } from '../server/queue-types/index.js';
import { RABBITMQ_VERSION, VERSION } from '../server/server-properties.js';
import type { VHost } from '../server/vhost.js';
import { registerAdminApi } from './admin-api.js';
import { localNodeExtras, memoryBreakdown } from './node-api.js';
import { BrokerHistory, ageQuery, type SampleKey } from './history.js';
import type { QueueHistory } from './queue-history.js';
import { registerPolicyApi } from './policies-api.js';
import { registerLimitsApi } from './limits-api.js';
import { registerParametersApi } from './parameters-api.js';
import { registerShovelsApi } from './shovels-api.js';
import { registerFederationApi } from './federation-api.js';
import { members, nodeView, ownName } from './nodes-view.js';
import type { ClusterMember } from '../server/cluster-view.js';
import type { ApiAuthz } from './authz.js';
import { HttpError, accessRefused, badRequest, fromAmqp, notFound, requireKeys } from './http-errors.js';
import { encodePropertiesJson, type PropertiesJson } from './properties-json.js';
import type { RateSampler } from './rates.js';
import { asksForColumn } from './paging.js';
import {
  bindingView,
  defaultBindingView,
  channelView,
  churnCounts,
  connectionName,
  connectionView,
  consumersView,
  exchangeView,
  overviewMessageStats,
  propertiesKey,
  propertiesView,
  queueAskedView,
  queueView,
  QUEUE_ASKED_COLUMNS,
  vhostView,
  withRates,
  EXCHANGE_TYPES,
  AUTH_MECHANISMS,
  type JsonObject,
} from './views.js';
import { vhostTotals } from './vhost-stats.js';

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

/** An exchange named in a path: RabbitMQ's API calls the default exchange amq.default. */
const exchangeParam = (name: string | undefined): string => (name === 'amq.default' ? '' : (name ?? ''));

export function registerApi(app: FastifyInstance, broker: Broker, rates: RateSampler, history?: BrokerHistory, queueHistory?: QueueHistory): void {
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
  /** The vhost of a vhost-scoped path that the user may read in (404 first, as RabbitMQ). */
  const readableVHost = (a: ApiAuthz, name: string | undefined): VHost => {
    const v = vhostOf(name);
    a.readIn(v.name);
    return v;
  };
  /** The vhost of an AMQP-level action, which needs permissions there. */
  const actionVHost = (a: ApiAuthz, name: string | undefined): VHost => {
    const v = vhostOf(name);
    a.actIn(v.name);
    return v;
  };
  /** Vhosts whose queues, exchanges and bindings the user's lists show. */
  const seenVHosts = (a: ApiAuthz): VHost[] => [...broker.vhosts.values()].filter((v) => a.seesObjectsIn(v.name));
  const seenConnections = (a: ApiAuthz): Connection[] => [...broker.connections].filter((c) => a.seesConnection(c));
  const queuesOf = (vs: VHost[]): Queue[] => vs.flatMap((x) => [...x.queues.values()]);
  const connectionNamed = (name: string | undefined): Connection => {
    const c = [...broker.connections].find((x) => connectionName(x) === name);
    if (!c) throw notFound();
    return c;
  };

  // Every node of the cluster as this node sees it (running: heard from within the last seconds);
  // a single node lists itself. Only this node's own resource figures are measured (nodes-view.ts).
  /** Adds the broker-kept history to `*_details` (RabbitMQ's samples), when the request asks for it. */
  const withSamples = (o: JsonObject, q: { age: number; incr: number } | null, keys: SampleKey[]): JsonObject => {
    if (!q || !history) return o;
    const samples = history.samples(q.age, q.incr);
    for (const k of keys) {
      const prev = (o[`${k}_details`] ?? {}) as JsonObject;
      o[`${k}_details`] = { ...prev, rate: (prev.rate as number | undefined) ?? 0, ...BrokerHistory.details(samples, k) };
    }
    return o;
  };
  /**
   * A queue's view with its broker-kept history in *_details when the request asks for it
   * (?lengths_age: messages, messages_ready, messages_unacknowledged; ?msg_rates_age: the
   * message_stats counters kept, publish, deliver_get, ack, redeliver), as RabbitMQ.
   */
  /** The pid and disk columns a list request asks for, worked out once per request, not per queue. */
  const askedOf = new WeakMap<object, (typeof QUEUE_ASKED_COLUMNS)[number][]>();
  const askedColumns = (query: Record<string, string | undefined>): (typeof QUEUE_ASKED_COLUMNS)[number][] => {
    let asked = askedOf.get(query);
    if (!asked) askedOf.set(query, (asked = query.columns ? QUEUE_ASKED_COLUMNS.filter((c) => asksForColumn(query, c)) : []));
    return asked;
  };
  const queueWithSamples = (q: Queue, query: Record<string, string | undefined>): JsonObject => {
    const view = queueView(q, broker.nodeName, rates);
    for (const c of askedColumns(query)) Object.assign(view, queueAskedView(q, c, broker.nodeName));
    if (!queueHistory) return view;
    const lengths = ageQuery(query, 'lengths');
    const msgRates = ageQuery(query, 'msg_rates');
    if (lengths) {
      const samples = queueHistory.samples(q, lengths.age, lengths.incr);
      for (const k of ['messages', 'messages_ready', 'messages_unacknowledged'] as const) {
        view[`${k}_details`] = { ...(view[`${k}_details`] as JsonObject), ...BrokerHistory.details(samples, k) };
      }
    }
    const stats = view.message_stats as JsonObject | undefined;
    if (msgRates && stats) {
      const samples = queueHistory.samples(q, msgRates.age, msgRates.incr);
      for (const k of ['publish', 'deliver_get', 'ack', 'redeliver'] as const) {
        if (stats[`${k}_details`]) stats[`${k}_details`] = { ...(stats[`${k}_details`] as JsonObject), ...BrokerHistory.details(samples, k) };
      }
    }
    return view;
  };
  /** A node as RabbitMQ shows it; this node's adds the UI's extras (alarms, mem_total). */
  const nodeOf = async (n: ClusterMember, memory: boolean): Promise<JsonObject> => {
    const view = await nodeView(broker, n, memory);
    if (n.name !== ownName(broker)) return view;
    // 3.10.8's node also has the churn counters with their rates, the exchange types, the SASL
    // mechanisms, the rates mode and where the data lies (logs go to stdout).
    const out: JsonObject = {
      ...(localNodeExtras(broker) as JsonObject),
      ...view,
      ...withRates(churnCounts(broker), rates, broker.counters),
      exchange_types: EXCHANGE_TYPES,
      auth_mechanisms: AUTH_MECHANISMS,
      rates_mode: 'basic',
      ...(broker.options.dataDir ? { db_dir: path.resolve(broker.options.dataDir) } : {}),
      log_files: ['<stdout>'],
    };
    // RabbitMQ's breakdown keys and the UI's (heap, buffers, native, RSS) side by side.
    if (memory) out.memory = { ...((view.memory ?? {}) as JsonObject), ...(memoryBreakdown() as JsonObject) };
    return out;
  };
  app.get<{ Querystring: { memory?: string } }>('/api/nodes', async (req) => Promise.all(members(broker).map((n) => nodeOf(n, req.query.memory === 'true'))));
  app.get<{ Params: Params; Querystring: Record<string, string | undefined> }>('/api/nodes/:name', async (req) => {
    const n = members(broker).find((m) => m.name === req.params.name);
    if (!n) throw notFound();
    const view = await nodeOf(n, req.query.memory === 'true');
    if (n.name !== ownName(broker)) return view;
    // ?lengths_age=S (or node_stats_age): mem_used_details with the broker-kept samples.
    const q = ageQuery(req.query, 'node_stats') ?? ageQuery(req.query, 'lengths');
    return withSamples(view, q, ['mem_used']);
  });
  app.get<{ Params: Params }>('/api/nodes/:name/memory', async (req) => {
    if (req.params.name !== ownName(broker)) throw notFound();
    return { memory: memoryBreakdown() };
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/api/overview', async (req) => {
    // Monitors see global totals; management users only what their lists show.
    const a = req.authz;
    const vhosts = a.isMonitor ? [...broker.vhosts.values()] : seenVHosts(a);
    const connections = seenConnections(a).filter((c) => c.vhost);
    const queues = queuesOf(vhosts);
    let channels = 0;
    let consumers = 0;
    for (const c of connections) channels += c.channels.size;
    for (const q of queues) consumers += q.consumerCount;
    const ready = queues.reduce((n, q) => n + q.messageCount, 0);
    const unacked = queues.reduce((n, q) => n + q.unackedTotal, 0);
    // RabbitMQ 3.10.8's totals count quorum queues' at-least-once dead letters in messages only.
    const owed = queues.reduce((n, q) => n + q.deadLetterCount, 0);
    return {
      management_version: VERSION,
      rabbitmq_version: RABBITMQ_VERSION,
      product_name: 'Warren',
      product_version: VERSION,
      cluster_name: broker.globalParameters.clusterName,
      node: broker.nodeName,
      uptime: Date.now() - broker.startedAt,
      object_totals: {
        connections: connections.length,
        channels,
        exchanges: vhosts.reduce((n, v) => n + v.exchanges.size, 0),
        queues: queues.length,
        consumers,
      },
      // As 3.10.8 (rates_mode basic): how rates are kept, the exchange types, churn.
      rates_mode: 'basic',
      sample_retention_policies: { global: [600, 3600, 28800, 86400], basic: [600, 3600], detailed: [600] },
      exchange_types: EXCHANGE_TYPES,
      disable_stats: false,
      enable_queue_totals: false,
      statistics_db_event_queue: 0,
      churn_rates: withRates(churnCounts(broker), rates, broker.counters),
      // The rates of the totals are the whole broker's (a management user's totals are its vhosts').
      queue_totals: withSamples(
        withRates({ messages: ready + unacked + owed, messages_ready: ready, messages_unacknowledged: unacked }, a.isMonitor ? rates : undefined, broker.vhosts),
        a.isMonitor ? ageQuery(req.query, 'lengths') : null,
        ['messages', 'messages_ready', 'messages_unacknowledged'],
      ),
      message_stats: withSamples(overviewMessageStats(broker, rates), ageQuery(req.query, 'msg_rates'), ['publish', 'deliver_get', 'ack']),
      // Every listener of this node, the management API's too, as 3.10.8 lists them (it adds its
      // clustering port, which a Warren node does not have).
      listeners: broker.listeners().map((l) => ({ node: broker.nodeName, protocol: l.protocol, ip_address: l.ip, port: l.port })),
    };
  });

  // ---- queues
  // Paging, filtering, sorting and columns of every list are paging.ts' (a preSerialization hook).
  // Lists carry the history of the queues followed when asked (?lengths_age, ?msg_rates_age).
  type Query = Record<string, string | undefined>;
  app.get<{ Params: Params; Querystring: Query }>('/api/queues', async (req) => queuesOf(seenVHosts(req.authz)).map((q) => queueWithSamples(q, req.query)));
  app.get<{ Params: Params; Querystring: Query }>('/api/queues/:vhost', async (req) =>
    [...readableVHost(req.authz, req.params.vhost).queues.values()].map((q) => queueWithSamples(q, req.query)),
  );
  app.get<{ Params: Params; Querystring: Query }>('/api/queues/:vhost/:name', async (req) => {
    readableVHost(req.authz, req.params.vhost);
    const q = queueOf(req.params);
    // Asked about: its history is kept from now on (if it was not already).
    queueHistory?.touch(q);
    // As 3.10.8, one queue's answer lists its consumers (consumer_details), each with its channel.
    const consumerDetails = consumersView(broker.connections).filter((c) => {
      const cq = c.queue as JsonObject;
      return cq.name === q.name && cq.vhost === q.vhost.name;
    });
    // incoming/deliveries: per exchange and per channel figures, empty in rates_mode basic (as 3.10.8's default).
    return { ...queueWithSamples(q, req.query), consumer_details: consumerDetails, deliveries: [], incoming: [] };
  });
  app.put<{ Params: Params; Body: { durable?: boolean; auto_delete?: boolean; arguments?: Args } }>(
    '/api/queues/:vhost/:name',
    { schema: { body: obj({ durable: B, auto_delete: B, arguments: O }) } },
    async (req, reply) => {
      const v = actionVHost(req.authz, req.params.vhost);
      const name = req.params.name ?? '';
      req.authz.require(v.name, 'configure', name);
      // RabbitMQ's defaults when the body leaves them out: a transient, non-auto-delete queue.
      const durable = req.body?.durable ?? false;
      const autoDelete = req.body?.auto_delete ?? false;
      // As RabbitMQ's queue PUT, which declares through the channel's code: the vhost's default type applies.
      const args = v.declareArgs(durable, false, autoDelete, toFieldTable(req.body?.arguments ?? {}));
      const existing = v.queues.get(name);
      try {
        if (existing) {
          checkEquivalent(existing, v.name, durable, autoDelete, args);
          broker.counters.queuesDeclared++;
          return reply.code(204).send();
        }
        if (name.startsWith('amq.')) throw accessRefused();
        v.addQueue({ name, durable, exclusiveOwner: null, autoDelete, arguments: args });
        broker.counters.queuesDeclared++;
      } catch (e) {
        throw fromAmqp(e);
      }
      await broker.store.flush();
      return reply.code(201).send();
    },
  );
  app.delete<{ Params: Params; Querystring: { 'if-unused'?: string; 'if-empty'?: string } }>('/api/queues/:vhost/:name', async (req, reply) => {
    const q = queueOf(req.params);
    req.authz.actIn(q.vhost.name);
    req.authz.require(q.vhost.name, 'configure', q.name);
    // The channel's texts, as 3.10.8's API passes them on.
    const refused = deleteRefusal(q.type, q.name, q.vhost.name, req.query['if-unused'] === 'true', req.query['if-empty'] === 'true');
    if (refused) throw badRequest(refused);
    // Counts another node keeps (the queue's owner in a cluster) are asked for first.
    await q.freshCounts();
    if (q.deleted) return reply.code(204).send();
    if (req.query['if-unused'] === 'true' && q.consumerCount > 0) throw badRequest(`queue '${q.name}' in vhost '${q.vhost.name}' in use`);
    if (req.query['if-empty'] === 'true' && q.messageCount > 0) throw badRequest(`queue '${q.name}' in vhost '${q.vhost.name}' not empty`);
    q.vhost.deleteQueue(q);
    await broker.store.flush();
    return reply.code(204).send();
  });
  app.delete<{ Params: Params }>('/api/queues/:vhost/:name/contents', async (req, reply) => {
    const q = queueOf(req.params);
    req.authz.actIn(q.vhost.name);
    req.authz.require(q.vhost.name, 'read', q.name);
    // Done by the node that owns the queue, in a cluster (sent there and answered), else here.
    const elsewhere = q.purgeElsewhere();
    if (elsewhere) await elsewhere;
    else q.purge();
    await broker.store.flush();
    return reply.code(204).send();
  });
  // The classic-mirroring actions: nothing to synchronise here (no queue has mirrors), so both are
  // done at once, as 3.10.8 answers them for a queue without mirrors; any other is refused as it is.
  app.post<{ Params: Params; Body: { action?: unknown } }>('/api/queues/:vhost/:name/actions', async (req, reply) => {
    const q = queueOf(req.params);
    req.authz.actIn(q.vhost.name);
    requireKeys(req.body, ['action']);
    const action = String(req.body.action);
    if (action !== 'sync' && action !== 'cancel_sync') throw new HttpError(400, 'bad_request', ['unknown', action]);
    return reply.code(204).send();
  });
  app.post<{ Params: Params; Body: { count: number; ackmode: string; encoding: string; truncate?: number } }>(
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
        ),
      },
    },
    async (req) => {
      requireKeys(req.body, ['ackmode', 'count', 'encoding']);
      const v = actionVHost(req.authz, req.params.vhost);
      const name = req.params.name ?? '';
      if (!req.authz.permits(v.name, 'read', name)) throw new HttpError(401, 'not_authorised', req.authz.accessRefusedText(v.name, 'queue', name));
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
          payload_bytes: e.msg.bodySize,
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
  app.get<{ Params: Params }>('/api/exchanges', async (req) =>
    seenVHosts(req.authz).flatMap((v) => [...v.exchanges.entries()].filter(([n]) => n !== 'amq.default').map(([, e]) => exchangeView(e, v.name, rates))),
  );
  app.get<{ Params: Params }>('/api/exchanges/:vhost', async (req) => {
    const v = readableVHost(req.authz, req.params.vhost);
    return [...v.exchanges.entries()].filter(([n]) => n !== 'amq.default').map(([, e]) => exchangeView(e, v.name, rates));
  });
  app.get<{ Params: Params }>('/api/exchanges/:vhost/:name', async (req) => {
    const v = readableVHost(req.authz, req.params.vhost);
    const e = v.exchanges.get(exchangeParam(req.params.name));
    if (!e) throw notFound();
    // incoming/outgoing: per channel and per queue figures, empty in rates_mode basic (as 3.10.8's default).
    return { ...exchangeView(e, v.name, rates), incoming: [], outgoing: [] };
  });
  app.put<{ Params: Params; Body: { type?: string; durable?: boolean; auto_delete?: boolean; internal?: boolean; arguments?: Args } }>(
    '/api/exchanges/:vhost/:name',
    { schema: { body: obj({ type: S, durable: B, auto_delete: B, internal: B, arguments: O }) } },
    async (req, reply) => {
      const v = actionVHost(req.authz, req.params.vhost);
      const name = req.params.name ?? '';
      req.authz.require(v.name, 'configure', name);
      // RabbitMQ 3.10.8's defaults when the body leaves them out (an empty body too): a transient direct exchange.
      const type = req.body.type ?? 'direct';
      if (!isExchangeType(type)) throw badRequest(unknownExchangeTypeText(type));
      const declared = {
        type,
        durable: req.body.durable ?? false,
        autoDelete: req.body.auto_delete ?? false,
        internal: req.body.internal ?? false,
        arguments: toFieldTable(req.body.arguments ?? {}),
      };
      const existing = v.exchanges.get(name);
      if (existing) {
        try {
          checkExchangeEquivalent(existing, v.name, declared);
        } catch (e) {
          throw fromAmqp(e);
        }
        return reply.code(204).send();
      }
      if (name === '' || name.startsWith('amq.')) throw accessRefused();
      try {
        checkAlternateExchangeArg(name, v.name, declared.arguments);
      } catch (e) {
        throw fromAmqp(e);
      }
      const refused = checkExchangeArguments(type, declared.arguments);
      if (refused !== undefined) throw badRequest(refused);
      v.addExchange({ name, ...declared, user: req.authz.user.name });
      await broker.store.flush();
      return reply.code(201).send();
    },
  );
  app.delete<{ Params: Params; Querystring: { 'if-unused'?: string } }>('/api/exchanges/:vhost/:name', async (req, reply) => {
    const v = vhostOf(req.params.vhost);
    const name = exchangeParam(req.params.name);
    // 3.10.8: a name that is not there is 404 (amq.* ones too); the default exchange (amq.default
    // too, every vhost has it) and the amq.* exchanges are refused.
    const e = v.exchanges.get(name);
    if (!e) throw notFound();
    req.authz.actIn(v.name);
    if (name === '' || name.startsWith('amq.')) throw accessRefused();
    req.authz.require(v.name, 'configure', e.name);
    if (req.query['if-unused'] === 'true' && e.bindings.size > 0) throw badRequest(`exchange '${e.name}' in vhost '${v.name}' in use`);
    v.deleteExchange(e);
    await broker.store.flush();
    return reply.code(204).send();
  });
  app.post<{ Params: Params; Body: { routing_key: string; payload: string; payload_encoding: string; properties: PropertiesJson } }>(
    '/api/exchanges/:vhost/:name/publish',
    { schema: { body: obj({ routing_key: S, payload: S, payload_encoding: { enum: ['string', 'base64'] }, properties: O }) } },
    async (req) => {
      requireKeys(req.body, ['routing_key', 'properties', 'payload', 'payload_encoding']);
      const v = actionVHost(req.authz, req.params.vhost);
      const name = exchangeParam(req.params.name);
      // RabbitMQ passes the channel error on as a 400 whose reason starts with its AMQP code.
      const resource = name === '' ? 'amq.default' : name;
      if (!req.authz.permits(v.name, 'write', resource)) throw badRequest(`403 ${req.authz.accessRefusedText(v.name, 'exchange', resource)}`);
      const e = v.exchanges.get(name);
      // RabbitMQ 3.10.8: 400 with the channel error's text.
      if (!e) throw badRequest(`404 NOT_FOUND - no exchange '${name}' in vhost '${v.name}'`);
      const body = Buffer.from(req.body.payload, req.body.payload_encoding === 'base64' ? 'base64' : 'utf8');
      // As over AMQP (frames/assembler.ts): a body over the broker's max_message_size (in a cluster,
      // what its NATS servers carry) is the channel's 406.
      const max = broker.options.maxMessageSize;
      if (body.length > max) throw badRequest(`406 PRECONDITION_FAILED - message size ${body.length} is larger than configured max size ${max}`);
      // As over AMQP (channel.ts checkUserId): a user_id must be the publisher's, unless it impersonates.
      const claimed = (req.body.properties as { user_id?: unknown } | undefined)?.user_id;
      const u = req.authz.user;
      if (claimed !== undefined && claimed !== u.name && !u.tags.includes('impersonator')) {
        throw badRequest(`406 PRECONDITION_FAILED - user_id property set to '${String(claimed)}' but authenticated user was '${u.name}'`);
      }
      const props = encodePropertiesJson(req.body.properties ?? {});
      const msg = new Message(v.nextSeq(), name, req.body.routing_key, props, body, deliveryModeOf(props) === 2);
      let routed: number;
      try {
        ({ routed } = v.publish(e, msg));
      } catch (err) {
        // A queue that cannot take the body (a cluster's, whose messages travel between nodes).
        if (err instanceof AmqpError) throw badRequest(`${err.code} ${err.replyText}`);
        throw err;
      }
      broker.stats.publish++;
      await broker.store.flush();
      return { routed: routed > 0 };
    },
  );

  // ---- bindings
  // As RabbitMQ lists them: each queue's implicit binding from the default exchange first.
  const bindingsOf = (v: VHost): JsonObject[] => [
    ...[...v.queues.values()].map((q) => defaultBindingView(q.name, v.name)),
    ...[...v.exchanges.values()].flatMap((e) => [...e.bindings.values()].map((b) => bindingView(b, v.name))),
  ];
  app.get<{ Params: Params }>('/api/bindings', async (req) => seenVHosts(req.authz).flatMap(bindingsOf));
  app.get<{ Params: Params }>('/api/bindings/:vhost', async (req) => bindingsOf(readableVHost(req.authz, req.params.vhost)));
  const bindingRoutes = (kind: 'q' | 'e'): void => {
    const path = `/api/bindings/:vhost/e/:source/${kind}/:dest`;
    /** The two ends named in the path, as far as they exist. */
    const lookup = (v: VHost, p: Params) => {
      const sourceName = exchangeParam(p.source);
      const destName = kind === 'q' ? (p.dest ?? '') : exchangeParam(p.dest);
      return { sourceName, destName, source: v.exchanges.get(sourceName), dest: kind === 'q' ? v.queues.get(destName) : v.exchanges.get(destName) };
    };
    /** The two ends, or 404 naming the one missing (the source first), as 3.10.8. */
    const endpoints = (p: Params) => {
      const v = vhostOf(p.vhost);
      const { sourceName, destName, source, dest } = lookup(v, p);
      if (!source) throw new HttpError(404, 'not_found', `no exchange '${sourceName}' in vhost '${v.name}'`);
      if (!dest) throw new HttpError(404, 'not_found', `no ${kind === 'q' ? 'queue' : 'exchange'} '${destName}' in vhost '${v.name}'`);
      return { v, source, dest };
    };
    /** Binding and unbinding need write on the destination and read on the source, as over AMQP. */
    const permittedEndpoints = (a: ApiAuthz, p: Params) => {
      const v = actionVHost(a, p.vhost);
      a.require(v.name, 'write', p.dest ?? '');
      a.require(v.name, 'read', p.source ?? '');
      return endpoints(p);
    };
    app.get<{ Params: Params }>(path, async (req) => {
      const v = readableVHost(req.authz, req.params.vhost);
      // 3.10.8 lists no bindings between ends that do not exist, rather than 404.
      const { source, dest } = lookup(v, req.params);
      if (!source || !dest) return [];
      return [...source.bindings.values()].filter((b) => b.destination === dest).map((b) => bindingView(b, v.name));
    });
    app.post<{ Params: Params; Body: { routing_key?: string; arguments?: Args } }>(
      path,
      { schema: { body: obj({ routing_key: S, arguments: O }) } },
      async (req, reply) => {
        const { v, source, dest } = permittedEndpoints(req.authz, req.params);
        if (source.name === '') throw accessRefused();
        const args = toFieldTable(req.body?.arguments ?? {});
        const rk = req.body?.routing_key ?? '';
        const refused = checkBindingKey(source.type, rk, source.arguments);
        if (refused !== undefined) throw badRequest(refused);
        v.addBinding(source, dest, rk, args);
        await broker.store.flush();
        return reply.code(201).header('location', propertiesKey({ routingKey: rk, arguments: args })).send();
      },
    );
    app.delete<{ Params: Params }>(`${path}/:props`, async (req, reply) => {
      const { v, source, dest } = permittedEndpoints(req.authz, req.params);
      const b = [...source.bindings.values()].find((x) => x.destination === dest && propertiesKey(x) === req.params.props);
      if (!b) throw notFound();
      v.removeBinding(b);
      await broker.store.flush();
      return reply.code(204).send();
    });
  };
  bindingRoutes('q');
  bindingRoutes('e');
  // One object's bindings, as RabbitMQ: a queue's (the default exchange's included), an exchange's
  // as source and as destination.
  const allBindings = (v: VHost) => [...v.exchanges.values()].flatMap((e) => [...e.bindings.values()]);
  app.get<{ Params: Params }>('/api/queues/:vhost/:name/bindings', async (req) => {
    const v = readableVHost(req.authz, req.params.vhost);
    const q = v.queues.get(req.params.name ?? '');
    if (!q) throw notFound();
    const implicit = { source: '', vhost: v.name, destination: q.name, destination_type: 'queue', routing_key: q.name, arguments: {}, properties_key: encodeURIComponent(q.name) || '~' };
    return [implicit, ...allBindings(v).filter((b) => b.destination === q && b.source.name !== '').map((b) => bindingView(b, v.name))];
  });
  app.get<{ Params: Params }>('/api/exchanges/:vhost/:name/bindings/source', async (req) => {
    const v = readableVHost(req.authz, req.params.vhost);
    const e = v.exchanges.get(exchangeParam(req.params.name));
    if (!e) throw notFound();
    return [...e.bindings.values()].map((b) => bindingView(b, v.name));
  });
  app.get<{ Params: Params }>('/api/exchanges/:vhost/:name/bindings/destination', async (req) => {
    const v = readableVHost(req.authz, req.params.vhost);
    const e = v.exchanges.get(exchangeParam(req.params.name));
    if (!e) throw notFound();
    return allBindings(v).filter((b) => b.destination === e).map((b) => bindingView(b, v.name));
  });

  // ---- connections, channels, consumers: monitors see all, management users their own
  /** The connections the user sees (in vhost, or in any once open), as listed. */
  const listConnections = (req: FastifyRequest, vhost?: VHost): JsonObject[] => {
    const pid = asksForColumn(req.query, 'pid');
    return seenConnections(req.authz)
      .filter((c) => (vhost ? c.vhost === vhost : c.vhost))
      .map((c) => connectionView(c, rates, pid));
  };
  app.get('/api/connections', async (req) => listConnections(req));
  app.get<{ Params: Params }>('/api/connections/:name', async (req) => {
    const c = connectionNamed(req.params.name);
    req.authz.readConnection(c);
    return connectionView(c, rates, asksForColumn(req.query, 'pid'));
  });
  app.delete<{ Params: Params }>('/api/connections/:name', async (req, reply) => {
    const c = connectionNamed(req.params.name);
    req.authz.closeConnection(c);
    const why = (req.headers['x-reason'] as string | undefined) ?? 'Closed via management plugin';
    c.close(ReplyCode.ConnectionForced, `CONNECTION_FORCED - ${why}`);
    return reply.code(204).send();
  });
  app.get('/api/channels', async (req) => seenConnections(req.authz).flatMap((c) => [...c.channels.values()].map((ch) => channelView(ch, rates))));
  // One vhost's connections and channels (3.10.8: 404 for a vhost that is not there).
  app.get<{ Params: Params }>('/api/vhosts/:vhost/connections', async (req) => listConnections(req, readableVHost(req.authz, req.params.vhost)));
  app.get<{ Params: Params }>('/api/vhosts/:vhost/channels', async (req) => {
    const v = readableVHost(req.authz, req.params.vhost);
    return seenConnections(req.authz)
      .filter((c) => c.vhost === v)
      .flatMap((c) => [...c.channels.values()].map((ch) => channelView(ch, rates)));
  });
  // The management UI's plugin scripts: Warren's UI takes none.
  app.get('/api/extensions', async () => []);
  app.get<{ Params: Params }>('/api/connections/:name/channels', async (req) => {
    const c = connectionNamed(req.params.name);
    req.authz.readConnection(c);
    return [...c.channels.values()].map((ch) => channelView(ch, rates));
  });
  app.get<{ Params: Params }>('/api/channels/:name', async (req) => {
    // "<connection name> (<number>)"
    const m = /^(.*) \((\d+)\)$/.exec(req.params.name ?? '');
    const conn = m ? [...broker.connections].find((c) => connectionName(c) === m[1]) : undefined;
    const ch = conn?.channels.get(Number(m![2]));
    if (!ch) throw notFound();
    req.authz.readConnection(ch.conn);
    // As 3.10.8, one channel's answer lists its consumers (consumer_details).
    // deliveries/publishes: per queue and per exchange figures, empty in rates_mode basic.
    return {
      ...channelView(ch, rates),
      consumer_details: consumersView([ch.conn]).filter((c) => (c.channel_details as JsonObject).number === ch.id),
      deliveries: [],
      publishes: [],
    };
  });
  app.get('/api/consumers', async (req) => consumersView(seenConnections(req.authz)));
  app.get<{ Params: Params }>('/api/consumers/:vhost', async (req) => {
    const v = readableVHost(req.authz, req.params.vhost);
    return consumersView(seenConnections(req.authz)).filter((c) => (c.queue as JsonObject).vhost === v.name);
  });

  // ---- vhosts (the list; the rest is for administrators, admin-api.ts)
  app.get('/api/vhosts', async (req) => {
    const totals = vhostTotals(broker);
    const node = ownName(broker);
    return [...broker.vhosts.values()].filter((v) => req.authz.listsVHost(v.name)).map((v) => vhostView(v, { totals: totals.get(v)!, rates, node }));
  });

  app.get('/api/whoami', async (req) => ({ name: req.authz.user.name, tags: req.authz.user.tags }));
  // Warren's own (RabbitMQ answers 404 here, and only administrators may read permissions): the
  // logged-in user's vhost permissions, so the UI offers only the actions they allow.
  app.get('/api/whoami/permissions', async (req) => broker.access.listPermissions().filter((p) => p.user === req.authz.user.name));
  registerAdminApi(app, broker, rates);
  registerPolicyApi(app, broker);
  registerLimitsApi(app, broker);
  registerParametersApi(app, broker);
  registerShovelsApi(app, broker);
  registerFederationApi(app, broker);
}
