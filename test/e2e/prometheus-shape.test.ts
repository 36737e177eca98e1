// The Prometheus endpoint against what RabbitMQ 3.10.8's rabbitmq_prometheus serves
// (test/fixtures/rabbitmq-prometheus, scraped under the load of helpers/fixture-load.ts): under
// the same load, every family RabbitMQ serves is there with its type and label names (except the
// ones listed as not reported, and those lists are checked too), every metric RabbitMQ's Grafana
// dashboards query is there, and the counters and gauges that do not depend on timing or on the
// machine have RabbitMQ's values.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigFile } from '../../src/config-file.js';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { CLI_PATH, REPO_ROOT } from '../helpers/broker-process.js';
import { DASHBOARDS, metricNames } from '../helpers/grafana-dashboard.js';
import { fixtureLoad, type FixtureLoad } from '../helpers/fixture-load.js';
import { labelNames, parseExposition, valueOf, type ParsedFamily } from '../helpers/prometheus-text.js';

const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/rabbitmq-prometheus');
const fixture = (file: string): Map<string, ParsedFamily> => parseExposition(readFileSync(path.join(FIXTURES, file), 'utf8'));

/**
 * What RabbitMQ 3.10.8 serves and Warren does not (named without the rabbitmq_ / rabbitmq_detailed_
 * prefix): the Erlang runtime's, Raft's and the message store's figures, per-channel message
 * counters (the rabbitmq_global_* counters have the totals), queue figures Warren does not keep.
 */
const NOT_REPORTED = new Set([
  // Erlang runtime
  'erlang_processes_used',
  'erlang_processes_limit',
  'erlang_gc_runs_total',
  'erlang_gc_reclaimed_bytes_total',
  'erlang_scheduler_context_switches_total',
  'erlang_scheduler_run_queue',
  'erlang_net_ticktime_seconds',
  'queue_process_reductions_total',
  'queue_process_memory_bytes',
  'channel_process_reductions_total',
  'connection_process_reductions_total',
  // Disk I/O, schema database and message store internals
  'io_read_ops_total',
  'io_read_bytes_total',
  'io_write_ops_total',
  'io_write_bytes_total',
  'io_sync_ops_total',
  'io_seek_ops_total',
  'io_reopen_ops_total',
  'io_read_time_seconds_total',
  'io_write_time_seconds_total',
  'io_sync_time_seconds_total',
  'io_seek_time_seconds_total',
  'schema_db_ram_tx_total',
  'schema_db_disk_tx_total',
  'msg_store_read_total',
  'msg_store_write_total',
  'queue_index_read_ops_total',
  'queue_index_write_ops_total',
  'queue_disk_reads_total',
  'queue_disk_writes_total',
  // Raft (Warren's quorum queues are not Raft groups)
  'raft_term_total',
  'raft_log_snapshot_index',
  'raft_log_last_applied_index',
  'raft_log_commit_index',
  'raft_log_last_written_index',
  'raft_entry_commit_latency_seconds',
  // Queue figures Warren does not keep
  'queue_consumer_capacity',
  'queue_consumer_utilisation',
  'queue_head_message_timestamp',
  // Per-channel message counters (per exchange, per queue)
  'channel_messages_published_total',
  'channel_messages_confirmed_total',
  'channel_messages_unroutable_returned_total',
  'channel_messages_unroutable_dropped_total',
  'channel_get_ack_total',
  'channel_get_total',
  'channel_messages_delivered_ack_total',
  'channel_messages_delivered_total',
  'channel_messages_redelivered_total',
  'channel_messages_acked_total',
  'channel_get_empty_total',
  'queue_messages_published_total',
  // TCP packet counts of the connections' sockets
  'connection_incoming_packets_total',
  'connection_outgoing_packets_total',
  'connection_pending_packets',
  // Logins by source address (off in RabbitMQ by default too: no samples)
  'auth_attempts_detailed_total',
  'auth_attempts_detailed_succeeded_total',
  'auth_attempts_detailed_failed_total',
]);

/** Label differences: identity_info carries RabbitMQ 4's rabbitmq_endpoint; build_info names Warren, not Erlang. */
const EXTRA_LABELS: Record<string, string[]> = {
  rabbitmq_identity_info: ['rabbitmq_endpoint'],
  rabbitmq_build_info: ['product_name', 'product_version'],
};
const MISSING_LABELS: Record<string, string[]> = {
  rabbitmq_build_info: ['erlang_version', 'prometheus_client_version'],
};

/** RabbitMQ 4's families Warren serves beside 3.10.8's (by endpoint). */
const RABBITMQ_4_FAMILIES: Record<string, string[]> = {
  'metrics.txt': ['rabbitmq_message_size_bytes'],
  'per-object.txt': ['rabbitmq_message_size_bytes', 'rabbitmq_queue_info'],
  detailed: ['rabbitmq_detailed_queue_info'],
};

