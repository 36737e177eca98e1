// What rabbitmqctl set_vm_memory_high_watermark and set_disk_free_limit change on a running node,
// over HTTP for `warren ctl` (RabbitMQ's CLI reaches the node by Erlang distribution; its HTTP API
// has no such call, so these two paths are Warren's own). Administrators only; the new limit is
// checked at once and shows in GET /api/nodes and the metrics.
import type { FastifyInstance } from 'fastify';
import type { Broker } from '../server/broker.js';
import { badRequest } from './http-errors.js';

const num = (body: Record<string, unknown>, key: string): number | undefined => {
  const v = body[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw badRequest(`${key} must be a non-negative number`);
  return v;
};

export function registerAlarmsApi(app: FastifyInstance, broker: Broker): void {
  app.put('/api/warren/vm-memory-high-watermark', async (req, reply) => {
    req.authz.requireAdmin();
    const body = (req.body ?? {}) as Record<string, unknown>;
    const relative = num(body, 'relative');
    const absolute = num(body, 'absolute');
    if ((relative === undefined) === (absolute === undefined)) throw badRequest('give one of relative (a fraction of RAM, 0 to 1) or absolute (bytes)');
    if (relative !== undefined && relative > 1) throw badRequest('The threshold should be a fraction between 0.0 and 1.0');
    broker.alarms.setMemoryWatermark(relative !== undefined ? { relative } : { absolute: Math.floor(absolute!) });
    return reply.code(204).send();
  });

  app.put('/api/warren/disk-free-limit', async (req, reply) => {
    req.authz.requireAdmin();
    const body = (req.body ?? {}) as Record<string, unknown>;
    const absolute = num(body, 'absolute');
    const memRelative = num(body, 'mem_relative');
    if ((absolute === undefined) === (memRelative === undefined)) throw badRequest('give one of absolute (bytes) or mem_relative (a multiple of RAM)');
    broker.alarms.setDiskFreeLimit(absolute !== undefined ? { absolute: Math.floor(absolute) } : { memRelative: memRelative! });
    return reply.code(204).send();
  });
}
