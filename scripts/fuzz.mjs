#!/usr/bin/env node
// The long fuzz run (`npm run fuzz`, after `npm run build`): the properties of
// test/fuzz/frames.fuzz.test.ts and the socket cases of test/fuzz/broker.fuzz.test.ts, for as long
// as asked, against dist/. Three threads: this one drives the socket cases and a well-behaved
// amqplib connection, one runs the broker (so that a broker hang or crash is seen, not suffered),
// one runs the pure properties (watched, so that a hang there is reported with its batch seed).
//
//   node scripts/fuzz.mjs [--seconds 60] [--seed N] [--concurrency 16] [--no-pure] [--no-socket]
//                         [--minimize-seconds 30]
//   node scripts/fuzz.mjs --replay pure:<property>:<seed>:<path>    (as printed for a failure)
//   node scripts/fuzz.mjs --replay socket:<batch seed>:<index in batch>:<case number>
//   node scripts/fuzz.mjs --replay-hex <bytes in hex>               (one client stream, once)
//
// Exits 1 if anything failed: an unexpected exception or code, excessive allocation, a hang, a
// malformed frame from the broker, a broker crash, or the bystander connection failing.
import { readFileSync } from 'node:fs';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import ts from 'typescript';

const SOCKET_BATCH = 50;
const HEALTH_EVERY = 100;
const PURE_RUNS = {
  parserRandomBytes: 300,
  parserFramedRandom: 300,
  parserHugeDeclaredSize: 300,
  mutatedStreams: 300,
  decodeMethodKnownIds: 500,
  decodeMethodAnyId: 300,
  readTableRandom: 500,
  readTableRoundTripAndMutations: 200,
  assemblerSequences: 300,
};

/** test/fuzz/corpus.ts, transpiled (it only has type imports besides node: builtins). */
async function loadKit() {
  const src = readFileSync(new URL('../test/fuzz/corpus.ts', import.meta.url), 'utf8');
  const { outputText } = ts.transpileModule(src, {
    fileName: 'corpus.ts',
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
  });
  return import(`data:text/javascript;base64,${Buffer.from(outputText).toString('base64')}`);
}

const loadCodec = () => import('../dist/frames/index.js');

const json = (v) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x));

/** A failure's kind, without the numbers and bytes that differ between instances. */
const signature = (text) =>
  text
    .split('\n')[0]
    .split(': ')[0]
    .replace(/[0-9a-f]{16,}…?/g, '<hex>')
    .replace(/'[^']*'/g, "'…'")
    .replace(/\d+/g, 'N')
    .slice(0, 200);

// ====================================================================================== workers

if (!isMainThread) {
  if (workerData.role === 'broker') await brokerWorker();
  else if (workerData.role === 'pure') await pureWorker();
}

async function brokerWorker() {
  const { startBroker } = await import('../dist/index.js');
  const { pino } = await import('pino');
  // Internal errors (logged at error level) are reported, not printed.
  let logged = 0;
  const logger = pino(
    { level: 'error' },
    {
      write(line) {
        if (logged++ < 20) parentPort.postMessage({ type: 'log', line: line.slice(0, 2000) });
      },
    },
  );
  // A LevelDB store and a tiny in-memory limit: queues of more than 3 messages page to the store,
  // so the fuzzed streams exercise paging too.
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dataDir = mkdtempSync(`${tmpdir()}/warren-fuzz-`);
  const b = await startBroker({ port: 0, host: '127.0.0.1', logger, dataDir, pageOutMessages: 3 });
  parentPort.postMessage({ type: 'port', port: b.port });
  parentPort.on('message', async (m) => {
    if (m === 'close') {
      await b.close();
      rmSync(dataDir, { recursive: true, force: true });
      parentPort.postMessage({ type: 'closed' });
    }
  });
}