/** Every family /metrics/detailed knows in RabbitMQ 3.10.8, as the fixture asked for them. */
const ALL_FAMILIES = [
  'connection_churn_metrics',
  'node_coarse_metrics',
  'node_metrics',
  'node_persister_metrics',
  'ra_metrics',
  'auth_attempt_metrics',
  'auth_attempt_detailed_metrics',
  'queue_coarse_metrics',
  'queue_consumer_count',
  'queue_metrics',
  'channel_metrics',
  'channel_exchange_metrics',
  'channel_process_metrics',
  'channel_queue_metrics',
  'connection_coarse_metrics',
  'connection_metrics',
  'channel_queue_exchange_metrics',
  'vhost_status',
  'exchange_bindings',
  'exchange_names',
];

/** The values that depend on neither timing nor the machine: Warren's must be RabbitMQ's. */
const EXACT = [
  /^rabbitmq_(connections|channels)_(opened|closed)_total$/,
  /^rabbitmq_queues_(declared|created|deleted)_total$/,
  /^rabbitmq_queue_messages(_ready|_unacked|_ready_bytes|_paged_out|_paged_out_bytes|_persistent|_bytes|_unacked_bytes)?$/,
  // (rabbitmq_queue_messages_persistent_bytes: 3.10.8 aggregates it to a family without a sample.)
  /^rabbitmq_queue_consumers$/,
  /^rabbitmq_channel_(consumers|messages_unacked|messages_unconfirmed|messages_uncommitted|acks_uncommitted|prefetch)$/,
  /^rabbitmq_consumer_prefetch$/,
  /^rabbitmq_connection_channels$/,
  /^rabbitmq_(connections|channels|consumers|queues)$/,
  /^rabbitmq_auth_attempts(_succeeded|_failed)?_total$/,
  /^rabbitmq_alarms_/,
  /^rabbitmq_disk_space_available_limit_bytes$/,
  // RabbitMQ 3.10.8 counts publishers wrongly (it decrements where it should increment).
  /^rabbitmq_global_(?!publishers)/,
];

const bare = (name: string): string => name.replace(/^rabbitmq_(detailed_)?/, '');

let b: RunningBroker;
let load: FixtureLoad;
let dataDir: string;
const base = (): string => `http://127.0.0.1:${b.prometheusPort}`;

async function scrape(pathAndQuery: string): Promise<Map<string, ParsedFamily>> {
  const res = await fetch(base() + pathAndQuery);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4');
  return parseExposition(await res.text());
}

/** Every family of the fixture is Warren's with the same type and label names, or listed as not reported. */
function compareShape(fixtureFile: string, ours: Map<string, ParsedFamily>, extra: string[]): void {
  const theirs = fixture(fixtureFile);
  const problems: string[] = [];
  for (const f of theirs.values()) {
    const o = ours.get(f.name);
    if (NOT_REPORTED.has(bare(f.name))) {
      if (o) problems.push(`${f.name}: listed as not reported, but served`);
      continue;
    }
    if (!o) {
      problems.push(`${f.name}: missing`);
      continue;
    }
    if (o.type !== f.type) problems.push(`${f.name}: type ${o.type}, RabbitMQ's ${f.type}`);
    if (o.help !== f.help) problems.push(`${f.name}: help '${o.help}', RabbitMQ's '${f.help}'`);
    const want = [...labelNames(f).filter((l) => !(MISSING_LABELS[f.name] ?? []).includes(l)), ...(EXTRA_LABELS[f.name] ?? [])].sort();
    if (f.samples.length > 0 && JSON.stringify(labelNames(o)) !== JSON.stringify(want)) {
      problems.push(`${f.name}: labels ${labelNames(o).join(',')}, RabbitMQ's ${labelNames(f).join(',')}`);
    }
  }
  for (const name of ours.keys()) if (!theirs.has(name) && !extra.includes(name)) problems.push(`${name}: served, RabbitMQ 3.10.8 has no such family`);
  expect(problems, `${fixtureFile}:\n${problems.join('\n')}`).toEqual([]);
}

