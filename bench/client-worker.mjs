// One benchmark client process (forked by bench/workers.mjs), so publishers and consumers do not
// share an event loop. Roles: publisher, consumer, rpc-server, rpc-client, idle-conns.
// Parent -> worker: { id, cmd: init|start|mark|report|stop, ... }; worker -> parent: { id, ok, data }
// replies, plus unsolicited { event: 'done' | 'error', ... }.
// Counters are measured from the last `mark` (the end of the warm-up) to `report`, together with
// this process's CPU time over the same window (% of one core). Sockets use TCP_NODELAY.
import amqp from 'amqplib';
import { Samples, cpuPercent, sleep } from './stats.mjs';

let role;
let opts;
const conns = [];
let running = false;
let loops = [];
const c = { published: 0, confirmed: 0, nacked: 0, consumed: 0, bytes: 0, calls: 0, opened: 0 };
let markAt = { t: performance.now(), cpu: process.cpuUsage(), c: { ...c } };
const lat = new Samples();
let extra = {}; // role-specific report fields
let remoteConsumed = 0; // the consumer's count, relayed by the harness (publisher's maxBacklog)
let onProgress = null;
// opts.trackGaps: the longest gap between consecutive confirms since `mark` (failover stalls)
let lastConfirmNs;
let gap = { ms: 0 };

const send = (m) => process.connected && process.send(m);
const fail = (e) => {
  send({ event: 'error', error: String(e?.stack ?? e) });
};
process.on('disconnect', () => process.exit(0));
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

const connect = async () => {
  const conn = await amqp.connect(opts.url, { noDelay: true });
  conn.on('error', (e) => running && fail(e));
  conns.push(conn);
  return conn;
};

// ------------------------------------------------------------------ publisher

const nowNs = () => process.hrtime.bigint(); // CLOCK_MONOTONIC: comparable across processes

async function initPublisher() {
  const conn = await connect();
  const ch = opts.confirmWindow ? await conn.createConfirmChannel() : await conn.createChannel();
  ch.on('error', fail);
  const fixed = Buffer.alloc(opts.bodySize ?? 16, 'x');
  const props = { persistent: Boolean(opts.persistent) };
  const limit = opts.limit ?? 0;
  const window = opts.confirmWindow ?? 0;
  const rate = opts.rate ?? 0;
  let inflight = 0;
  let wake = null;
  let drained = null;
  ch.on('drain', () => {
    if (drained) {
      const d = drained;
      drained = null;
      d();
    }
  });
  const onConfirm = (err) => {
    inflight--;
    if (opts.trackGaps) {
      const t = nowNs();
      if (lastConfirmNs !== undefined && Number(t - lastConfirmNs) / 1e6 > gap.ms)
        gap = { ms: Number(t - lastConfirmNs) / 1e6, startMs: Number(lastConfirmNs / 1000n) / 1000, endMs: Number(t / 1000n) / 1000 };
      lastConfirmNs = t;
    }
    if (err) c.nacked++;
    else c.confirmed++;
    if (wake && inflight < window) {
      const w = wake;
      wake = null;
      w();
    }
    if (limit && c.confirmed + c.nacked === limit) send({ event: 'done', counters: { ...c } });
  };
  const body = () => {
    if (!opts.stamp) return fixed;
    const b = Buffer.alloc(fixed.length);
    b.writeBigInt64BE(nowNs(), 0);
    return b;
  };
  const publish = (cb) =>
    opts.exchange !== undefined ? ch.publish(opts.exchange, opts.routingKey ?? '', body(), props, cb) : ch.sendToQueue(opts.queue, body(), props, cb);

  return async function publishLoop() {
    const t0 = performance.now();
    let sent = 0;
    let sinceYield = 0;
    while (running && (!limit || c.published < limit)) {
      if (rate) {
        const due = Math.floor(((performance.now() - t0) / 1000) * rate);
        if (sent >= due) {
          await sleep(1);
          continue;
        }
      }
      if (opts.maxBacklog && c.published - remoteConsumed >= opts.maxBacklog) {
        await new Promise((r) => (onProgress = r));
        sinceYield = 0;
        continue;
      }
      if (window && inflight >= window) {
        await new Promise((r) => (wake = r));
        sinceYield = 0;
        continue;
      }
      let ok;
      if (window) {
        inflight++;
        ok = publish(onConfirm);
      } else ok = publish();
      c.published++;
      c.bytes += fixed.length;
      sent++;
      if (!ok) {
        await new Promise((r) => (drained = r));
        sinceYield = 0;
      } else if (++sinceYield >= 200) {
        await new Promise((r) => setImmediate(r)); // let acks, deliveries and IPC in
        sinceYield = 0;
      }
    }
    if (limit && !window) send({ event: 'done', counters: { ...c } });
    // wait (briefly) for outstanding confirms so the connection closes cleanly
    for (let i = 0; i < 200 && window && inflight > 0 && running; i++) await sleep(10);
  };
}

// ------------------------------------------------------------------ consumer