async function pureWorker() {
  const kit = await loadKit();
  const codec = await loadCodec();
  const { seed, deadline, only } = workerData;
  const tally = new kit.Tally();
  const props = kit.pureProperties(fc, codec, tally, { timeLimitMs: 1000 });
  const names = Object.keys(props).filter((n) => !only || n === only);
  const failed = new Set();
  for (let batch = 0; Date.now() < deadline; batch++) {
    const name = names[batch % names.length];
    if (failed.has(name)) continue;
    if (failed.size === names.length) break;
    const batchSeed = (seed + batch) | 0;
    parentPort.postMessage({ type: 'batch-start', name, batchSeed });
    const d = fc.check(props[name], { seed: batchSeed, numRuns: PURE_RUNS[name] ?? 200 });
    if (d.failed) {
      failed.add(name);
      parentPort.postMessage({
        type: 'failure',
        kind: 'pure',
        name,
        text: String(d.errorInstance?.message ?? d.error ?? 'failed'),
        replay: `pure:${name}:${d.seed}:${d.counterexamplePath}`,
        counterexample: json(d.counterexample).slice(0, 4000),
      });
    }
    parentPort.postMessage({ type: 'tally', counts: tally.toJSON() });
    tally.counts.clear();
    tally.total = 0;
  }
  parentPort.postMessage({ type: 'done' });
}

// ====================================================================================== main

if (isMainThread) {
  const args = parseArgs(process.argv.slice(2));
  if (args.replay || args.replayHex) await replay(args);
  else await main(args);
}

function parseArgs(argv) {
  const a = { seconds: 60, seed: Date.now() % 0x7fffffff, concurrency: 16, pure: true, socket: true, minimizeSeconds: 30 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => argv[++i];
    if (k === '--seconds') a.seconds = Number(v());
    else if (k === '--seed') a.seed = Number(v());
    else if (k === '--concurrency') a.concurrency = Number(v());
    else if (k === '--minimize-seconds') a.minimizeSeconds = Number(v());
    else if (k === '--no-pure') a.pure = false;
    else if (k === '--no-socket') a.socket = false;
    else if (k === '--replay') a.replay = v();
    else if (k === '--replay-hex') a.replayHex = v();
    else if (k === '--help' || k === '-h') {
      console.log(readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1, 15).join('\n'));
      process.exit(0);
    } else {
      console.error(`unknown argument ${k}`);
      process.exit(2);
    }
  }
  if (!Number.isFinite(a.seconds) || !Number.isFinite(a.seed)) {
    console.error('--seconds and --seed take numbers');
    process.exit(2);
  }
  return a;
}

function startWorker(data) {
  return new Worker(new URL(import.meta.url), { workerData: data });
}

function startBrokerWorker(onCrash, onLog) {
  const w = startWorker({ role: 'broker' });
  let closing = false;
  const port = new Promise((resolve, reject) => {
    w.on('message', (m) => {
      if (m.type === 'port') resolve(m.port);
      else if (m.type === 'log') onLog(m.line);
    });
    w.on('error', (e) => {
      reject(e);
      onCrash(`broker crashed: ${e?.stack ?? e}`);
      closing = true;
    });
    w.on('exit', (code) => {
      if (!closing) onCrash(`broker thread exited (code ${code})`);
    });
  });
  return {
    port,
    async terminate() {
      closing = true;
      await w.terminate();
    },
    async close() {
      closing = true;
      w.postMessage('close');
      await new Promise((r) => {
        const t = setTimeout(r, 5000);
        w.on('message', (m) => m.type === 'closed' && (clearTimeout(t), r()));
      });
      await w.terminate();
    },
  };
}