/** The samples of the EXACT metrics, Warren's and RabbitMQ's. */
function exactValues(fams: Map<string, ParsedFamily>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of fams.values()) {
    if (!EXACT.some((re) => re.test(f.name))) continue;
    for (const s of f.samples) out[`${s.name}${JSON.stringify(s.labels)}`] = s.value;
  }
  return out;
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'warren-prom-shape-'));
  b = await startBroker({ prometheusPort: 0, dataDir });
  load = await fixtureLoad(`amqp://guest:guest@127.0.0.1:${b.port}`);
  // As many ticks as the RabbitMQ run published, so every message counter can match.
  const ticks = valueOf(fixture('metrics.txt'), 'rabbitmq_global_messages_received_total')! - 27;
  for (let i = 0; i < ticks; i++) load.tick();
  const settled = async (): Promise<boolean> => {
    const m = await scrape('/metrics');
    const v = (name: string, labels: Record<string, string> = {}): number | undefined => valueOf(m, name, labels);
    return (
      v('rabbitmq_global_messages_acknowledged_total', { queue_type: 'rabbit_classic_queue' }) === 5 &&
      v('rabbitmq_queue_messages_unacked') === 5 &&
      v('rabbitmq_global_messages_delivered_consume_auto_ack_total', { queue_type: 'rabbit_classic_queue' }) === ticks + 2 &&
      v('rabbitmq_global_messages_confirmed_total') === ticks + 27
    );
  };
  const deadline = Date.now() + 10_000;
  while (!(await settled())) {
    if (Date.now() > deadline) throw new Error(`the load did not settle:\n${await (await fetch(`${base()}/metrics`)).text()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
});

afterAll(async () => {
  await load?.close();
  await b?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('Prometheus endpoint in rabbitmq_prometheus shape', () => {
  it('/metrics: RabbitMQ 3.10.8 families, types, help and label names', async () => {
    compareShape('metrics.txt', await scrape('/metrics'), RABBITMQ_4_FAMILIES['metrics.txt']!);
  });

  it('/metrics/per-object: the same, with each queue, channel and connection labelled as RabbitMQ does', async () => {
    const ours = await scrape('/metrics/per-object');
    compareShape('per-object.txt', ours, RABBITMQ_4_FAMILIES['per-object.txt']!);
    expect(ours.get('rabbitmq_queue_messages_ready')!.samples.map((s) => s.labels).sort((x, y) => x.queue!.localeCompare(y.queue!))).toEqual(
      ['dead', 'idle', 'qq', 'work'].map((queue) => ({ vhost: '/', queue })),
    );
  });

  it('/metrics/detailed: only the families asked for, named rabbitmq_detailed_*, filtered by vhost', async () => {
    compareShape(
      'detailed-queue_coarse_metrics-queue_consumer_count.txt',
      await scrape('/metrics/detailed?family=queue_coarse_metrics&family=queue_consumer_count&vhost=/'),
      RABBITMQ_4_FAMILIES.detailed!,
    );
    const all = await scrape(`/metrics/detailed?vhost=/&${ALL_FAMILIES.map((f) => `family=${f}`).join('&')}`);
    compareShape('detailed-all-families.txt', all, RABBITMQ_4_FAMILIES.detailed!);
    compareShape('detailed-no-family.txt', await scrape('/metrics/detailed'), []);
    // A vhost that does not exist: the queue families have no samples.
    const none = await scrape('/metrics/detailed?family=queue_coarse_metrics&vhost=nope');
    expect(none.get('rabbitmq_detailed_queue_messages_ready')?.samples).toEqual([]);
  });

  it("the metrics RabbitMQ's Grafana dashboards query are all served", async () => {
    const ours = await scrape('/metrics');
    const used = [...metricNames(DASHBOARDS)];
    expect(used.length).toBeGreaterThan(30);
    expect(used.filter((n) => !ours.has(n) || ours.get(n)!.samples.length === 0)).toEqual([]);
    expect(used.filter((n) => NOT_REPORTED.has(bare(n)))).toEqual([]);
  });

  it("under the same load, RabbitMQ's values where neither timing nor the machine decides them", async () => {
    for (const [file, pathAndQuery] of [
      ['metrics.txt', '/metrics'],
      ['per-object.txt', '/metrics/per-object'],
    ] as const) {
      const theirs = exactValues(fixture(file));
      const ours = exactValues(await scrape(pathAndQuery));
      // Per object, channels and connections are named differently (RabbitMQ: Erlang pids); and
      // RabbitMQ has no paging figures for a quorum queue, where Warren pages as for classic ones.
      const comparable = (k: string): boolean => !k.includes('"channel":') && !/_paged_out(_bytes)?\{.*"queue":"qq"/.test(k);
      expect(Object.keys(theirs).length).toBeGreaterThan(40);
      expect(Object.fromEntries(Object.entries(ours).filter(([k]) => comparable(k))), file).toEqual(
        Object.fromEntries(Object.entries(theirs).filter(([k]) => comparable(k))),
      );
    }
  });

  it('identity: node, cluster, permanent id and the endpoint', async () => {
    const id = (m: Map<string, ParsedFamily>): Record<string, string> => m.get('rabbitmq_identity_info')!.samples[0]!.labels;
    const a = id(await scrape('/metrics'));
    expect(a).toMatchObject({ rabbitmq_cluster: 'warren', rabbitmq_endpoint: 'aggregated' });
    expect(a.rabbitmq_node).toMatch(/^warren@/);
    expect(a.rabbitmq_cluster_permanent_id).toMatch(/^rabbitmq-cluster-id-[\w-]{22}$/);
    expect(id(await scrape('/metrics/per-object')).rabbitmq_endpoint).toBe('per-object');
    expect(id(await scrape('/metrics/detailed')).rabbitmq_endpoint).toBe('detailed');
  });

  it('gzip when asked for; 404 elsewhere; 405 for other methods', async () => {
    const res = await fetch(`${base()}/metrics`, { headers: { 'accept-encoding': 'gzip' } });
    expect(res.headers.get('content-encoding')).toBe('gzip');
    // fetch inflates it already; the raw bytes are checked through node:http below.
    expect(await res.text()).toMatch(/^# TYPE /);
    const raw = await new Promise<Buffer>((resolve, reject) => {
      import('node:http').then(({ get }) =>
        get(`${base()}/metrics`, { headers: { 'accept-encoding': 'gzip' } }, (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => resolve(Buffer.concat(chunks)));
        }).on('error', reject),
      );
    });
    expect(gunzipSync(raw).toString()).toContain('rabbitmq_identity_info{');
    expect((await fetch(`${base()}/`)).status).toBe(404);
    expect((await fetch(`${base()}/api/overview`)).status).toBe(404);
    expect((await fetch(`${base()}/metrics`, { method: 'POST' })).status).toBe(405);
  });
});

describe('--prometheus-port and the config file', () => {
  it("prometheus.tcp.port, .ip and return_per_object_metrics are rabbitmq.conf's keys", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'warren-prom-conf-'));
    try {
      const f = path.join(dir, 'r.conf');
      writeFileSync(f, 'prometheus.tcp.port = 15699\nprometheus.tcp.ip = 127.0.0.1\nprometheus.return_per_object_metrics = true\n');
      expect(parseConfigFile(f)).toEqual({ 'prometheus-port': 15699, 'prometheus-host': '127.0.0.1', 'prometheus-per-object': true });
      writeFileSync(f, 'prometheus.tcp.port = -1\n');
      expect(parseConfigFile(f)).toEqual({ 'prometheus-port': -1 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the warren command logs the port (0: any free one) and serves on it; -1 is off', async () => {
    const run = async (args: string[]): Promise<{ log: string; port: number | null }> => {
      const proc = spawn(process.execPath, [CLI_PATH, '--port', '0', '--host', '127.0.0.1', '--in-memory', '--management-port', '0', '--prometheus-host', '127.0.0.1', ...args], {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let log = '';
      proc.stdout.on('data', (d: Buffer) => (log += d.toString()));
      proc.stderr.on('data', (d: Buffer) => (log += d.toString()));
      try {
        const deadline = Date.now() + 15_000;
        while (!/"msg":"listening"/.test(log) || (args.includes('0') && !/prometheus listening/.test(log))) {
          if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`no listening line:\n${log}`);
          await new Promise((r) => setTimeout(r, 20));
        }
        const m = /"port":(\d+),"host":"127.0.0.1","msg":"prometheus listening"/.exec(log);
        return { log, port: m ? Number(m[1]) : null };
      } finally {
        proc.kill('SIGTERM');
        await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
      }
    };
    const on = await run(['--prometheus-port', '0', '--prometheus-per-object']);
    expect(on.port, on.log).not.toBeNull();
    const off = await run(['--prometheus-port', '-1']);
    expect(off.log).not.toMatch(/prometheus listening/);
  });

  it('--prometheus-per-object: /metrics labels every queue, as RabbitMQ with return_per_object_metrics', async () => {
    const p = await startBroker({ prometheusPort: 0, prometheusPerObject: true });
    try {
      const conn = await (await import('amqplib')).default.connect(`amqp://guest:guest@127.0.0.1:${p.port}`);
      const ch = await conn.createChannel();
      await ch.assertQueue('per-object-q');
      const m = parseExposition(await (await fetch(`http://127.0.0.1:${p.prometheusPort}/metrics`)).text());
      expect(m.get('rabbitmq_queue_messages_ready')!.samples[0]!.labels).toEqual({ vhost: '/', queue: 'per-object-q' });
      expect(m.get('rabbitmq_identity_info')!.samples[0]!.labels.rabbitmq_endpoint).toBe('per-object');
      await conn.close();
    } finally {
      await p.close();
    }
  });
});
