#!/usr/bin/env node
// `npm run bench`: Warren against LavinMQ (when built) and RabbitMQ (when rabbitmq-server is
// installed), with two clients: goperf (when built; goperf-scenarios.mjs) and amqplib worker
// processes (bench/scenarios/). Brokers are interleaved per repetition (W, L, R, W, L, R …); the
// medians and Warren's ratios are printed and written to bench/results/latest.md. --help for flags.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import {
  cleanupAll,
  lavinmqAvailable,
  lavinmqPath,
  rabbitAvailable,
  rabbitClusterNodeName,
  startLavinMQ,
  startNull,
  startRabbit,
  startRabbitCluster,
  startWarren,
  startWarrenCluster,
  RABBIT_NODE,
} from './brokers.mjs';
import { goperfAvailable, goperfPath, killAllGoperf } from './goperf.mjs';
import { GOPERF_SCENARIOS } from './goperf-scenarios.mjs';
import { BROKER_LABEL, renderReport } from './report.mjs';
import { fmt, sleep } from './stats.mjs';
import { killAllWorkers } from './workers.mjs';
import transient from './scenarios/transient.mjs';
import persistent from './scenarios/persistent.mjs';
import publishOnly from './scenarios/publish-only.mjs';
import rpc from './scenarios/rpc.mjs';
import fanout from './scenarios/fanout.mjs';
import latency from './scenarios/latency.mjs';
import idleConns from './scenarios/idle-conns.mjs';
import large from './scenarios/large.mjs';
import backlog from './scenarios/backlog.mjs';
import quorum from './scenarios/quorum.mjs';
import stream from './scenarios/stream.mjs';
import cluster from './scenarios/cluster.mjs';
import clusterStream from './scenarios/cluster-stream.mjs';

const AMQPLIB_SCENARIOS = [transient, persistent, publishOnly, rpc, fanout, latency, idleConns, large, backlog, quorum, stream, cluster, clusterStream];
const CLIENTS = { goperf: GOPERF_SCENARIOS, amqplib: AMQPLIB_SCENARIOS };
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

const HELP = `Usage: node bench/run.mjs [options]      (npm run bench -- [options] builds first)

  --client C            goperf, amqplib or both (default both when goperf is found, else amqplib)
  --only a,b            scenarios to run, in every selected client (default all; see --list)
  --skip a,b            scenarios to leave out
  --seconds N           measured seconds per run (default 6 with amqplib, 4 with goperf, whose
                        runs are many and whose client adds no noise of its own; goperf's
                        steady-rate latency runs take at least 15, for their p99.9)
  --warmup N            warm-up seconds before measuring (default 1)
  --runs N              repetitions per broker; medians are reported (default 3)
  --backlog N           messages in the backlog-recovery scenario (default 1000000)
  --backlog-runs N      repetitions of the backlog scenario (default 1)
  --conns N             idle connections to open (default 1000)
  --rate N              steady-rate latency publish rate, msgs/s (default 5000)
  --failover-rate N     cluster failover: the steady publish rate, msgs/s (default 1000)
  --pubs N              publisher processes where it applies (default 1)
  --brokers list        warren,lavinmq,rabbitmq,null (default: warren, plus lavinmq when built and
                        rabbitmq when installed)
  --lavinmq PATH        the LavinMQ binary (default $BENCH_LAVINMQ, else /work/perf/lavinmq/bin/lavinmq)
  --goperf PATH         the goperf binary (default $BENCH_GOPERF, else /work/perf/goperf/goperf)
  --null                also run the null broker (client ceiling) where it makes sense
  --fresh-rabbit        a fresh RabbitMQ node per scenario run (default: one node for the run,
                        each run deletes its queues; idle-conns always gets a fresh node)
  --warren-args "..."   extra flags for dist/cli.js (e.g. "--no-fsync"), in both clients' runs
  --out FILE            report path (default bench/results/latest.md)
  --list                list scenarios and exit
`;

