// Prometheus metrics at GET /metrics (prom-client): queue depths, message counters, connections,
// memory, store size and store write latency. Values are read from the broker at scrape time.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Broker } from '../server/broker.js';
import type { MessageStats } from '../server/stats.js';

function dirSize(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) {
    try {
      n += statSync(join(dir, f)).size;
    } catch {
      // a file LevelDB just compacted away
    }
  }
  return n;
}

export function registerMetrics(app: FastifyInstance, broker: Broker): void {
  const register = new Registry();
  collectDefaultMetrics({ register, prefix: 'warren_' });

  const queues = (): { vhost: string; queue: string; q: import('../server/queue.js').Queue }[] =>
    [...broker.vhosts.values()].flatMap((v) => [...v.queues.values()].map((q) => ({ vhost: v.name, queue: q.name, q })));

  const queueGauge = (name: string, help: string, value: (q: import('../server/queue.js').Queue) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['vhost', 'queue'],
      registers: [register],
      collect() {
        this.reset();
        for (const x of queues()) this.set({ vhost: x.vhost, queue: x.queue }, value(x.q));
      },
    });
  };
  queueGauge('warren_queue_messages_ready', 'Messages ready for delivery', (q) => q.messageCount);
  queueGauge('warren_queue_messages_unacked', 'Messages delivered and not yet acknowledged', (q) => q.unackedTotal);
  queueGauge('warren_queue_consumers', 'Consumers on the queue', (q) => q.consumerCount);
  queueGauge('warren_queue_messages_dlx', 'Dead letters a quorum queue owes at least once, not yet taken by their targets', (q) => q.deadLetterCount);
  queueGauge('warren_queue_messages_paged_out', 'Ready messages kept in the store only, not in memory', (q) => q.pagedOut.count);
  // Each queue's type as a label of an info metric (1), so the gauges above keep their labels.
  new Gauge({
    name: 'warren_queue_info',
    help: 'One per queue, with its type (classic, quorum) as a label',
    labelNames: ['vhost', 'queue', 'type'],
    registers: [register],
    collect() {
      this.reset();
      for (const x of queues()) this.set({ vhost: x.vhost, queue: x.queue, type: x.q.type.name }, 1);
    },
  });

  const counter = (name: string, help: string, key: keyof MessageStats): void => {
    new Counter({
      name,
      help,
      registers: [register],
      collect() {
        this.reset();
        this.inc(broker.stats[key]);
      },
    });
  };
  counter('warren_messages_published_total', 'Messages published', 'publish');
  counter('warren_messages_delivered_total', 'Messages delivered to consumers', 'deliver');
  counter('warren_messages_got_total', 'Messages fetched with basic.get', 'get');
  counter('warren_messages_acked_total', 'Messages acknowledged', 'ack');
  counter('warren_messages_redelivered_total', 'Messages delivered again', 'redeliver');
  counter('warren_messages_unroutable_returned_total', 'Mandatory messages returned as unroutable', 'returnUnroutable');

  new Gauge({
    name: 'warren_connections',
    help: 'Open client connections',
    registers: [register],
    collect() {
      this.set(broker.connections.size);
    },
  });
  new Gauge({
    name: 'warren_channels',
    help: 'Open channels',
    registers: [register],
    collect() {
      let n = 0;
      for (const c of broker.connections) n += c.channels.size;
      this.set(n);
    },
  });
  new Gauge({
    name: 'warren_store_size_bytes',
    help: 'Size of the store on disk (0 in memory)',
    registers: [register],
    collect() {
      this.set(broker.options.dataDir ? dirSize(broker.options.dataDir) : 0);
    },
  });
  const writes = new Histogram({
    name: 'warren_store_write_seconds',
    help: 'Time to write one group-commit batch to the store',
    buckets: [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
    registers: [register],
  });
  broker.store.onWrite = (seconds) => writes.observe(seconds);

  let labelled = false;
  app.get('/metrics', async (_req, reply) => {
    // A cluster node labels every series with its name, so one Prometheus can scrape them all.
    // (It joins the cluster after the management API is up: labelled at the first scrape after.)
    if (!labelled && broker.cluster) {
      register.setDefaultLabels({ node: broker.cluster.name });
      labelled = true;
    }
    reply.header('content-type', register.contentType);
    return register.metrics();
  });
}
