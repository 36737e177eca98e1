// The management HTTP server (fastify): basic auth with broker users, the JSON API, Prometheus
// metrics and the web UI, on their own port (15672 by default, as RabbitMQ's plugin), and over HTTPS
// on another when given a certificate (management.ssl.*).
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Broker } from '../server/broker.js';
import { registerApi } from './api.js';
import { registerEnvironmentApi } from './environment-api.js';
import { registerAlarmsApi } from './alarms-api.js';
import { registerLogLevelApi } from './log-level-api.js';
import { registerStopApi } from './stop-api.js';
import { registerHealthApi } from './health-api.js';
import { registerFeatureFlagsApi } from './feature-flags-api.js';
import { registerRebalanceApi } from './rebalance-api.js';
import { AuthAttempts, registerAuthAttemptsApi } from './auth-attempts.js';
import { ApiAuthz, isManagementUser, notManagementUser } from './authz.js';
import { HttpError } from './http-errors.js';
import { registerMetrics } from './metrics.js';
import { registerPaging } from './paging.js';
import { registerRequestBodies } from './request-bodies.js';
import { boundPort, listenOn } from '../server/listen.js';
import { RateSampler } from './rates.js';
import { BrokerHistory } from './history.js';
import { QueueHistory } from './queue-history.js';
import { registerUi } from './ui.js';
import { sharedValidators } from './validators.js';
import { churnCounts, diskTotals, queueLevels, queueTotals } from './views.js';
import { vhostGauges, vhostTotals } from './vhost-stats.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated API user's rights; set for every /api request that gets to a route. */
    authz: ApiAuthz;
  }
}

export interface ManagementServer {
  /** The HTTP port, 0 when only HTTPS listens. */
  port: number;
  /** The HTTPS port, 0 when there is none. */
  tlsPort: number;
  close(): Promise<void>;
}

/** Where the HTTP listener binds. */
export interface ManagementListener {
  port: number;
  host: string;
}

/** The HTTPS listener (RabbitMQ's management.ssl.*): PEM files for its certificate, key and CA bundle. */
export interface ManagementTlsListener extends ManagementListener {
  cert: string;
  key: string;
  ca?: string | undefined;
}

function credentials(req: FastifyRequest): { user: string; pass: string } | null {
  const h = req.headers.authorization;
  if (!h?.startsWith('Basic ')) return null;
  const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i < 0 ? null : { user: decoded.slice(0, i), pass: decoded.slice(i + 1) };
}

