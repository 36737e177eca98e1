#!/usr/bin/env node
// `npm run bench:scale`: scale of objects (issue 14, goal 5) — Warren against LavinMQ and RabbitMQ:
//   conns-N   N idle AMQP connections (default 10,000 and 50,000): time to open them all, broker
//             RSS per connection
//   queues    100,000 queues, each bound to a direct exchange: time, RSS per queue (with its binding)
//   topic     1,000,000 bindings with '*' and '#' on a topic exchange (to 1,000 queues): time, RSS
//             per binding, then the rate of confirmed publishes routed through it (most to no queue
//             or one), against the same exchange before its bindings were made
// Every step runs on a fresh broker process (RSS before/after is the broker's own), brokers
// interleaved per repetition; medians; a table with Warren's ratios, also written to
// bench/results/scale-latest.md. The client (bench/scale/amqp.mjs) is a raw socket with a minimal
// AMQP codec, in a forked process for the connections. --help for flags.
import { execFileSync, fork, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cleanupAll, lavinmqAvailable, lavinmqPath, rabbitAvailable, rabbitctl, startLavinMQ, startRabbit, startWarren } from './brokers.mjs';
import { Conn, M } from './scale/amqp.mjs';
import { bindingKey, routingKeys } from './scale/keys.mjs';
import { fmt, median, procCpuMs, procMem, sleep } from './stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));

const HELP = `Usage: node bench/scale.mjs [options]      (npm run bench:scale -- [options] builds first)

  --only a,b          steps: conns, queues, topic (default all)
  --conns a,b         idle-connection counts (default 10000,17500,50000; a count the open-file
                      limit cannot hold is skipped with a line saying so)
  --queues N          queues, one binding each (default 100000)
  --bindings N        topic-exchange bindings (default 1000000)
  --topic-queues N    queues the topic bindings point at (default 1000)
  --publish-seconds S seconds of confirmed publishing timed through the topic exchange, after 1 s
                      of warm-up (default 5)
  --runs N            repetitions of the conns steps (default 3)
  --queue-runs N      repetitions of the queues step (default 1: RabbitMQ takes minutes)
  --topic-runs N      repetitions of the topic step (default 1)
  --lanes N           connections (one channel each) the declares are pipelined on (default 4)
  --window N          unanswered declares/binds per lane (default 1000)
  --durable           durable queues and exchanges (default transient)
  --timeout S         seconds any one step may take before it is reported as not finished (default 600)
  --brokers list      warren,lavinmq,rabbitmq (default: those available)
  --lavinmq PATH      the LavinMQ binary (default $BENCH_LAVINMQ, else /work/perf/lavinmq/bin/lavinmq)
  --warren-args "..." extra flags for dist/cli.js
  --out FILE          report path (default bench/results/scale-latest.md)
`;

