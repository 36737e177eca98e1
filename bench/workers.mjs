// The harness side of bench/client-worker.mjs: fork client processes, drive them through
// init -> start -> (warm-up) -> mark -> (measure) -> report -> stop.
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { procCpuMs, procMem, sleep } from './stats.mjs';

const workerPath = join(dirname(fileURLToPath(import.meta.url)), 'client-worker.mjs');
const allWorkers = new Set();

export class Worker {
  constructor(role, opts, name = role) {
    this.role = role;
    this.name = name;
    this.opts = opts;
    this.proc = fork(workerPath, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    allWorkers.add(this);
    this.seq = 0;
    this.pending = new Map();
    this.listeners = { done: [], error: [], progress: [] };
    this.errors = [];
    this.proc.on('message', (m) => {
      if (m.id !== undefined) {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (p) m.ok ? p.resolve(m.data) : p.reject(new Error(`${this.name}: ${m.error}`));
      } else if (m.event === 'error') {
        this.errors.push(m.error);
        for (const f of this.listeners.error) f(m.error);
      } else if (m.event === 'done') for (const f of this.listeners.done) f(m.elapsedMs === undefined ? m.counters : { ...m.counters, elapsedMs: m.elapsedMs });
      else if (m.event === 'progress') for (const f of this.listeners.progress) f(m.consumed);
    });
    this.proc.once('exit', (code) => {
      allWorkers.delete(this);
      for (const p of this.pending.values()) p.reject(new Error(`${this.name} exited (${code})`));
      this.pending.clear();
    });
  }
  call(cmd, extra = {}, timeoutMs = 120_000) {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} timed out`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => (clearTimeout(t), resolve(v)),
        reject: (e) => (clearTimeout(t), reject(e)),
      });
      this.proc.send({ id, cmd, ...extra });
    });
  }
  /** Resolves at the worker's 'done' event (a publish limit or consume expectation reached). */
  done() {
    return new Promise((resolve) => this.listeners.done.push(resolve));
  }
  /** Relays this consumer's progress to a publisher with opts.maxBacklog. */
  relayProgressTo(publisher) {
    this.listeners.progress.push((consumed) => publisher.proc.connected && publisher.proc.send({ cmd: 'progress', consumed }));
  }
  async stop() {
    if (this.proc.exitCode !== null) return;
    await this.call('stop', {}, 15_000).catch(() => {});
    await new Promise((r) => (this.proc.exitCode !== null ? r() : this.proc.once('exit', r)));
  }
}

/** Forks and initialises a worker. */
export async function spawnWorker(role, opts, name) {
  const w = new Worker(role, opts, name);
  await w.call('init', { role, opts });
  return w;
}

export const killAllWorkers = () => {
  for (const w of allWorkers) w.proc.kill('SIGKILL');
};

/** Broker-process CPU (% of one core) and RSS sampler over a window; pid may be a list (a cluster: sums). */
export class BrokerMonitor {
  constructor(pid) {
    this.pids = Array.isArray(pid) ? pid : [pid];
    this.maxRss = 0;
    this.timer = setInterval(() => this.sample(), 200);
    this.timer.unref();
    this.begin();
  }
  cpuMs() {
    const xs = this.pids.map(procCpuMs);
    return xs.some((x) => x === undefined) ? undefined : xs.reduce((a, b) => a + b, 0);
  }
  sample() {
    const rss = this.pids.reduce((a, p) => a + (procMem(p).rss ?? NaN), 0);
    if (rss > this.maxRss) this.maxRss = rss;
  }
  begin() {
    this.t = performance.now();
    this.cpu = this.cpuMs();
    this.maxRss = 0;
    this.sample();
  }
  end() {
    clearInterval(this.timer);
    this.sample();
    const cpu = this.cpuMs();
    const wall = performance.now() - this.t;
    return { cpu: cpu !== undefined && this.cpu !== undefined ? ((cpu - this.cpu) / wall) * 100 : undefined, maxRss: this.maxRss || undefined };
  }
}

/**
 * The usual measurement: start `consumers` then `producers`, warm up, mark, measure `seconds`,
 * collect reports (and broker CPU/RSS over the window), stop everything.
 */
export async function measure({ broker, consumers = [], producers = [], seconds, warmup }) {
  const all = [...consumers, ...producers];
  let error = null;
  for (const w of all) w.listeners.error.push((e) => (error ??= e));
  try {
    for (const w of consumers) await w.call('start');
    for (const w of producers) await w.call('start');
    await sleep(warmup * 1000);
    const mon = new BrokerMonitor(broker.pids ?? broker.pid);
    await Promise.all(all.map((w) => w.call('mark')));
    await sleep(seconds * 1000);
    const reports = await Promise.all(all.map((w) => w.call('report')));
    const res = mon.end();
    if (error) throw new Error(`client error: ${error}`);
    return { reports: Object.fromEntries(all.map((w, i) => [w.name, reports[i]])), broker: res };
  } finally {
    await Promise.all(all.map((w) => w.stop()));
  }
}

/** { pub: 97, con: 55 }: CPU% (of one core) of each client process over the window. */
export const cpuSummary = (reports) => Object.fromEntries(Object.entries(reports).map(([name, r]) => [name, r.cpu]));
