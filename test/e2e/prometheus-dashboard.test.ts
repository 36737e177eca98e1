// RabbitMQ's own Grafana dashboard works on Warren unchanged: a real Prometheus (Debian's
// `prometheus`, /usr/bin/prometheus) scrapes Warren's Prometheus endpoint every second while
// amqplib clients publish, consume, get, reject, return and churn; then every panel query of
// RabbitMQ-Overview (RabbitMQ's latest, and the one of 3.10.8), its template variables filled in
// as Grafana fills them, is evaluated through Prometheus' HTTP API and must return series.
// Skipped only when prometheus is not installed (`apt-get install prometheus`; .ci/run does).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { DASHBOARDS, panelQueries, rangeSeconds, substitute } from '../helpers/grafana-dashboard.js';
import { freePort } from '../helpers/management-client.js';
import { fixtureLoad, type FixtureLoad } from '../helpers/fixture-load.js';

const PROMETHEUS = '/usr/bin/prometheus';
const installed = existsSync(PROMETHEUS);

/**
 * Grafana's $__rate_interval with a Prometheus data source's default scrape interval (15 s):
 * max($__interval + 15s, 4 × 15s), which is 60s for these dashboards' ranges and widths.
 */
const RATE_INTERVAL = '60s';

interface PromResponse<T> {
  status: string;
  data: T;
  error?: string;
}

let warren: RunningBroker;
let prom: ChildProcess | null = null;
let promUrl = '';
let promLog = '';
let dir = '';
let load: FixtureLoad | null = null;
let traffic: NodeJS.Timeout | null = null;
const busy: amqp.ChannelModel[] = [];

async function api<T>(pathAndQuery: string): Promise<T> {
  const res = await fetch(promUrl + pathAndQuery);
  const body = (await res.json()) as PromResponse<T>;
  if (body.status !== 'success') throw new Error(`${pathAndQuery}: ${body.error ?? res.status}`);
  return body.data;
}

const query = (expr: string): Promise<{ resultType: string; result: unknown[] }> => api(`/api/v1/query?query=${encodeURIComponent(expr)}`);

/** Grafana's label_values(selector, label), sorted as the dashboards' variables sort (1: A→Z). */
async function labelValues(selector: string, label: string): Promise<string[]> {
  const values = await api<string[]>(`/api/v1/label/${label}/values?match[]=${encodeURIComponent(selector)}`);
  return values.sort();
}

/** The dashboards' template variables, each the first value its query gives (none: empty). */
async function variables(file: string): Promise<Record<string, string>> {
  const namespace = (await labelValues('rabbitmq_identity_info', 'namespace'))[0] ?? '';
  const cluster = (await labelValues(`rabbitmq_identity_info{namespace="${namespace}"}`, 'rabbitmq_cluster'))[0] ?? '';
  const endpoint =
    (await labelValues(`rabbitmq_identity_info{namespace="${namespace}", rabbitmq_cluster="${cluster}", rabbitmq_endpoint!="memory-breakdown"}`, 'rabbitmq_endpoint'))[0] ?? '';
  return { namespace, rabbitmq_cluster: cluster, endpoint, __rate_interval: RATE_INTERVAL, __range: `${rangeSeconds(file)}s` };
}

/** Keeps every kind of message counter moving: confirms, gets, acks, nacks, returns, churn. */
async function startTraffic(url: string): Promise<void> {
  const conn = await amqp.connect(url);
  busy.push(conn);
  const pub = await conn.createConfirmChannel();
  pub.on('return', () => undefined);
  await pub.assertQueue('busy', { durable: true });
  const sub = await conn.createChannel();
  await sub.prefetch(10);
  let n = 0;
  await sub.consume('busy', (m) => {
    if (!m) return;
    // Every tenth goes back once (redelivered), the rest are acked.
    if (++n % 10 === 0 && !m.fields.redelivered) sub.nack(m, false, true);
    else sub.ack(m);
  });
  const getter = await conn.createChannel();
  let i = 0;
  traffic = setInterval(() => {
    i++;
    for (let k = 0; k < 5; k++) pub.publish('', 'busy', Buffer.alloc(50 + ((i * 997 + k * 131) % 3000), 'x'), { persistent: true });
    pub.publish('', 'qq', Buffer.from('for basic.get'));
    pub.publish('', 'nowhere', Buffer.from('returned'), { mandatory: true });
    pub.publish('', 'nowhere', Buffer.from('dropped'));
    load?.tick();
    const noAck = i % 2 === 0;
    void getter.get('qq', { noAck }).then(
      (m) => {
        if (m && !noAck) getter.ack(m);
      },
      () => undefined,
    );
    void getter.get('idle').catch(() => undefined);
    // Churn: a connection with a channel and a queue, opened and closed.
    if (i % 5 === 0) {
      void amqp
        .connect(url)
        .then(async (c) => {
          const ch = await c.createChannel();
          await ch.assertQueue('', { exclusive: true });
          await c.close();
        })
        .catch(() => undefined);
    }
  }, 100);
}