const { values: o } = parseArgs({
  options: {
    only: { type: 'string', default: 'conns,queues,topic' },
    conns: { type: 'string', default: '10000,17500,50000' },
    queues: { type: 'string', default: '100000' },
    bindings: { type: 'string', default: '1000000' },
    'topic-queues': { type: 'string', default: '1000' },
    'publish-seconds': { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
    'queue-runs': { type: 'string', default: '1' },
    'topic-runs': { type: 'string', default: '1' },
    lanes: { type: 'string', default: '4' },
    window: { type: 'string', default: '1000' },
    durable: { type: 'boolean', default: false },
    timeout: { type: 'string', default: '600' },
    brokers: { type: 'string' },
    lavinmq: { type: 'string' },
    'warren-args': { type: 'string', default: '' },
    out: { type: 'string', default: join(here, 'results', 'scale-latest.md') },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (o.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const list = (s) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : []);
const connCounts = list(o.conns).map(Number);
const steps = list(o.only);
const LANES = Number(o.lanes);
const WINDOW = Number(o.window);
const TIMEOUT_MS = Number(o.timeout) * 1000;
const durable = o.durable;
const lavinmq = lavinmqPath(o.lavinmq);

// ---------------------------------------------------------------- file descriptors
// Every connection is a descriptor in the client and one in the broker (the brokers inherit this
// process's limits). Below what the largest step needs, re-run under prlimit with a raised limit.
const NOFILE_WANTED = Math.max(...connCounts, 0) + 10_000;
const limitOf = (col) => Number(/^Max open files\s+(\d+)\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[col] ?? 0);
const nofile = () => limitOf(1);
const nofileHard = () => limitOf(2);
if (steps.includes('conns') && nofile() < NOFILE_WANTED && !process.env.SCALE_REEXEC) {
  // as high as allowed: above the hard limit only with CAP_SYS_RESOURCE (root outside a container)
  const test = spawnSync('prlimit', [`--nofile=${NOFILE_WANTED}:${NOFILE_WANTED}`, 'true']);
  const want = test.status === 0 ? NOFILE_WANTED : nofileHard();
  if (want > nofile()) {
    const r = spawnSync('prlimit', [`--nofile=${want}:${want}`, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, SCALE_REEXEC: '1' },
    });
    if (r.error || r.status === null) {
      console.error(`could not raise the open-file limit to ${want} (prlimit: ${r.error?.message ?? r.signal}); run with ulimit -n ${NOFILE_WANTED}`);
      process.exit(1);
    }
    process.exit(r.status);
  }
}
/** The most connections a broker can hold here: each is a descriptor in its one process (and in the client's). */
const MAX_CONNS = nofile() - 500;

const available = ['warren', ...(lavinmqAvailable(lavinmq) ? ['lavinmq'] : []), ...(rabbitAvailable() ? ['rabbitmq'] : [])];
const brokers = o.brokers ? list(o.brokers) : available;
for (const b of brokers) if (!available.includes(b)) throw new Error(`broker ${b} is not available here`);
const LABEL = { warren: 'Warren', lavinmq: 'LavinMQ', rabbitmq: 'RabbitMQ' };

const start = (kind) =>
  kind === 'warren'
    ? startWarren({ extraArgs: o['warren-args'].split(' ').filter(Boolean) })
    : kind === 'lavinmq'
      ? startLavinMQ({ binary: lavinmq })
      : startRabbit();

const MiB = 1024 * 1024;
const rss = (pid) => procMem(pid).rss;
/** RSS once it has stopped moving (two reads 500 ms apart within 1 MiB), at most `maxMs` later. */
async function settledRss(pid, maxMs = 5000) {
  const end = Date.now() + maxMs;
  let prev = rss(pid);
  await sleep(1000);
  for (;;) {
    await sleep(500);
    const now = rss(pid);
    if (Math.abs(now - prev) < MiB || Date.now() > end) return now;
    prev = now;
  }
}

class StepTimeout extends Error {}
const withTimeout = (p, ms, what) => {
  let t;
  return Promise.race([p, new Promise((_, rej) => (t = setTimeout(() => rej(new StepTimeout(`did not finish in ${ms / 1000} s (${what})`)), ms)))]).finally(() => clearTimeout(t));
};

// ---------------------------------------------------------------- step: idle connections

/**
 * Source addresses for n connections. Up to 25,000 none: connect() picks the port, from Linux's
 * ~28,000 ephemeral ports per destination, cheaply. Past that, about 20,000 per 127.x.y.1 address;
 * binding a local address makes the kernel pick the port at bind(), which costs the client more
 * system time the more ports are taken.
 */
const sourcesFor = (n, run) =>
  n <= 25_000 ? [undefined] : Array.from({ length: Math.ceil(n / 20_000) }, (_, i) => `127.${1 + (run % 200)}.${i + 1}.1`);

function workerCall(w, msg, onProgress) {
  return new Promise((resolve, reject) => {
    const onMsg = (m) => {
      if (m.progress !== undefined) return onProgress?.(m);
      w.off('message', onMsg);
      w.off('exit', onExit);
      resolve(m.result);
    };
    const onExit = (code) => reject(new Error(`connection worker exited (${code})`));
    w.on('message', onMsg);
    w.once('exit', onExit);
    w.send(msg);
  });
}

async function stepConns(broker, n, run) {
  await sleep(1000);
  const before = await settledRss(broker.pid, 3000);
  const cpu0 = procCpuMs(broker.pid);
  const w = fork(join(here, 'scale', 'conn-worker.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const r = await workerCall(w, { cmd: 'open', port: broker.port, count: n, concurrency: 100, sources: sourcesFor(n, run), timeoutMs: TIMEOUT_MS }, (p) =>
      process.stdout.write(`    … ${p.progress} open, ${p.failed} failed, ${(p.ms / 1000).toFixed(0)} s\n`),
    );
    const cpu = procCpuMs(broker.pid) - cpu0;
    if (r.timedOut) return { error: `did not finish in ${TIMEOUT_MS / 1000} s (${r.opened} of ${n} open)` };
    if (!r.ok) return { error: `${r.failed} of ${n} failed: ${r.firstError}` };
    const after = await settledRss(broker.pid);
    const { alive } = await workerCall(w, { cmd: 'alive' });
    if (alive < n) return { error: `${n - alive} of ${n} connections dropped by the broker after opening` };
    return {
      values: { timeS: r.openMs / 1000, perObjKiB: (after - before) / n / 1024, rateObj: n / (r.openMs / 1000), rssMiB: after / MiB, brokerCpuS: cpu / 1000 },
      note: `client CPU ${(r.cpuMs / 1000).toFixed(1)} s`,
    };
  } finally {
    try {
      await withTimeout(workerCall(w, { cmd: 'close' }), 30_000, 'closing');
    } catch {
      w.kill('SIGKILL');
    }
  }
}

// ---------------------------------------------------------------- pipelined declares

async function openLanes(port, n) {
  const lanes = [];
  for (let i = 0; i < n; i++) {
    const c = new Conn({ port });
    await c.open();
    await c.openChannel(1);
    lanes.push(c);
  }
  return lanes;
}
const closeLanes = (lanes) => lanes.forEach((c) => c.destroy());

/** A step that ran out of time, with how far it got: { done, total, seconds }. */
class Partial extends Error {
  constructor(done, total, seconds, what) {
    super(`did not finish in ${Math.round(seconds)} s: ${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} ${what} made`);
    this.partial = { done, total, seconds };
  }
}

/** On a Partial, the RSS per object made so far (the broker is still up), then rethrows. */
async function withPartialRss(pid, before, p) {
  try {
    return await p;
  } catch (e) {
    if (e instanceof Partial && e.partial.done > 0) {
      const after = await settledRss(pid);
      e.partial.perObjKiB = (after - before) / e.partial.done / 1024;
      e.partial.rssMiB = after / MiB;
    }
    throw e;
  }
}

/**
 * Runs ops 0..count-1 spread over the lanes (op i on lane i % lanes), each lane keeping at most
 * WINDOW unanswered; op(conn, i) sends methods bringing `repliesPerOp` replies. Past `deadline`
 * it throws a Partial with the ops answered so far.
 */
async function pipeline(lanes, count, op, { repliesPerOp = 1, deadline = Infinity, what = 'objects', t0 = performance.now() } = {}) {
  const answered = () => Math.floor(lanes.reduce((s, c) => s + c.channels.get(1).replies, 0) / repliesPerOp);
  const base = lanes.reduce((s, c) => s + c.channels.get(1).replies, 0);
  const done = () => answered() - Math.floor(base / repliesPerOp);
  const timedOut = () => Date.now() > deadline;
  let timer;
  const watchdog = new Promise((_, reject) => {
    timer = setInterval(() => {
      if (timedOut()) reject(new Partial(done(), count, (performance.now() - t0) / 1000, what));
    }, 250);
  });
  try {
    await Promise.race([
      watchdog,
      Promise.all(
        lanes.map(async (c, l) => {
          for (let i = l; i < count; i += lanes.length) {
            if (timedOut()) return;
            op(c, i);
            const ch = c.channels.get(1);
            if (ch.pending >= WINDOW) {
              c.flush();
              await c.until(1, WINDOW >> 1);
            }
          }
          c.flush();
          await c.until(1, 0);
        }),
      ),
    ]);
    if (timedOut() && done() < count) throw new Partial(done(), count, (performance.now() - t0) / 1000, what);
  } catch (e) {
    if (e instanceof Partial) throw e;
    throw new Error(`failed after ${done().toLocaleString('en-US')} of ${count.toLocaleString('en-US')} ${what} in ${Math.round((performance.now() - t0) / 1000)} s: ${e.message ?? e}`);
  } finally {
    clearInterval(timer);
  }
}

// ---------------------------------------------------------------- step: queues

async function stepQueues(broker) {
  const n = Number(o.queues);
  const lanes = await openLanes(broker.port, LANES);
  try {
    lanes[0].exchangeDeclare(1, 'scale.direct', 'direct', { durable });
    lanes[0].flush();
    await lanes[0].until(1);
    const before = await settledRss(broker.pid, 3000);
    const cpu0 = procCpuMs(broker.pid);
    const t0 = performance.now();
    await withPartialRss(broker.pid, before, pipeline(
      lanes,
      n,
      (c, i) => {
        c.queueDeclare(1, `sq-${i}`, { durable });
        c.queueBind(1, `sq-${i}`, 'scale.direct', `sq-${i}`);
      },
      { repliesPerOp: 2, deadline: Date.now() + TIMEOUT_MS, what: 'queues', t0 },
    ));
    const ms = performance.now() - t0;
    const cpu = procCpuMs(broker.pid) - cpu0;
    const after = await settledRss(broker.pid);
    return { values: { timeS: ms / 1000, perObjKiB: (after - before) / n / 1024, rateObj: n / (ms / 1000), rssMiB: after / MiB, brokerCpuS: cpu / 1000 } };
  } finally {
    closeLanes(lanes);
  }
}

// ---------------------------------------------------------------- step: topic bindings

/**
 * Confirmed publishes through `exchange` for `seconds` after `warmup` seconds, at most `window`
 * unconfirmed; returns msgs/s confirmed over the measured seconds.
 */
async function publishRate(port, exchange, keys, seconds, warmup = 1, window = 1000) {
  const c = new Conn({ port });
  await c.open();
  await c.openChannel(1);
  await c.confirmSelect(1);
  const acked = new Set();
  let low = 1; // every tag below is confirmed
  let confirmed = 0;
  let nacked = 0;
  let wake = null;
  const ch = c.channels.get(1);
  ch.onMethod = (id, p) => {
    if (id !== M.BasicAck && id !== M.BasicNack) return id === M.BasicReturn;
    const tag = Number(p.readBigUInt64BE(4));
    const multiple = (p[12] & 1) === 1;
    if (id === M.BasicNack) nacked++;
    if (multiple) {
      for (let t = low; t <= tag; t++) if (!acked.delete(t)) confirmed++;
      low = Math.max(low, tag + 1);
    } else if (tag >= low && !acked.has(tag)) {
      acked.add(tag);
      confirmed++;
    }
    while (acked.delete(low)) low++;
    if (wake) {
      const w = wake;
      wake = null;
      w();
    }
    return true;
  };
  const body = Buffer.alloc(16, 120);
  let published = 0;
  const tStart = performance.now();
  let tMeasure = 0;
  let atMeasure = 0;
  const tEnd = tStart + (warmup + seconds) * 1000;
  const tick = setInterval(() => wake?.(), 100);
  try {
    for (;;) {
      if (c.error) throw c.error;
      const now = performance.now();
      if (!tMeasure && now - tStart >= warmup * 1000) {
        tMeasure = now;
        atMeasure = confirmed;
      }
      if (now >= tEnd) return { rate: (confirmed - atMeasure) / ((now - tMeasure) / 1000), nacked };
      const room = Math.min(window - (published - confirmed), 200);
      if (room > 0) {
        for (let k = 0; k < room; k++) c.publish(1, exchange, keys[published++ % keys.length], body);
        c.flush();
      }
      await new Promise((r) => (wake = r));
    }
  } finally {
    clearInterval(tick);
    c.destroy();
  }
}

async function stepTopic(broker) {
  const n = Number(o.bindings);
  const nq = Number(o['topic-queues']);
  const keys = routingKeys(n, 20_000);
  const lanes = await openLanes(broker.port, LANES);
  try {
    lanes[0].exchangeDeclare(1, 'scale.topic', 'topic', { durable });
    lanes[0].flush();
    await lanes[0].until(1);
    await pipeline(lanes, nq, (c, i) => c.queueDeclare(1, `tq-${i}`, { durable }));
    const empty = await publishRate(broker.port, 'scale.topic', keys, Number(o['publish-seconds']));
    const before = await settledRss(broker.pid, 3000);
    const cpu0 = procCpuMs(broker.pid);
    const t0 = performance.now();
    let shown = 0;
    try {
      await withPartialRss(broker.pid, before, pipeline(lanes, n, (c, i) => {
        c.queueBind(1, `tq-${i % nq}`, 'scale.topic', bindingKey(i));
        if (i - shown >= 100_000 && i % LANES === 0) {
          shown = i;
          process.stdout.write(`    … ${i} bindings, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
        }
      }, { deadline: Date.now() + TIMEOUT_MS, what: 'bindings', t0 }));
    } catch (e) {
      if (!(e instanceof Partial)) throw e;
      // Out of time: the routing rate through the bindings it did make, a bound on its rate
      // through all of them (after the binds still in flight are answered).
      await withTimeout(Promise.all(lanes.map((c) => c.until(1, 0))), 60_000, 'the last binds').catch(() => {});
      e.partial.routeRate = (await publishRate(broker.port, 'scale.topic', keys, Number(o['publish-seconds']))).rate;
      e.partial.routeRateEmpty = empty.rate;
      throw e;
    }
    const ms = performance.now() - t0;
    const cpu = procCpuMs(broker.pid) - cpu0;
    const after = await settledRss(broker.pid);
    const full = await publishRate(broker.port, 'scale.topic', keys, Number(o['publish-seconds']));
    return {
      values: {
        timeS: ms / 1000,
        perObjKiB: (after - before) / n / 1024,
        rateObj: n / (ms / 1000),
        rssMiB: after / MiB,
        brokerCpuS: cpu / 1000,
        routeRate: full.rate,
        routeRateEmpty: empty.rate,
      },
    };
  } finally {
    closeLanes(lanes);
  }
}

// ---------------------------------------------------------------- running and reporting

const STEP_METRICS = [
  { key: 'timeS', label: 'time to create, s', better: 'lower' },
  { key: 'rateObj', label: 'created per s', better: 'higher' },
  { key: 'perObjKiB', label: 'broker RSS per object, KiB', better: 'lower' },
  { key: 'rssMiB', label: 'broker RSS after, MiB', better: 'lower' },
  { key: 'brokerCpuS', label: 'broker CPU while creating, s', better: 'lower' },
];
const TOPIC_METRICS = [
  ...STEP_METRICS,
  { key: 'routeRate', label: 'routed msgs/s through the bindings (confirmed)', better: 'higher' },
  { key: 'routeRateEmpty', label: 'routed msgs/s, no bindings (confirmed)', better: 'higher' },
];

const plan = [];
const skippedNotes = [];
if (steps.includes('conns'))
  for (const n of connCounts) {
    if (n > MAX_CONNS) {
      const why = `${n.toLocaleString('en-US')} idle connections: not run, the open-file limit here is ${nofile().toLocaleString('en-US')} per process (hard limit ${nofileHard().toLocaleString('en-US')}; raising it needs CAP_SYS_RESOURCE) and a broker holds each connection in its one process`;
      console.log(why);
      skippedNotes.push(`- ${why}.`);
      continue;
    }
    plan.push({ name: `conns-${n}`, title: `${n.toLocaleString('en-US')} idle connections`, runs: Number(o.runs), metrics: STEP_METRICS, run: (b, r) => stepConns(b, n, r) });
  }
if (steps.includes('queues'))
  plan.push({ name: 'queues', title: `${Number(o.queues).toLocaleString('en-US')} queues, a binding each`, runs: Number(o['queue-runs']), metrics: STEP_METRICS, run: (b) => stepQueues(b) });
if (steps.includes('topic'))
  plan.push({
    name: 'topic',
    title: `${Number(o.bindings).toLocaleString('en-US')} topic bindings`,
    runs: Number(o['topic-runs']),
    metrics: TOPIC_METRICS,
    run: (b) => stepTopic(b),
  });

const versions = {};
const results = new Map(plan.map((p) => [p.name, Object.fromEntries(brokers.map((b) => [b, []]))]));

let stopping = false;
const onSignal = async () => {
  if (stopping) return;
  stopping = true;
  await cleanupAll();
  process.exit(130);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const t0 = Date.now();
const meta = {
  date: new Date().toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}`,
  'load average at start': loadavg().map((x) => x.toFixed(2)).join(', '),
  command: `node bench/scale.mjs ${process.argv.slice(2).join(' ')}`.trim(),
};

try {
  const maxRuns = Math.max(...plan.map((p) => p.runs));
  for (let r = 0; r < maxRuns; r++) {
    for (const step of plan) {
      if (r >= step.runs) continue;
      for (const kind of brokers) {
        process.stdout.write(`[run ${r + 1}] ${step.name} ${LABEL[kind]}\n`);
        let broker;
        let res;
        try {
          broker = await start(kind);
          if (!versions[kind]) versions[kind] = await brokerVersion(kind, broker);
          res = await withTimeout(step.run(broker, r), TIMEOUT_MS + 60_000, step.name);
        } catch (e) {
          res = { error: e instanceof StepTimeout || e instanceof Partial ? e.message : String(e.message ?? e).split('\n')[0], partial: e.partial };
        } finally {
          if (broker) {
            try {
              await withTimeout(broker.stop(), 120_000, 'stopping');
            } catch {
              await cleanupAll();
            }
          }
        }
        results.get(step.name)[kind].push(res);
        process.stdout.write(`    ${res.error ? `error: ${res.error}` : Object.entries(res.values).map(([k, v]) => `${k}=${fmt(v)}`).join(' ')}${res.note ? ` (${res.note})` : ''}\n`);
      }
    }
  }
} finally {
  await cleanupAll();
}
meta['load average at end'] = loadavg().map((x) => x.toFixed(2)).join(', ');
meta.duration = `${Math.round((Date.now() - t0) / 1000)} s`;

async function brokerVersion(kind, broker) {
  try {
    if (kind === 'warren') return `Warren ${JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8')).version}`;
    if (kind === 'lavinmq') return `LavinMQ ${execFileSync(lavinmq, ['--version'], { encoding: 'utf8' }).trim()}`;
    const out = await rabbitctl(broker.env, ['version']);
    return `RabbitMQ ${out.trim()}`;
  } catch {
    return LABEL[kind];
  }
}

// ---------------------------------------------------------------- the table

const ok = (runs) => (runs ?? []).filter((x) => !x.error);
const row = (cells) => `| ${cells.join(' | ')} |`;
const others = brokers.filter((b) => b !== 'warren');
const head = ['step', 'metric', ...brokers.map((b) => LABEL[b]), ...(brokers.includes('warren') ? others.map((b) => `Warren/${LABEL[b]}`) : [])];
const lines = [row(head), `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
const errors = [];
for (const step of plan) {
  const res = results.get(step.name);
  step.metrics.forEach((m, mi) => {
    const v = (b) => median(ok(res[b]).map((x) => x.values[m.key]));
    // no run finished: the partial runs bound the time from below and the rate from above
    const bound = (b) => {
      const part = (res[b] ?? []).map((r) => r.partial).filter(Boolean);
      if (!part.length || ok(res[b]).length) return undefined;
      if (m.key === 'rateObj') return { x: median(part.map((p) => p.done / p.seconds)), sign: '≤', ratioSign: '≥' };
      if (m.key === 'timeS') return { x: median(part.map((p) => p.seconds)), sign: '>', ratioSign: '<' };
      // memory per object of the objects made before the time ran out
      if (m.key === 'perObjKiB' && part.some((p) => p.perObjKiB)) return { x: median(part.map((p) => p.perObjKiB)), sign: '~', ratioSign: '~' };
      // routing through the bindings made so far: no slower than through all of them
      if (m.key === 'routeRate' && part.some((p) => p.routeRate)) return { x: median(part.map((p) => p.routeRate)), sign: '≤', ratioSign: '≥' };
      if (m.key === 'routeRateEmpty' && part.some((p) => p.routeRateEmpty)) return { x: median(part.map((p) => p.routeRateEmpty)), sign: '', ratioSign: '' };
      return undefined;
    };
    const w = v('warren');
    const cells = brokers.map((b) => {
      const x = v(b);
      if (x !== undefined) return ok(res[b]).length < res[b].length ? `${fmt(x)}*` : fmt(x);
      const bd = bound(b);
      if (bd) return `${bd.sign}${fmt(bd.x)}`;
      return res[b].length ? 'dnf' : '–';
    });
    const ratio = (b) => {
      if (w === undefined) return '–';
      if (v(b)) return `${fmt(w / v(b), 2)}×`;
      const bd = bound(b);
      return bd?.x ? `${bd.ratioSign}${fmt(w / bd.x, 2)}×` : '–';
    };
    const ratios = brokers.includes('warren') ? others.map(ratio) : [];
    lines.push(row([mi === 0 ? step.title : '', `${m.label} ${m.better === 'higher' ? '↑' : '↓'}`, ...cells, ...ratios]));
  });
  for (const b of brokers) for (const x of res[b]) if (x.error) errors.push(`- ${step.title}, ${LABEL[b]}: ${x.error}`);
}
const runsNote = plan.map((p) => `${p.name} ${p.runs}`).join(', ');
const report = [
  '# Scale of objects: Warren, LavinMQ, RabbitMQ',
  '',
  ...Object.entries(meta).map(([k, v]) => `- **${k}**: ${v}`),
  `- **brokers**: ${brokers.map((b) => versions[b] ?? LABEL[b]).join('; ')}`,
  `- **runs per broker** (medians): ${runsNote}; a fresh broker process for every step run, brokers interleaved`,
  `- **objects**: ${durable ? 'durable' : 'transient (non-durable)'} queues and exchanges; declares pipelined on ${LANES} connections × 1 channel, at most ${WINDOW} unanswered each`,
  '',
  ...lines,
  '',
  'RSS per object: the broker process\'s RSS (/proc/<pid>/status VmRSS, settled) after the step minus before it, over the objects made; for queues it includes each queue\'s binding. Idle connections: a raw-socket client (bench/scale/amqp.mjs) in a forked process, 100 handshakes in flight, heartbeats at the broker\'s proposal (past 25,000 connections spread over several 127.x.y.1 source addresses). Topic: words a.b.c.d (1,000 of each level), 60 % exact, 20 % `a.b.c.*`, 10 % `a.*.c.d`, 6 % `a.b.c.#`, 3 % `*.b.c.d`, 1 % `a.b.#`, bound to 1,000 queues; routed msgs/s: 16-byte transient publishes with confirms (1,000 unconfirmed at most), half with a binding\'s own key (about one queue each), half random words (almost none), measured over 5 s after 1 s of warm-up. `*`: some runs failed; `dnf`: no run finished; `>t`, `≤r`, `~m`: no run finished in the time limit; `r` is the rate it made objects at until then (for routing: the rate through the bindings it had made, at least as fast as through all of them would be), `m` the RSS per object of those it made.',
  ...(errors.length ? ['', '**Runs that did not finish or failed:**', '', ...errors] : []),
  ...(skippedNotes.length ? ['', ...skippedNotes] : []),
  '',
];
const text = report.join('\n');
process.stdout.write('\n' + text);
mkdirSync(dirname(o.out), { recursive: true });
writeFileSync(o.out, text);
process.stdout.write(`\nwritten to ${o.out}\n`);