async function initConsumer() {
  const queues = opts.queues ?? [opts.queue];
  const ackEvery = opts.ackEvery ?? 100;
  const expect = opts.expect ?? 0;
  // consumeOnStart: basic.consume is sent at `start` rather than at init, and the `done` event
  // carries the ms from sending it to the expect-th message (a timed read, e.g. a stream replay).
  let consumeAt = 0;
  if (opts.progress) {
    let last = 0;
    setInterval(() => {
      if (c.consumed !== last) send({ event: 'progress', consumed: (last = c.consumed) });
    }, 5).unref();
  }
  const consumes = [];
  for (const q of queues) {
    const conn = await connect();
    const ch = await conn.createChannel();
    ch.on('error', fail);
    await ch.prefetch(opts.prefetch ?? 1000);
    let unacked = 0;
    let last = null;
    // A timer acks a partial batch so a consumer never stalls below ackEvery outstanding.
    const flush = setInterval(() => {
      if (unacked && last) {
        ch.ack(last, true);
        unacked = 0;
      }
    }, 20);
    flush.unref();
    const onMessage = (m) => {
      if (!m) return;
      c.consumed++;
      c.bytes += m.content.length;
      if (opts.latency) lat.push(Number(nowNs() - m.content.readBigInt64BE(0)) / 1000);
      if (!opts.noAck) {
        last = m;
        if (++unacked >= ackEvery) {
          ch.ack(m, true);
          unacked = 0;
        }
      }
      if (expect && c.consumed === expect) send({ event: 'done', counters: { ...c }, elapsedMs: performance.now() - consumeAt });
    };
    // consumeArgs: basic.consume arguments, e.g. { 'x-stream-offset': 'first' } on a stream
    const consumeOpts = { noAck: Boolean(opts.noAck), ...(opts.consumeArgs ? { arguments: opts.consumeArgs } : {}) };
    const consume = () => ch.consume(q, onMessage, consumeOpts);
    if (opts.consumeOnStart) consumes.push(consume);
    else await consume();
  }
  if (!opts.consumeOnStart) return null;
  return async function consumeLoop() {
    consumeAt = performance.now();
    await Promise.all(consumes.map((f) => f()));
  };
}

// ------------------------------------------------------------------ RPC

async function initRpcServer() {
  const conn = await connect();
  const ch = await conn.createChannel();
  ch.on('error', fail);
  await ch.prefetch(100);
  await ch.consume(opts.queue, (m) => {
    if (!m) return;
    ch.sendToQueue(m.properties.replyTo, m.content, { correlationId: m.properties.correlationId });
    ch.ack(m);
    c.calls++;
  });
  return null;
}

async function initRpcClient() {
  const conn = await connect();
  const ch = await conn.createChannel();
  ch.on('error', fail);
  const { queue: replyQ } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
  const body = Buffer.alloc(opts.bodySize ?? 16, 'x');
  let pending = null;
  let corr = 0;
  await ch.consume(
    replyQ,
    (m) => {
      if (pending && m.properties.correlationId === pending.id) {
        const p = pending;
        pending = null;
        p.resolve();
      }
    },
    { noAck: true },
  );
  return async function rpcLoop() {
    while (running) {
      const id = String(++corr);
      const t = nowNs();
      await new Promise((resolve) => {
        pending = { id, resolve };
        ch.sendToQueue(opts.queue, body, { replyTo: replyQ, correlationId: id });
      });
      lat.push(Number(nowNs() - t) / 1000);
      c.calls++;
    }
  };
}

// ------------------------------------------------------------------ idle connections

async function initIdle() {
  return null; // connections are opened on `start`, timed
}
async function openIdle() {
  const n = opts.count;
  const concurrency = opts.concurrency ?? 20;
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        const conn = await amqp.connect(opts.url, { noDelay: true });
        conn.on('error', () => {});
        conns.push(conn);
        c.opened++;
      }
    }),
  );
  extra.openMs = performance.now() - t0;
}

// ------------------------------------------------------------------ control

const inits = { publisher: initPublisher, consumer: initConsumer, 'rpc-server': initRpcServer, 'rpc-client': initRpcClient, 'idle-conns': initIdle };
let loopFn = null;

async function handle(m) {
  switch (m.cmd) {
    case 'init':
      role = m.role;
      opts = m.opts;
      loopFn = await inits[role]();
      return { pid: process.pid };
    case 'start':
      running = true;
      markAt = { t: performance.now(), cpu: process.cpuUsage(), c: { ...c } };
      if (role === 'idle-conns') {
        await openIdle(); // replies once all are open
        return { openMs: extra.openMs, opened: c.opened, cpu: cpuPercent(markAt.cpu, performance.now() - markAt.t) };
      }
      if (loopFn) loops.push(loopFn().catch(fail));
      return {};
    case 'mark':
      markAt = { t: performance.now(), cpu: process.cpuUsage(), c: { ...c } };
      lat.reset();
      gap = { ms: 0 };
      lastConfirmNs = undefined;
      return {};
    case 'report': {
      const wallMs = performance.now() - markAt.t;
      const d = {};
      for (const k of Object.keys(c)) d[k] = c[k] - markAt.c[k];
      return { role, wallMs, counts: d, total: { ...c }, cpu: cpuPercent(markAt.cpu, wallMs), latency: lat.n ? lat.summary() : undefined, ...(opts.trackGaps ? { gap, lastConfirmMs: lastConfirmNs === undefined ? undefined : Number(lastConfirmNs / 1000n) / 1000 } : {}) };
    }
    case 'stop':
      running = false;
      onProgress?.();
      await Promise.race([Promise.all(loops), sleep(3000)]);
      await Promise.race([Promise.all(conns.map((x) => x.close().catch(() => {}))), sleep(5000)]);
      setTimeout(() => process.exit(0), 10);
      return {};
    default:
      throw new Error(`unknown command ${m.cmd}`);
  }
}

process.on('message', (m) => {
  if (m.cmd === 'progress') {
    remoteConsumed = m.consumed;
    if (onProgress) {
      const r = onProgress;
      onProgress = null;
      r();
    }
    return;
  }
  handle(m).then(
    (data) => send({ id: m.id, ok: true, data }),
    (e) => send({ id: m.id, ok: false, error: String(e?.stack ?? e) }),
  );
});