beforeAll(async () => {
  if (!installed) return;
  dir = mkdtempSync(path.join(tmpdir(), 'warren-prometheus-'));
  warren = await startBroker({ prometheusPort: 0, dataDir: path.join(dir, 'warren') });
  const url = `amqp://guest:guest@127.0.0.1:${warren.port}`;
  load = await fixtureLoad(url);
  await startTraffic(url);

  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  writeFileSync(
    path.join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: warren',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${warren.prometheusPort}']`,
      '',
    ].join('\n'),
  );
  // Its own port and data directory: a Debian service on 9090, if one runs, is left alone.
  prom = spawn(
    PROMETHEUS,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prom.stdout!.on('data', (d: Buffer) => (promLog += d.toString()));
  prom.stderr!.on('data', (d: Buffer) => (promLog += d.toString()));

  // Ready, then scraped a few times (samples ≥ 6 s apart for the rates and increases).
  const deadline = Date.now() + 45_000;
  for (;;) {
    if (prom.exitCode !== null) throw new Error(`prometheus exited (${prom.exitCode}):\n${promLog}`);
    if (Date.now() > deadline) throw new Error(`prometheus did not scrape Warren in time:\n${promLog}`);
    try {
      const r = await query('count_over_time(rabbitmq_identity_info[1m])');
      const n = Number((r.result[0] as { value?: [number, string] } | undefined)?.value?.[1] ?? 0);
      if (n >= 8) break;
    } catch {
      // not ready yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}, 90_000);

afterAll(async () => {
  if (traffic) clearInterval(traffic);
  if (prom && prom.exitCode === null) {
    const exited = new Promise((r) => prom!.once('exit', r));
    prom.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (prom.exitCode === null) prom.kill('SIGKILL');
  }
  for (const c of busy) await c.close().catch(() => undefined);
  await load?.close().catch(() => undefined);
  await warren?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!installed)("RabbitMQ's Grafana dashboard on Warren, through a real Prometheus", () => {
  it('Prometheus scrapes the endpoint as up', async () => {
    const r = await query('up{job="warren"}');
    expect(r.result, promLog).toHaveLength(1);
    expect((r.result[0] as { value: [number, string] }).value[1]).toBe('1');
  });

  it.each(DASHBOARDS)('%s: every panel query returns series', async (file) => {
    const vars = await variables(file);
    expect(vars.rabbitmq_cluster).toBe('warren');
    expect(vars.endpoint).toBe('aggregated');
    expect(vars.namespace).toBe('');
    const queries = panelQueries(file);
    expect(queries.length).toBeGreaterThan(30);
    const failing: string[] = [];
    for (const q of queries) {
      const expr = substitute(q.expr, vars);
      try {
        const r = await query(expr);
        if (r.result.length === 0) failing.push(`${q.panel}: no series\n    ${expr}`);
      } catch (e) {
        failing.push(`${q.panel}: ${(e as Error).message}\n    ${expr}`);
      }
    }
    expect(failing, `${failing.length} of ${queries.length} queries of ${file} failed (variables ${JSON.stringify(vars)}):\n${failing.join('\n')}`).toEqual([]);
  });

  it('the counters the panels chart are moving', async () => {
    // The rates of the main message panels are above zero (not just present).
    for (const m of [
      'rabbitmq_global_messages_received_total',
      'rabbitmq_global_messages_routed_total',
      'rabbitmq_global_messages_confirmed_total',
      'rabbitmq_global_messages_delivered_consume_manual_ack_total',
      'rabbitmq_global_messages_delivered_consume_auto_ack_total',
      'rabbitmq_global_messages_acknowledged_total',
      'rabbitmq_global_messages_redelivered_total',
      'rabbitmq_global_messages_unroutable_returned_total',
      'rabbitmq_global_messages_unroutable_dropped_total',
      'rabbitmq_global_messages_get_empty_total',
      'rabbitmq_connections_opened_total',
      'rabbitmq_queues_created_total',
      'rabbitmq_message_size_bytes_count',
    ]) {
      const r = await query(`sum(rate(${m}[${RATE_INTERVAL}]))`);
      const v = Number((r.result[0] as { value: [number, string] } | undefined)?.value[1] ?? 0);
      expect(v, m).toBeGreaterThan(0);
    }
  });
});
