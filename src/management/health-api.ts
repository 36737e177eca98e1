// RabbitMQ's health-check endpoints (/api/health/checks/*) and /api/aliveness-test/{vhost}, with
// its bodies and codes (checked on 3.10.8): 200 {"status":"ok",…} when the check passes, 503
// {"status":"failed","reason":…,…} when it does not, so load balancers and Kubernetes probes
// written for RabbitMQ work unchanged.
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Broker } from '../server/broker.js';
import { Message } from '../server/message.js';
import { badRequest, notFound } from './http-errors.js';
import { encodePropertiesJson } from './properties-json.js';

type Params = { vhost?: string; port?: string; protocol?: string; within?: string; unit?: string };

/** RabbitMQ's names for the resources of its alarms. */
function alarmsOf(broker: Broker, node: string): { node: string; resource: string }[] {
  const out: { node: string; resource: string }[] = [];
  if (broker.alarms.memoryAlarm) out.push({ node, resource: 'memory' });
  if (broker.alarms.diskAlarm) out.push({ node, resource: 'disk space' });
  return out;
}

const UNIT_MS: Record<string, number> = { days: 86_400_000, weeks: 7 * 86_400_000, months: 30 * 86_400_000, years: 365 * 86_400_000 };

const failed = (reply: FastifyReply, body: Record<string, unknown>): Record<string, unknown> => {
  void reply.code(503);
  return { status: 'failed', ...body };
};

export function registerHealthApi(app: FastifyInstance, broker: Broker): void {
  const nodeName = (): string => broker.nodeName;

  // Only this node's alarms are known here (a cluster node does not hear the others' alarms).
  app.get('/api/health/checks/alarms', async (_req, reply) => {
    const alarms = alarmsOf(broker, nodeName());
    return alarms.length === 0 ? { status: 'ok' } : failed(reply, { reason: 'There are alarms in effect in the cluster', alarms });
  });
  app.get('/api/health/checks/local-alarms', async (_req, reply) => {
    const alarms = alarmsOf(broker, nodeName());
    return alarms.length === 0 ? { status: 'ok' } : failed(reply, { reason: 'There are alarms in effect on the node', alarms });
  });

  app.get<{ Params: Params }>('/api/health/checks/port-listener/:port', async (req, reply) => {
    const port = Number(req.params.port);
    if (!Number.isInteger(port)) throw badRequest(`Invalid port: ${req.params.port ?? ''}`);
    const ports = broker.listeners().map((l) => l.port);
    return ports.includes(port) ? { status: 'ok', port } : failed(reply, { reason: 'No active listener', missing: port, ports });
  });
  app.get<{ Params: Params }>('/api/health/checks/protocol-listener/:protocol', async (req, reply) => {
    const protocol = req.params.protocol ?? '';
    const protocols = broker.listeners().map((l) => l.protocol);
    return protocols.includes(protocol) ? { status: 'ok', protocol } : failed(reply, { reason: 'No active listener', missing: protocol, protocols });
  });

  // A vhost of Warren cannot be stopped on its own: every vhost that exists runs.
  app.get('/api/health/checks/virtual-hosts', async () => ({ status: 'ok' }));

  // A single node (or each node of a cluster) holds its own copy of every queue it owns: nothing
  // is at risk from this node stopping beyond what the cluster's replication covers.
  app.get('/api/health/checks/node-is-quorum-critical', async () => ({ status: 'ok', reason: 'single node cluster' }));
  // Classic mirrored queues do not exist here: nothing can be left without a synchronised mirror.
  app.get('/api/health/checks/node-is-mirror-sync-critical', async () => ({ status: 'ok', reason: 'single node cluster' }));
  // The health check 3.10.8 still answers though deprecated (scripts written for 3.7 call it).
  app.get('/api/healthchecks/node', async () => ({ status: 'ok' }));
  app.get<{ Params: { node?: string } }>('/api/healthchecks/node/:node', async (req) => {
    if (req.params.node !== nodeName()) throw notFound();
    return { status: 'ok' };
  });

  app.get<{ Params: Params }>('/api/health/checks/certificate-expiration/:within/:unit', async (req, reply) => {
    const within = Number(req.params.within);
    const unitMs = UNIT_MS[req.params.unit ?? ''];
    if (!Number.isInteger(within) || within < 0 || unitMs === undefined) {
      throw badRequest('Invalid unit or value: use a non-negative integer and one of days, weeks, months, years');
    }
    // Every TLS listener's certificate, the management API's HTTPS one too, as 3.10.8 checks them.
    const expired = [];
    for (const l of broker.listeners()) {
      if (!l.tls) continue;
      const expires = Date.parse(new X509Certificate(readFileSync(l.tls.certFile)).validTo);
      if (expires > Date.now() + within * unitMs) continue;
      expired.push({ node: nodeName(), protocol: l.protocol, interface: l.ip, port: l.port, certfile: l.tls.certFile, cacertfile: l.tls.caFile, expiration_date: new Date(expires).toISOString() });
    }
    return expired.length === 0 ? { status: 'ok' } : failed(reply, { reason: 'Certificates expiring', expired });
  });

  // RabbitMQ's aliveness test: declares the queue aliveness-test in the vhost, publishes a message
  // to it through the default exchange and gets it back.
  app.get<{ Params: Params }>('/api/aliveness-test/:vhost', async (req, reply) => {
    const v = broker.vhosts.get(req.params.vhost ?? '');
    if (!v) throw notFound();
    req.authz.actIn(v.name);
    const q = v.queues.get('aliveness-test') ?? v.addQueue({ name: 'aliveness-test', durable: false, autoDelete: false, exclusiveOwner: null, arguments: new Map() });
    const body = Buffer.from('test_message');
    const { routed } = v.publish(v.defaultExchange, new Message(v.nextSeq(), '', 'aliveness-test', encodePropertiesJson({}), body, false));
    await broker.store.flush();
    const wait = q.headReady();
    if (wait) await wait;
    const e = q.take();
    if (e) q.settle(e);
    return routed > 0 && e !== undefined && e.msg.body.equals(body) ? { status: 'ok' } : failed(reply, { reason: 'aliveness test failed' });
  });
}