/** The well-behaved connection: opened before the fuzzing, it must keep working. */
async function openBystander(port) {
  const amqp = (await import('amqplib')).default;
  const errors = [];
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
  conn.on('error', (e) => errors.push(`connection error: ${e.message}`));
  conn.on('close', () => errors.push('connection closed'));
  const ch = await conn.createChannel();
  ch.on('error', (e) => errors.push(`channel error: ${e.message}`));
  const { queue } = await ch.assertQueue('', { exclusive: true });
  let n = 0;
  return {
    async check(timeoutMs = 5000) {
      if (errors.length > 0) return errors.join('; ');
      const payload = `ping ${n++} ${Date.now()}`;
      const deadline = Date.now() + timeoutMs;
      const attempt = (async () => {
        ch.sendToQueue(queue, Buffer.from(payload));
        for (;;) {
          const m = await ch.get(queue, { noAck: true });
          if (m && m.content.toString() === payload) return null;
          if (m) return `got ${m.content.toString()} instead of ${payload}`;
          if (Date.now() > deadline) return 'message not back';
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      const timeout = new Promise((r) => setTimeout(() => r(`no answer in ${timeoutMs} ms (broker unresponsive?)`), timeoutMs + 500));
      return (await Promise.race([attempt, timeout])) ?? (errors.length > 0 ? errors.join('; ') : null);
    },
    close: () => conn.close().catch(() => undefined),
  };
}

async function main(args) {
  const t0 = Date.now();
  const deadline = t0 + args.seconds * 1000;
  const kit = await loadKit();
  const codec = await loadCodec();
  console.log(`warren fuzz: seed ${args.seed}, ${args.seconds} s, pure ${args.pure ? 'on' : 'off'}, socket ${args.socket ? `on (concurrency ${args.concurrency})` : 'off'}`);

  /** signature -> { kind, text, replay, bytes?, count } */
  const failures = new Map();
  const fail = (f) => {
    const sig = `${f.kind}: ${signature(f.text)}`;
    const prev = failures.get(sig);
    if (prev) {
      prev.count++;
      if (f.bytes && prev.bytes && f.bytes.length < prev.bytes.length) Object.assign(prev, f, { count: prev.count });
    } else {
      failures.set(sig, { ...f, count: 1 });
      console.log(`  ! ${sig}`);
    }
  };
  const brokerLogs = [];

  // ---- pure, in its own thread
  const pureTally = new kit.Tally();
  let pureDone = Promise.resolve();
  let pureWorkerRef = null;
  if (args.pure) {
    const w = startWorker({ role: 'pure', seed: args.seed, deadline });
    pureWorkerRef = w;
    let last = { at: Date.now(), name: '', batchSeed: 0 };
    pureDone = new Promise((resolve) => {
      const watchdog = setInterval(() => {
        if (Date.now() - last.at > 20_000) {
          fail({
            kind: 'pure',
            text: `no progress for 20 s in property ${last.name} (hang)`,
            replay: `pure:${last.name}:${last.batchSeed}: (whole batch)`,
          });
          clearInterval(watchdog);
          void w.terminate();
          resolve();
        }
      }, 1000);
      w.on('message', (m) => {
        last.at = Date.now();
        if (m.type === 'batch-start') last = { at: Date.now(), name: m.name, batchSeed: m.batchSeed };
        else if (m.type === 'tally') pureTally.merge(m.counts);
        else if (m.type === 'failure') fail(m);
        else if (m.type === 'done') {
          clearInterval(watchdog);
          resolve();
        }
      });
      w.on('error', (e) => {
        fail({ kind: 'pure', text: `pure worker crashed: ${e?.stack ?? e}`, replay: `pure:${last.name}:${last.batchSeed}:` });
        clearInterval(watchdog);
        resolve();
      });
      w.on('exit', () => {
        clearInterval(watchdog);
        resolve();
      });
    });
  }

  // ---- sockets, against a broker in its own thread (restarted if it crashes)
  const socketTally = new kit.Tally();
  let socketCases = 0;
  let healthChecks = 0;
  /** the current broker: each crash ends a generation */
  let cur = null;
  /** the last cases started, for finding the one that crashed the broker */
  const recent = [];
  const crashes = [];
  const startGeneration = async () => {
    const gen = { dead: false, broker: null, port: 0, bystander: null };
    gen.broker = startBrokerWorker(
      (why) => {
        if (gen.dead) return;
        gen.dead = true;
        const crash = { kind: 'broker', text: why, recent: recent.slice(-64) };
        crashes.push(crash);
        fail(crash);
      },
      (line) => brokerLogs.push(line),
    );
    gen.port = await gen.broker.port;
    gen.bystander = await openBystander(gen.port);
    const h = await gen.bystander.check();
    if (h) fail({ kind: 'bystander', text: `before fuzzing: ${h}` });
    return gen;
  };
  if (args.socket) {
    cur = await startGeneration();
    const progress = setInterval(() => {
      console.log(
        `  ${((Date.now() - t0) / 1000).toFixed(0)} s: ${pureTally.total} pure inputs, ${socketCases} socket cases, ${failures.size} distinct failures`,
      );
    }, 10_000);
    for (let batch = 0; Date.now() < deadline; batch++) {
      if (cur.dead) {
        await cur.broker.terminate();
        cur = await startGeneration();
      }
      const batchSeed = (args.seed + 1_000_000 + batch) | 0;
      const cases = fc.sample(kit.socketCaseArb(fc), { seed: batchSeed, numRuns: SOCKET_BATCH });
      const gen = cur;
      await kit.runPool(cases, args.concurrency, async (c, j) => {
        if (Date.now() >= deadline || gen.dead) return;
        const index = batch * SOCKET_BATCH + j;
        recent.push({ c, index, replay: `socket:${batchSeed}:${j}:${index}` });
        if (recent.length > 256) recent.splice(0, 128);
        const { name, bytes, result } = await kit.runMutatedSocketCase(codec, c, index, { port: gen.port, idleMs: 80 });
        if (gen.dead) return; // whatever this case saw, the crash explains it
        socketCases++;
        socketTally.add(result.outcome);
        for (const code of result.channelCloses) socketTally.add(`chan:${code}`);
        for (const v of result.violations) {
          fail({ kind: 'socket', text: v, base: name, replay: `socket:${batchSeed}:${j}:${index}`, bytes: bytes.toString('hex') });
        }
        if (socketCases % HEALTH_EVERY === 0) {
          healthChecks++;
          const problem = await gen.bystander.check();
          if (problem && !gen.dead) fail({ kind: 'bystander', text: `after ${socketCases} cases: ${problem}`, replay: `socket:${batchSeed}:${j}:${index}` });
        }
      });
    }
    clearInterval(progress);
    if (!cur.dead) {
      healthChecks++;
      const problem = await cur.bystander.check();
      if (problem && !cur.dead) fail({ kind: 'bystander', text: `at the end: ${problem}` });
    }
  }
  await pureDone;
  if (pureWorkerRef) await pureWorkerRef.terminate();

  if (args.socket && args.minimizeSeconds > 0) {
    const until = Date.now() + args.minimizeSeconds * 1000;
    // ---- find the case that crashed the broker, on fresh brokers, and shrink it
    for (const crash of crashes) {
      const f = failures.get(`broker: ${signature(crash.text)}`);
      if (!f || f.culprit || Date.now() > until) continue;
      const culprit = await findCrasher(kit, codec, crash.recent, until);
      if (!culprit) continue;
      f.culprit = culprit.replay;
      f.bytes = culprit.bytes.toString('hex');
      const min = await minimize(kit, culprit.bytes, (b) => crashes1(kit, b), until);
      if (min.length < culprit.bytes.length) f.minimal = min.toString('hex');
    }
    // ---- shrink socket failures to a minimal stream
    if (cur && !cur.dead) {
      for (const [sig, f] of failures) {
        if (f.kind !== 'socket' || !f.bytes || Date.now() > until) continue;
        let n = 0;
        const still = async (b) => {
          const r = await kit.runSocketCase([b], { port: cur.port, mode: 'linger', idleMs: 80, localAddress: kit.loopbackAddress(800_000 + n++) });
          return r.violations.some((v) => `socket: ${signature(v)}` === sig);
        };
        const min = await minimize(kit, Buffer.from(f.bytes, 'hex'), still, until);
        if (min.length < f.bytes.length / 2) f.minimal = min.toString('hex');
      }
    }
  }
  if (cur) {
    await cur.bystander?.close();
    if (!cur.dead) await cur.broker.close();
    else await cur.broker.terminate();
  }

  // ---- report
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(`\n== ${secs} s, seed ${args.seed}`);
  if (args.pure) {
    console.log(`== pure: ${pureTally.total} inputs`);
    for (const [k, v] of Object.entries(pureTally.toJSON())) console.log(`   ${String(v).padStart(8)}  ${k}`);
  }
  if (args.socket) {
    console.log(`== socket: ${socketCases} cases (outcomes; chan:N counts channel.close replies), ${healthChecks} bystander checks, ${crashes.length} broker crashes`);
    for (const [k, v] of Object.entries(socketTally.toJSON())) console.log(`   ${String(v).padStart(8)}  ${k}`);
  }
  if (brokerLogs.length > 0) {
    console.log(`== broker error logs (first ${Math.min(brokerLogs.length, 5)}):`);
    for (const l of brokerLogs.slice(0, 5)) console.log(`   ${l.trim().slice(0, 600)}`);
  }
  if (failures.size === 0) {
    console.log('== no failures');
    process.exit(0);
  }
  console.log(`== ${failures.size} distinct failures:`);
  for (const [sig, f] of failures) {
    console.log(`\n-- [${f.count}x] ${sig}`);
    const lines = f.text.split('\n');
    console.log(`   ${(f.kind === 'broker' ? lines.slice(0, 10) : lines.slice(0, 1)).join('\n   ').slice(0, 3000)}`);
    if (f.base) console.log(`   base stream: ${f.base}`);
    if (f.replay) console.log(`   replay: node scripts/fuzz.mjs --replay ${f.replay}`);
    if (f.kind === 'broker') {
      if (f.culprit) console.log(`   crashing case: node scripts/fuzz.mjs --replay ${f.culprit}`);
      else console.log(`   crashing case not found again; last cases before the crash: ${f.recent.slice(-5).map((r) => r.replay).join(' ')}`);
    }
    if (f.counterexample) console.log(`   counterexample: ${f.counterexample.slice(0, 2000)}`);
    if (f.minimal) console.log(`   minimal stream (${f.minimal.length / 2} bytes): node scripts/fuzz.mjs --replay-hex ${f.minimal}`);
    else if (f.bytes) console.log(`   stream (${f.bytes.length / 2} bytes): ${f.bytes.slice(0, 4000)}${f.bytes.length > 4000 ? '…' : ''}`);
  }
  process.exit(1);
}

/** Runs one client stream against a fresh broker and says whether the broker died within 300 ms. */
async function crashes1(kit, bytes, chunks = [bytes], mode = 'linger') {
  let died = false;
  const b = startBrokerWorker(
    () => {
      died = true;
    },
    () => undefined,
  );
  const port = await b.port;
  await kit.runSocketCase(chunks, { port, mode, idleMs: 80 });
  const t = Date.now();
  while (!died && Date.now() - t < 300) await new Promise((r) => setTimeout(r, 10));
  if (died) await b.terminate();
  else await b.close();
  return died;
}

/**
 * The recent case that crashes a fresh broker on its own. Candidates run newest first against one
 * broker until it dies; the last few run are then tried each on a fresh broker.
 */
async function findCrasher(kit, codec, recent, until) {
  const cands = [...recent].reverse().map((r) => {
    const bytes = kit.materialize(r.c, kit.buildStreams(codec, kit.caseTag(r.index))).bytes;
    return { ...r, bytes, chunks: kit.chunk(bytes, r.c.splits) };
  });
  let i = 0;
  while (i < cands.length && Date.now() < until) {
    let died = false;
    const b = startBrokerWorker(
      () => {
        died = true;
      },
      () => undefined,
    );
    const port = await b.port;
    let last = -1;
    for (; i < cands.length && !died && Date.now() < until; i++) {
      await kit.runSocketCase(cands[i].chunks, { port, mode: cands[i].c.mode, idleMs: 80 });
      last = i;
      const t = Date.now();
      while (!died && Date.now() - t < 60) await new Promise((r) => setTimeout(r, 10));
    }
    if (!died) {
      await b.close();
      return null;
    }
    await b.terminate();
    for (const k of [last, last - 1, last - 2]) {
      if (k < 0 || Date.now() > until) continue;
      if (await crashes1(kit, cands[k].bytes, cands[k].chunks, cands[k].c.mode)) return cands[k];
    }
  }
  return null;
}

/** Greedy minimization of a client stream: keep any cut after which still(bytes) holds. */
async function minimize(kit, bytes, still, until) {
  let best = bytes;
  // Whole frames first, from the last one back (keeping the protocol header).
  for (let progress = true; progress && Date.now() < until; ) {
    progress = false;
    const frames = kit.scanFrames(best);
    for (let i = frames.length - 1; i >= 0 && Date.now() < until; i--) {
      const f = frames[i];
      const cand = Buffer.concat([best.subarray(0, f.start), best.subarray(f.start + 8 + f.size)]);
      if (await still(cand)) {
        best = cand;
        progress = true;
        break;
      }
    }
  }
  // Then trailing bytes, halving the cut.
  for (let cut = Math.floor(best.length / 2); cut >= 1 && Date.now() < until; cut = Math.floor(cut / 2)) {
    while (best.length > cut && Date.now() < until && (await still(best.subarray(0, best.length - cut)))) best = best.subarray(0, best.length - cut);
  }
  return best;
}

async function replay(args) {
  const kit = await loadKit();
  const codec = await loadCodec();
  if (args.replay?.startsWith('pure:')) {
    const [, name, seed, path] = args.replay.split(':');
    const props = kit.pureProperties(fc, codec, new kit.Tally(), { timeLimitMs: 1000 });
    if (!props[name]) {
      console.error(`no property ${name}; there are ${Object.keys(props).join(', ')}`);
      process.exit(2);
    }
    const d = fc.check(props[name], { seed: Number(seed), ...(path ? { path } : {}), numRuns: path ? 1 : (PURE_RUNS[name] ?? 200), endOnFailure: !!path });
    if (!d.failed) {
      console.log('did not fail');
      process.exit(0);
    }
    console.log(`counterexample: ${json(d.counterexample)}`);
    console.log(String(d.errorInstance?.stack ?? d.error));
    process.exit(1);
  }
  const { startBroker } = await import('../dist/index.js');
  process.on('uncaughtException', (e) => {
    console.log(`BROKER CRASHED (uncaught exception): ${e?.stack ?? e}`);
    process.exit(1);
  });
  const b = await startBroker({ port: 0, host: '127.0.0.1', logLevel: 'error' });
  let bytes;
  let c = null;
  if (args.replayHex) bytes = Buffer.from(args.replayHex, 'hex');
  else {
    const [, batchSeed, j, index] = args.replay.split(':');
    c = fc.sample(kit.socketCaseArb(fc), { seed: Number(batchSeed), numRuns: Number(j) + 1 })[Number(j)];
    bytes = kit.materialize(c, kit.buildStreams(codec, kit.caseTag(Number(index)))).bytes;
    console.log(`case ${json(c)}`);
  }
  console.log(`stream (${bytes.length} bytes): ${bytes.toString('hex')}`);
  const r = await kit.runSocketCase(c ? kit.chunk(bytes, c.splits) : [bytes], { port: b.port, mode: c?.mode ?? 'linger', idleMs: 200 });
  console.log(`outcome ${r.outcome}, channel.close ${json(r.channelCloses)}, ${r.replies} frames from the broker, ${r.ms} ms`);
  for (const v of r.violations) console.log(`violation: ${v}`);
  await new Promise((res) => setTimeout(res, 500)); // timers (message TTL, x-expires) get their chance
  await b.close();
  process.exit(r.violations.length > 0 ? 1 : 0);
}