const { values: o } = parseArgs({
  options: {
    client: { type: 'string' },
    lavinmq: { type: 'string' },
    goperf: { type: 'string' },
    only: { type: 'string' },
    skip: { type: 'string' },
    seconds: { type: 'string' },
    warmup: { type: 'string', default: '1' },
    runs: { type: 'string', default: '3' },
    backlog: { type: 'string', default: '1000000' },
    'backlog-runs': { type: 'string', default: '1' },
    conns: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '5000' },
    'failover-rate': { type: 'string', default: '1000' },
    pubs: { type: 'string', default: '1' },
    brokers: { type: 'string' },
    null: { type: 'boolean', default: false },
    'fresh-rabbit': { type: 'boolean', default: false },
    'warren-args': { type: 'string', default: '' },
    out: { type: 'string', default: join(here, 'results', 'latest.md') },
    list: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (o.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
if (o.list) {
  for (const [client, list] of Object.entries(CLIENTS)) for (const s of list) console.log(`${client.padEnd(8)} ${s.name.padEnd(19)} ${s.title}`);
  process.exit(0);
}

const SECONDS = { amqplib: 6, goperf: 4 }; // defaults: the whole `npm run bench` in about 38 min (the goperf latency rows take 15 s)
const secondsOf = (c) => Number(o.seconds ?? SECONDS[c]);
const warmup = Number(o.warmup);
const runs = Number(o.runs);
const goperf = goperfPath(o.goperf);
const lavinmq = lavinmqPath(o.lavinmq);
const args = { backlog: Number(o.backlog), conns: Number(o.conns), rate: Number(o.rate), pubs: Number(o.pubs), failoverRate: Number(o['failover-rate']), goperf };
const list = (s) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : []);
const client = o.client ?? (goperfAvailable(goperf) ? 'both' : 'amqplib');
if (!['goperf', 'amqplib', 'both'].includes(client)) throw new Error(`--client ${client}: goperf, amqplib or both`);
const clients = client === 'both' ? ['goperf', 'amqplib'] : [client];
if (clients.includes('goperf') && !goperfAvailable(goperf)) throw new Error(`goperf not found at ${goperf} (build it: /work/shared/goperf/build.sh /work/perf/goperf; or --goperf PATH, BENCH_GOPERF)`);
if (!o.client && client === 'amqplib') console.error(`goperf not found at ${goperf} (--goperf, BENCH_GOPERF): amqplib clients only`);
const only = list(o.only);
const skip = list(o.skip);
const known = clients.flatMap((c) => CLIENTS[c]);
for (const n of [...only, ...skip]) if (!known.some((s) => s.name === n)) throw new Error(`unknown scenario ${n} for --client ${client} (try --list)`);
/** ", latency-5k at least 15 s": the picked scenarios whose window is longer than --seconds. */
const longer = (c) =>
  picked(c)
    .filter((s) => (s.minSeconds ?? 0) > secondsOf(c))
    .map((s) => `, ${s.name} ${s.minSeconds} s`)
    .join('');
const picked = (c) => (clients.includes(c) ? CLIENTS[c].filter((s) => (!only.length || only.includes(s.name)) && !skip.includes(s.name)) : []);
let brokers = o.brokers ? list(o.brokers) : ['warren', ...(lavinmqAvailable(lavinmq) ? ['lavinmq'] : []), ...(rabbitAvailable() ? ['rabbitmq'] : [])];
if (o.null && !brokers.includes('null')) brokers.push('null');
for (const k of brokers) if (!BROKER_LABEL[k]) throw new Error(`unknown broker ${k}: warren, lavinmq, rabbitmq, null`);
if (brokers.includes('rabbitmq') && !rabbitAvailable()) throw new Error('rabbitmq-server/rabbitmqctl not found (apt-get install rabbitmq-server, or set RABBITMQ_BIN_DIR)');
if (brokers.includes('lavinmq') && !lavinmqAvailable(lavinmq)) throw new Error(`LavinMQ not found at ${lavinmq} (--lavinmq PATH, BENCH_LAVINMQ)`);
if (!existsSync(join(root, 'dist/cli.js'))) throw new Error('dist/cli.js missing: npm run build first (npm run bench does)');
if (!o.brokers && !brokers.includes('lavinmq')) console.error(`LavinMQ not found at ${lavinmq} (--lavinmq, BENCH_LAVINMQ): skipped`);
if (!o.brokers && !brokers.includes('rabbitmq')) console.error('rabbitmq-server not installed: RabbitMQ skipped');
const warrenArgs = o['warren-args'].split(' ').filter(Boolean);

// ------------------------------------------------------------------ cleanup on any exit path
let bailing = false;
async function bail(code, why) {
  if (bailing) return;
  bailing = true;
  if (why) console.error(why);
  killAllWorkers();
  killAllGoperf();
  await cleanupAll().catch((e) => console.error('cleanup:', e.message));
  process.exit(code);
}
process.on('SIGINT', () => bail(130, '\ninterrupted: stopping brokers…'));
process.on('SIGTERM', () => bail(143, 'terminated: stopping brokers…'));
process.on('uncaughtException', (e) => bail(1, e.stack));
process.on('unhandledRejection', (e) => bail(1, e?.stack ?? String(e)));

// ------------------------------------------------------------------ run
const log = (...a) => console.error(...a);
const serverInfo = async (url) => {
  const c = await amqp.connect(url);
  const p = c.connection.serverProperties ?? {};
  await c.close();
  // Warren answers as RabbitMQ (clients check the product); its own version is warren_version.
  const as = `${p.product ?? '?'} ${p.version ?? ''}`.trim();
  return p.warren_version ? `Warren ${p.warren_version} (answering as ${as})` : as;
};
const git = (...a) => {
  try {
    return execFileSync('git', a, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
};

const natsVersion = () => {
  try {
    return execFileSync('nats-server', ['--version'], { encoding: 'utf8' }).trim().replace(/^nats-server: /, '');
  } catch {
    return '?';
  }
};

const meta = {
  date: new Date().toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}`,
  Warren: `commit ${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--', 'src') ? ' (+ uncommitted src changes)' : ''}${warrenArgs.length ? `, flags ${warrenArgs.join(' ')}` : ''}`,
  'load average at start': `${loadavg().map((x) => x.toFixed(2)).join(', ')} (a shared machine makes results noisy)`,
  settings: `${clients.map((c) => `${secondsOf(c)} s (${c}${longer(c)})`).join(', ')} measured after ${warmup} s warm-up, ${runs} runs interleaved${args.pubs !== 1 ? `, ${args.pubs} publisher processes` : ''}${picked('amqplib').includes(backlog) ? ` (backlog: ${o['backlog-runs']} run(s) of ${args.backlog.toLocaleString('en-US')} messages)` : ''}, brokers ${brokers.join(', ')}, clients ${clients.join(', ')}`,
};
if (clients.includes('goperf')) meta.goperf = `${goperf} (Go, /work/shared/goperf; 1 producer, 1 consumer, prefetch 1000, acks every 100, confirm window 1000)`;

let sharedRabbit = null;
/**
 * The shared RabbitMQ node is stopped (SIGSTOP) while the other brokers run: idle, an Erlang node
 * still wakes its schedulers and timers, noise in their runs on 2 cores. It is continued (SIGCONT)
 * a second before its own runs, and before it is stopped for good.
 */
let rabbitPaused = false;
const pauseRabbit = () => {
  if (!sharedRabbit?.pid || rabbitPaused) return;
  try {
    process.kill(sharedRabbit.pid, 'SIGSTOP');
    rabbitPaused = true;
  } catch {
    // gone: the next acquire finds out
  }
};
const resumeRabbitOf = async (node) => {
  if (!rabbitPaused) return;
  rabbitPaused = false;
  try {
    process.kill(node.pid, 'SIGCONT');
  } catch {
    return;
  }
  await sleep(1000);
};
const resumeRabbit = () => resumeRabbitOf(sharedRabbit);
const stopRabbit = async () => {
  const node = sharedRabbit;
  sharedRabbit = null;
  await resumeRabbitOf(node);
  await node.stop();
};
process.on('exit', () => {
  if (rabbitPaused && sharedRabbit?.pid) {
    try {
      process.kill(sharedRabbit.pid, 'SIGCONT');
    } catch {}
  }
});
const rabbitNote = o['fresh-rabbit'] ? 'fresh node per run' : 'one node for the run, stopped (SIGSTOP) while the other brokers run, a fresh one per idle-conns run';
const bootRabbit = async () => {
  log(`starting RabbitMQ node ${RABBIT_NODE}…`);
  const b = await startRabbit();
  await sleep(2000); // let the fresh node settle (it is busy for about a second after boot)
  meta.RabbitMQ ??= `${await serverInfo(b.url)} (node ${RABBIT_NODE}, default config, ${rabbitNote})`;
  return b;
};
const acquire = async (kind, scenario) => {
  if (scenario.cluster) {
    // three-node clusters, fresh per run (the failover kills a node)
    if (kind === 'warren') {
      meta['Warren cluster'] ??= `3 × nats-server ${natsVersion()} (JetStream, clustered on loopback) + 3 × dist/cli.js --cluster, fresh per run`;
      return { broker: await startWarrenCluster({ extraArgs: warrenArgs }), release: (b) => b.stop() };
    }
    if (sharedRabbit) await stopRabbit(); // an idle node less on the machine while clusters run
    log(`starting a RabbitMQ cluster ${[0, 1, 2].map(rabbitClusterNodeName).join(', ')}…`);
    const b = await startRabbitCluster();
    await sleep(2000); // as for one node: let the fresh nodes settle
    meta['RabbitMQ cluster'] ??= `${await serverInfo(b.url)} (nodes ${b.nodes.map((n) => n.name).join(', ')}, default config, fresh per run)`;
    return { broker: b, release: (x) => x.stop() };
  }
  if (kind !== 'rabbitmq') pauseRabbit();
  else await resumeRabbit();
  if (kind === 'warren') return { broker: await startWarren({ extraArgs: warrenArgs }), release: (b) => b.stop() };
  if (kind === 'lavinmq') {
    const b = await startLavinMQ({ binary: lavinmq });
    meta.LavinMQ ??= `${await serverInfo(b.url)} (${lavinmq}, default config, fresh process and data dir per run)`;
    return { broker: b, release: (x) => x.stop() };
  }
  if (kind === 'null') return { broker: await startNull(), release: (b) => b.stop() };
  if (o['fresh-rabbit'] || scenario.freshBroker) {
    if (sharedRabbit) await stopRabbit(); // one node name: the shared node restarts when next needed
    return { broker: await bootRabbit(), release: (b) => b.stop() };
  }
  sharedRabbit ??= await bootRabbit();
  return { broker: sharedRabbit, release: async () => {} };
};

let warrenInfo = '';
const sections = clients.map((c) => ({ client: c, results: [] })); // goperf first: the headline table
const started = performance.now();
const writeReport = () => {
  meta.duration = `${Math.round((performance.now() - started) / 1000)} s`;
  mkdirSync(dirname(resolve(o.out)), { recursive: true });
  const report = renderReport({ sections, meta });
  writeFileSync(o.out, report);
  return report;
};
for (const section of sections) {
  for (const scenario of picked(section.client)) {
    const entry = { scenario, runs: {} };
    section.results.push(entry);
    const kinds = brokers.filter((k) => (k !== 'null' || scenario.metrics.some((m) => m.nullBroker)) && !scenario.skipBrokers?.includes(k));
    const reps = scenario.name === 'backlog' ? Number(o['backlog-runs']) : runs;
    const tag = `[${section.client} ${scenario.name}]`;
    for (let rep = 1; rep <= reps; rep++) {
      for (const kind of kinds) {
        const id = `${kind}${rep}-${Date.now().toString(36)}`;
        let res;
        let acq;
        try {
          acq = await acquire(kind, scenario);
          if (kind === 'warren' && !warrenInfo) meta.Warren = `${(warrenInfo = await serverInfo(acq.broker.url))}, ${meta.Warren}`;
          res = await scenario.run({ broker: acq.broker, seconds: secondsOf(section.client), warmup, id, args });
        } catch (e) {
          res = { error: String(e?.stack ?? e) };
          killAllWorkers(); // a failed run may leave clients behind
          killAllGoperf();
          if (kind === 'rabbitmq' && sharedRabbit) {
            // the node may be wedged or down (e.g. after a failed restart): start afresh next time
            await stopRabbit().catch(() => {});
          }
        } finally {
          if (acq) await acq.release(acq.broker).catch((e) => log('stop:', e.message));
        }
        (entry.runs[kind] ??= []).push(res);
        const label = BROKER_LABEL[kind];
        if (res.error) log(`${tag} ${label} run ${rep}/${reps}: ERROR ${res.error}`);
        else {
          const vals = scenario.metrics.map((m) => `${m.label} ${fmt(res.values[m.key])}`).join(', ');
          const cpu = Object.entries(res.clientCpu ?? {}).map(([n, c]) => `${n} ${fmt(c, 0)}%`).join(' ');
          log(`${tag} ${label} run ${rep}/${reps}: ${vals} | client CPU ${cpu} | broker CPU ${fmt(res.broker?.cpu, 0)}%`);
          for (const note of res.notes ?? []) log(`${tag} ${label} run ${rep}/${reps}: ! ${note}`);
        }
        await sleep(100);
      }
    }
    writeReport(); // after every scenario, so an interrupted run still leaves a report
  }
}
if (sharedRabbit) {
  log('stopping RabbitMQ…');
  await stopRabbit();
}
await cleanupAll();
meta['load average at end'] = loadavg().map((x) => x.toFixed(2)).join(', ');
const report = writeReport();
process.stdout.write('\n' + report);
log(`\nwritten to ${o.out}`);