export async function startManagement(
  broker: Broker,
  http: ManagementListener | null,
  tls: ManagementTlsListener | null,
  /** The management plugin's own settings, for GET /api/environment. */
  settings: object = {},
): Promise<ManagementServer> {
  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024, schemaController: { compilersFactory: { buildValidator: sharedValidators } } });
  const rates = new RateSampler(function* () {
    yield broker.stats;
    for (const v of broker.vhosts.values()) for (const q of v.queues.values()) yield q.stats;
    for (const c of broker.connections) for (const ch of c.channels.values()) yield ch.messageStats;
  }, 5000, function* () {
    for (const v of broker.vhosts.values()) {
      for (const q of v.queues.values()) yield [q, queueLevels(q)];
      for (const e of v.exchanges.values()) if (e.publishIn > 0) yield [e, { publish_in: e.publishIn, publish_out: e.publishOut }];
    }
    for (const c of broker.connections) yield [c, { recv_oct: c.socket.bytesRead, send_oct: c.socket.bytesWritten }];
    for (const [v, t] of vhostTotals(broker)) yield [v, vhostGauges(v, t)];
    // The overview's churn rates and queue totals' rates.
    yield [broker.counters, churnCounts(broker)];
    yield [broker.vhosts, queueTotals(broker)];
    // The overview's disk_reads and disk_writes (counted by queues, kept apart from MessageStats).
    yield [broker.stats, diskTotals(broker)];
  });
  rates.start();
  const history = new BrokerHistory(broker);
  history.start();
  const queueHistory = new QueueHistory(broker);
  queueHistory.start();

  // Everything under /api needs a broker user with a management tag; what it may see and do is
  // decided per route (authz.ts), as RabbitMQ decides it per resource.
  app.decorateRequest('authz', null as unknown as ApiAuthz);
  const authAttempts = new AuthAttempts(broker);
  app.addHook('onRequest', async (req, reply) => {
    // /api/auth is what a login page asks before anyone logs in (feature-flags-api.ts).
    if (!req.url.startsWith('/api/') || req.url === '/api/auth') return;
    const c = credentials(req);
    const user = c ? broker.access.authenticate(c.user, c.pass) : null;
    if (c) authAttempts.countHttp(user !== null);
    if (!user) {
      // RabbitMQ's realm: HTTP clients that answer a challenge keep credentials per realm, and the
      // operators' checks (nagios-plugins-rabbitmq, Perl's LWP) hold them for "RabbitMQ
      // Management": under any other realm they never sent them. A request without credentials
      // gets an empty body, a failed login RabbitMQ 3.10's "not_authorized" (unlike its other 401s).
      reply.code(401).header('www-authenticate', 'Basic realm="RabbitMQ Management"');
      return c ? reply.send({ error: 'not_authorized', reason: 'Login failed' }) : reply.send();
    }
    if (!isManagementUser(user)) {
      const e = notManagementUser();
      return reply.code(e.status).send({ error: e.error, reason: e.reason });
    }
    req.authz = new ApiAuthz(broker, user);
  });
  // What the request does, it does as its user (the events' user_who_performed_action): the rest
  // of its handling runs inside this context.
  app.addHook('onRequest', (req, _reply, done) => {
    if (req.authz) broker.events.runAs(req.authz.user.name, done);
    else done();
  });
  registerRequestBodies(app);

  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof HttpError) return reply.code(err.status).send({ error: err.error, reason: err.reason });
    const e = err as { validation?: unknown; statusCode?: number; message?: string; code?: string };
    // A body that is not JSON: RabbitMQ 3.10.8 answers 400 "not_json".
    if (e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (e.statusCode === 400 && /is not valid JSON/.test(e.message ?? ''))) return reply.code(400).send({ error: 'bad_request', reason: 'not_json' });
    if (e.validation) return reply.code(400).send({ error: 'bad_request', reason: e.message });
    if (e.statusCode && e.statusCode < 500) return reply.code(e.statusCode).send({ error: 'bad_request', reason: e.message });
    broker.log.error({ err }, 'management API error');
    return reply.code(500).send({ error: 'internal_error', reason: 'internal error' });
  });

  // Every route's method and path pattern, so an unknown method on a known path answers 405.
  const routes: { method: string; re: RegExp }[] = [];
  app.addHook('onRoute', (r) => {
    const re = new RegExp(`^${r.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z_]+/g, '[^/]+')}$`);
    for (const m of [r.method].flat()) routes.push({ method: m, re });
  });
  const notFound = (req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const path = req.url.split('?')[0] ?? '';
    // As RabbitMQ 3.10.8: 405 with no body for a method a known path does not take.
    if (routes.some((r) => r.re.test(path) && r.method !== req.method && r.method !== 'HEAD')) return reply.code(405).send();
    return reply.code(404).send({ error: 'Object Not Found', reason: 'Not Found' });
  };
  app.setNotFoundHandler(notFound);
  registerPaging(app);
  registerApi(app, broker, rates, history, queueHistory);
  registerHealthApi(app, broker);
  registerFeatureFlagsApi(app);
  registerRebalanceApi(app, broker);
  registerAuthAttemptsApi(app, broker, authAttempts);
  registerEnvironmentApi(app, broker, settings);
  registerAlarmsApi(app, broker);
  registerLogLevelApi(app, broker);
  registerStopApi(app, broker);
  registerMetrics(app, broker);
  // The UI's catch-all takes every GET: an API path it gets is answered as any other missing one.
  registerUi(app, notFound);

  let port = 0;
  if (http) {
    await app.listen({ port: http.port, host: http.host });
    port = boundPort(app.server, http.port);
    broker.log.info({ port }, 'management listening');
  } else await app.ready();
  // HTTPS serves the same app: one set of routes, samplers and sessions for both listeners.
  let https: HttpsServer | null = null;
  if (tls) {
    const server = createHttpsServer(
      { cert: readFileSync(tls.cert), key: readFileSync(tls.key), ...(tls.ca ? { ca: readFileSync(tls.ca) } : {}), minVersion: 'TLSv1.2' },
      (req, res) => app.routing(req, res),
    );
    server.on('tlsClientError', (err) => broker.log.debug({ err: err.message }, 'management TLS handshake failed'));
    await listenOn(server, tls.port, tls.host);
    https = server;
    broker.log.info({ port: boundPort(server, tls.port) }, 'management listening for HTTPS');
  }
  return {
    port,
    tlsPort: https ? boundPort(https) : 0,
    close: async () => {
      rates.stop();
      history.stop();
      queueHistory.stop();
      if (https) {
        const closed = new Promise<void>((resolve) => https!.close(() => resolve()));
        https.closeAllConnections();
        await closed;
      }
      await app.close();
    },
  };
}
