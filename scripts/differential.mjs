#!/usr/bin/env node
// `npm run differential`: behaviour differences between Warren and RabbitMQ, found by programs
// nobody on this team wrote. The official client libraries' own integration test suites run
// against a Warren started here (node dist/cli.js, in memory, a free port) and, when
// rabbitmq-server is installed, against a private RabbitMQ node (its own name, ports and temp
// directory; stopped at the end). For every suite it prints passed/failed/skipped on each broker
// and every test whose outcome differs. Then it runs this project's own test files that support
// AMQP_URL against the RabbitMQ node and lists the tests of ours that fail there.
//
// The suites' sources are never part of this repository: give each checkout with a flag or an
// environment variable (see README, "Differential testing"), or let the script `git clone` them
// from GitHub (when the network allows). The checkout is copied into a temp directory and, where
// a suite hard-codes port 5672 (or `localhost` with the default port), those URLs are rewritten
// to the broker under test; the rewrites are printed.
import { spawn, execFileSync } from 'node:child_process';
import { createWriteStream, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startClusterBroker, stopProcess } from './differential/cluster-broker.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

// ---------------------------------------------------------------- options

const HELP = `usage: node scripts/differential.mjs [options]   (npm run differential -- [options])

  --amqplib-src DIR        checkout of github.com/amqp-node/amqplib        (env DIFF_AMQPLIB_SRC)
  --amqp-client-src DIR    checkout of github.com/cloudamqp/amqp-client.js (env DIFF_AMQP_CLIENT_SRC)
  --pyamqp-src DIR         checkout of github.com/celery/py-amqp           (env DIFF_PYAMQP_SRC)
  --pika-src DIR           checkout of github.com/pika/pika                (env DIFF_PIKA_SRC)
  --amqp091-go-src DIR     checkout of github.com/rabbitmq/amqp091-go      (env DIFF_AMQP091_GO_SRC)
  --suites LIST            which of amqplib,amqp-client,pyamqp,pika,amqp091-go,celery,bunny,
                           php-amqplib,aio-pika,java,own (default: all)
  --brokers LIST           warren,rabbitmq,cluster (default: warren, plus rabbitmq when installed);
                           cluster: 3 Warren nodes on 3 nats-servers behind a round-robin proxy
  --no-clone               never git-clone a suite whose checkout was not given (skip it instead)
  --clone-dir DIR          where clones go (default: $TMPDIR/warren-differential-src)
  --suite-timeout SEC      kill a suite's run after this long (default 900)
  --json FILE              also write every outcome as JSON
  --keep                   keep the work directory (copies, logs, reports) and print its path
  --verbose                stream the suites' own output
`;

const opts = { suites: null, brokers: null, clone: true, cloneDir: join(tmpdir(), 'warren-differential-src'), suiteTimeout: 900, json: null, keep: false, verbose: false, src: {} };
{
  const argv = process.argv.slice(2);
  const val = (i) => {
    if (argv[i + 1] === undefined) throw new Error(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--(amqplib|amqp-client|pyamqp|pika|amqp091-go)-src$/.exec(a);
    if (m) opts.src[m[1]] = resolve(val(i++));
    else if (a === '--suites') opts.suites = val(i++).split(',').filter(Boolean);
    else if (a === '--brokers') opts.brokers = val(i++).split(',').filter(Boolean);
    else if (a === '--no-clone') opts.clone = false;
    else if (a === '--clone-dir') opts.cloneDir = resolve(val(i++));
    else if (a === '--suite-timeout') opts.suiteTimeout = Number(val(i++));
    else if (a === '--json') opts.json = resolve(val(i++));
    else if (a === '--keep') opts.keep = true;
    else if (a === '--verbose') opts.verbose = true;
    else if (a === '-h' || a === '--help') {
      process.stdout.write(HELP);
      process.exit(0);
    } else {
      process.stderr.write(`unknown argument ${a}\n${HELP}`);
      process.exit(2);
    }
  }
}

// The RabbitMQ node: a private one (never the system node, never 5672/15672), started through
// bench/brokers.mjs, which reads its node name at import.
process.env.BENCH_RABBIT_NODENAME ??= 'rabbit-diff@localhost';
const brokers = await import('../bench/brokers.mjs');
const { rabbitAvailable, startRabbit, cleanupAll, freePort } = brokers;

const PYTHON = process.env.DIFF_PYTHON ?? '/usr/bin/python3'; // Debian's, with python3-pytest/-amqp/-vine
const VITEST = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const log = (...a) => console.error('[differential]', ...a);

// ---------------------------------------------------------------- the suites

/**
 * Each suite: where it comes from, which parts of the checkout to copy, which URLs to rewrite for
 * a broker on `port`, and how to run it into a list of { id, outcome: pass|fail|skip, error }.
 */
const SUITES = [
  {
    id: 'amqplib',
    title: 'amqplib (Node) — test/{channel_api,callback_api,connect}.test.js, node:test',
    repo: 'https://github.com/amqp-node/amqplib',
    env: 'DIFF_AMQPLIB_SRC',
    marker: 'test/channel_api.test.js',
    copy: ['lib', 'test', 'channel_api.js', 'callback_api.js', 'package.json'],
    // callback_api.test.js and connect.test.js connect to amqp://localhost (port 5672), to URL
    // objects without a port, and one test to amqp://[::1]; lib/connect.js defaults to
    // amqp://localhost and port 5672. Both brokers listen on 127.0.0.1 only, so the IPv6 test
    // connects over IPv4 here.
    rewrites: (port) => [
      { files: ['lib/connect.js', 'test/callback_api.test.js', 'test/connect.test.js', 'test/channel_api.test.js'], from: /amqp:\/\/localhost(?![:\d])/g, to: `amqp://127.0.0.1:${port}` },
      { files: ['test/connect.test.js'], from: /amqp:\/\/\[::1\](?![:\d])/g, to: `amqp://127.0.0.1:${port}` },
      { files: ['lib/connect.js'], from: /\(protocol === 'amqp:' \? 5672 :/g, to: `(protocol === 'amqp:' ? ${port} :` },
    ],
    run: (dir, broker, out) =>
      runNodeTest(dir, ['test/channel_api.test.js', 'test/callback_api.test.js', 'test/connect.test.js'], { URL: broker.url }, out),
  },
  {
    id: 'amqp-client',
    title: '@cloudamqp/amqp-client (Node/TS) — test/{test,amqp-session}.ts, vitest',
    repo: 'https://github.com/cloudamqp/amqp-client.js',
    env: 'DIFF_AMQP_CLIENT_SRC',
    marker: 'test/amqp-session.ts',
    copy: ['src', 'test', 'package.json', 'tsconfig.json', 'vitest.config.ts'],
    // The tests connect to amqp://127.0.0.1 (port 5672); one expects amqp://127.0.0.1:15672 to be
    // an HTTP server that is not AMQP: pointed at a closed port here (still "fails to connect").
    rewrites: (port, deadPort) => [
      { files: ['test/test.ts', 'test/amqp-session.ts'], from: /amqp:\/\/127\.0\.0\.1:15672/g, to: `amqp://127.0.0.1:${deadPort}` },
      { files: ['test/test.ts', 'test/amqp-session.ts'], from: /amqp:\/\/127\.0\.0\.1(?![:\d])/g, to: `amqp://127.0.0.1:${port}` },
    ],
    prepare: (dir) => symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir'), // vitest from this repo
    run: (dir, broker, out) => runVitest(dir, ['test/test.ts', 'test/amqp-session.ts'], {}, out, { config: join(dir, 'vitest.config.ts') }),
  },
  {
    id: 'pyamqp',
    title: 'py-amqp (Python) — t/integration/test_rmq.py, pytest (TLS cases deselected)',
    repo: 'https://github.com/celery/py-amqp',
    env: 'DIFF_PYAMQP_SRC',
    marker: 't/integration/test_rmq.py',
    copy: ['amqp', 't', 'conftest.py', 'setup.cfg'],
    rewrites: () => [],
    run: (dir, broker, out) =>
      runPytest(dir, ['t/integration/test_rmq.py', '-E', 'rabbitmq', '-k', 'not tls'], { RABBITMQ_HOST: '127.0.0.1', RABBITMQ_5672_TCP: String(broker.port) }, out),
  },
  {
    id: 'pika',
    title: 'pika (Python) — tests/acceptance/{blocking_adapter,async_adapter,thread_safe_*}, pytest',
    repo: 'https://github.com/pika/pika',
    env: 'DIFF_PIKA_SRC',
    marker: 'tests/acceptance/blocking_adapter_test.py',
    copy: ['pika', 'tests'],
    rewrites: (port) => [
      {
        files: ['tests/base/async_test_base.py', 'tests/acceptance/blocking_adapter_test.py', 'tests/acceptance/thread_safe_connection_test.py', 'tests/acceptance/thread_safe_bounded_queue_test.py'],
        from: /(port=|'port': )5672\b/g,
        to: `$1${port}`,
      },
    ],
    // The async tests run once per I/O loop; the variants for loops not installed (gevent,
    // tornado, twisted are optional) are deselected rather than counted as failures.
    run: (dir, broker, out) => {
      const missing = ['gevent', 'tornado', 'twisted'].filter((m) => !pythonHas(m));
      return runPytest(
        dir,
        [
          'tests/acceptance/blocking_adapter_test.py',
          'tests/acceptance/async_adapter_tests.py',
          'tests/acceptance/thread_safe_connection_test.py',
          'tests/acceptance/thread_safe_bounded_queue_test.py',
          ...(missing.length ? ['-k', missing.map((m) => `not test_with_${m}`).join(' and ')] : []),
        ],
        {},
        out,
      );
    },
  },
  {
    id: 'amqp091-go',
    title: 'amqp091-go (Go) — go test -tags integration: integration_test.go, connection_test.go',
    repo: 'https://github.com/rabbitmq/amqp091-go',
    env: 'DIFF_AMQP091_GO_SRC',
    marker: 'integration_test.go',
    copy: ['.'],
    rewrites: () => [],
    // Only go.uber.org/goleak is needed from outside. Without a module proxy, Debian's
    // golang-uber-goleak-dev stands in for it (a `replace` in the copy's go.mod).
    prepare: (dir) => {
      if (!process.env.GOPROXY && existsSync(DEBIAN_GOLEAK)) {
        execFileSync('go', ['mod', 'edit', `-replace=go.uber.org/goleak=${DEBIAN_GOLEAK}`], { cwd: dir, env: goEnv() });
      }
    },
    // recovery_test.go's tests drop connections through the management API on port 15672
    // (hard-coded, and never ours to use): not run.
    run: (dir, broker, out) => runGoTest(dir, ['integration_test.go', 'connection_test.go'], { AMQP_URL: `${broker.url}/` }, out),
  },
  // Probes: scripts of ours (scripts/differential/probes, test/celery) driving clients nobody here
  // wrote through what their users do. Each prints one {"check", "value"} JSON line per check;
  // a check whose value differs between the brokers is a difference. Debian packages the clients.
  {
    id: 'celery',
    title: 'Celery 5.2 (python3-celery) — a prefork worker and test/celery/client.py, rpc:// results',
    local: true,
    needs: () => (pythonHas('celery') ? null : 'python3-celery'),
    run: (dir, broker, out) => runCelery(broker, out),
  },
  {
    id: 'bunny',
    title: 'Bunny (Ruby, ruby-bunny) — scripts/differential/probes/bunny.rb',
    local: true,
    needs: () => (commandWorks('ruby', ['-e', 'require "bunny"']) ? null : 'ruby-bunny'),
    run: (dir, broker, out) => runProbe('ruby', [join(PROBES, 'bunny.rb')], broker, out),
  },
  {
    id: 'php-amqplib',
    title: 'php-amqplib (PHP, php-cli php-amqplib) — scripts/differential/probes/php-amqplib.php',
    local: true,
    needs: () => (commandWorks('php', ['-r', 'exit(is_file("/usr/share/php/PhpAmqpLib/autoload.php") ? 0 : 1);']) ? null : 'php-cli php-amqplib'),
    run: (dir, broker, out) => runProbe('php', [join(PROBES, 'php-amqplib.php')], broker, out),
  },
  {
    id: 'aio-pika',
    title: 'aio-pika (Python asyncio, python3-aio-pika) — scripts/differential/probes/aio_pika_probe.py',
    local: true,
    needs: () => (pythonHas('aio_pika') ? null : 'python3-aio-pika'),
    run: (dir, broker, out) => runProbe(PYTHON, [join(PROBES, 'aio_pika_probe.py')], broker, out),
  },
  {
    id: 'management-api',
    title: 'the management HTTP API as scripts and tools use it (fetch) — scripts/differential/probes/management-api.mjs',
    local: true,
    needs: () => null,
    run: (dir, broker, out) => runProbe(process.execPath, [join(PROBES, 'management-api.mjs')], broker, out),
  },
  {
    id: 'java',
    title: "RabbitMQ's Java client (librabbitmq-client-java, javac) — scripts/differential/probes/JavaClientProbe.java",
    local: true,
    needs: () => (existsSync(JAVA_CLIENT_JAR) && commandWorks('javac', ['-version']) ? null : 'librabbitmq-client-java default-jdk-headless'),
    run: (dir, broker, out) => {
      const cp = [out, JAVA_CLIENT_JAR, '/usr/share/java/slf4j-api.jar'].join(':');
      execFileSync('javac', ['-d', out, '-cp', cp, join(PROBES, 'JavaClientProbe.java')], { stdio: 'ignore' });
      return runProbe('java', ['-cp', cp, 'JavaClientProbe'], broker, out);
    },
  },
];

const PROBES = join(here, 'differential', 'probes');
const JAVA_CLIENT_JAR = '/usr/share/java/amqp-client.jar';

const commandWorks = (cmd, args) => {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** The {"check", "value"} lines of a probe's output, as results whose value the report compares. */
function probeResults(text) {
  const results = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const r = JSON.parse(line);
      if (typeof r.check === 'string') results.push({ id: r.check, outcome: 'pass', value: JSON.stringify(r.value) });
    } catch {
      // not a check line
    }
  }
  return results;
}

/** Runs a probe with PROBE_PORT and PROBE_MGMT_PORT set to the broker's; a probe that dies is one failed result. */
async function runProbe(cmd, args, broker, out) {
  const logFile = join(out, 'output.log');
  const env = { ...process.env, PROBE_PORT: String(broker.port), PROBE_MGMT_PORT: String(broker.mgmtPort) };
  const { code, timedOut } = await runCmd(cmd, args, { cwd: out, env, logFile, timeoutMs: opts.suiteTimeout * 1000 });
  const text = readFileSync(logFile, 'utf8');
  const results = probeResults(text);
  if (code !== 0) results.push({ id: '(exit)', outcome: 'fail', error: `exit ${code}: ${text.trim().split('\n').slice(-3).join(' | ').slice(0, 500)}` });
  return { results, timedOut };
}

/** A Celery worker on the broker, then test/celery/client.py against it, then a warm shutdown. */
async function runCelery(broker, out) {
  const dir = join(root, 'test', 'celery');
  const env = { ...process.env, CELERY_BROKER: `${broker.url}//`, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' };
  const worker = spawn(PYTHON, ['-m', 'celery', '-A', 'tasks', 'worker', '-l', 'info', '-c', '2', '-E', '-n', 'warren@test'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let workerOut = '';
  worker.stdout.on('data', (d) => (workerOut += d));
  worker.stderr.on('data', (d) => (workerOut += d));
  const deadline = Date.now() + 30_000;
  while (!/warren@test ready/.test(workerOut) && worker.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  let result;
  if (!/warren@test ready/.test(workerOut)) result = { results: [{ id: '(worker)', outcome: 'fail', error: workerOut.trim().split('\n').slice(-3).join(' | ').slice(0, 500) }], timedOut: false };
  else {
    const logFile = join(out, 'output.log');
    const { code, timedOut } = await runCmd(PYTHON, ['client.py'], { cwd: dir, env, logFile, timeoutMs: opts.suiteTimeout * 1000 });
    const text = readFileSync(logFile, 'utf8');
    result = { results: probeResults(text), timedOut };
    if (code !== 0) result.results.push({ id: '(exit)', outcome: 'fail', error: `exit ${code}: ${text.trim().split('\n').slice(-3).join(' | ').slice(0, 500)}` });
  }
  worker.kill('SIGTERM');
  const t = setTimeout(() => worker.kill('SIGKILL'), 10_000);
  if (worker.exitCode === null) await new Promise((r) => worker.once('exit', r));
  clearTimeout(t);
  writeFileSync(join(out, 'worker.log'), workerOut);
  return result;
}

/** This repository's own test files that take AMQP_URL (an external broker instead of Warren in-process). */
function ownAmqpUrlFiles() {
  const dir = join(root, 'test', 'e2e');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts') && /process\.env\.AMQP_URL|brokerUnderTest\(/.test(readFileSync(join(dir, f), 'utf8')))
    .map((f) => `test/e2e/${f}`);
}

// ---------------------------------------------------------------- runners

/** Runs a command in its own process group; resolves { code, timedOut } and logs to `logFile`. */
function runCmd(cmd, args, { cwd, env, logFile, timeoutMs }) {
  return new Promise((resolvePromise) => {
    const logStream = createWriteStream(logFile, { flags: 'a' });
    logStream.write(`$ ${cmd} ${args.join(' ')}\n`);
    const p = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const sink = (chunk) => {
      logStream.write(chunk);
      if (opts.verbose) process.stderr.write(chunk);
    };
    p.stdout.on('data', sink);
    p.stderr.on('data', sink);
    let timedOut = false;
    const t = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {}
    }, timeoutMs);
    p.once('close', (code, signal) => {
      clearTimeout(t);
      // whatever the suite left running in its group (helper servers, stuck threads)
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {}
      logStream.end(`\n[exit ${code ?? signal}${timedOut ? ', timed out' : ''}]\n`, () => resolvePromise({ code, timedOut }));
    });
  });
}

async function runNodeTest(dir, files, env, out) {
  const report = join(out, 'node-test.jsonl');
  const { timedOut } = await runCmd(
    process.execPath,
    ['--test', `--test-reporter=${join(here, 'differential', 'node-test-reporter.mjs')}`, `--test-reporter-destination=${report}`, '--test-concurrency=1', '--test-timeout=10000', ...files],
    { cwd: dir, env, logFile: join(out, 'output.log'), timeoutMs: opts.suiteTimeout * 1000 },
  );
  const results = [];
  if (existsSync(report))
    for (const line of readFileSync(report, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const r = JSON.parse(line);
      if (r.kind === 'suite') continue;
      const file = r.file ? r.file.slice(dir.length + 1) : '?';
      const path = r.path[0] === r.file ? ['(file)'] : r.path;
      results.push({ id: `${file} › ${path.join(' › ')}`, outcome: r.outcome === 'todo' ? 'skip' : r.outcome, error: r.error });
    }
  return { results, timedOut };
}

async function runVitest(dir, files, env, out, { config } = {}) {
  const report = join(out, 'vitest.json');
  const { timedOut } = await runCmd(
    process.execPath,
    [VITEST, 'run', '--root', dir, ...(config ? ['--config', config] : []), '--reporter=json', `--outputFile=${report}`, '--no-file-parallelism', ...files],
    { cwd: dir, env: { CI: '1', ...env }, logFile: join(out, 'output.log'), timeoutMs: opts.suiteTimeout * 1000 },
  );
  return { results: existsSync(report) ? parseVitestJson(JSON.parse(readFileSync(report, 'utf8')), dir) : [], timedOut };
}

function parseVitestJson(j, dir) {
  const results = [];
  for (const f of j.testResults ?? []) {
    const file = f.name.startsWith(dir) ? f.name.slice(dir.length + 1) : f.name;
    if (!f.assertionResults?.length && f.status === 'failed') results.push({ id: `${file} › (file)`, outcome: 'fail', error: f.message?.slice(0, 500) });
    for (const a of f.assertionResults ?? []) {
      const outcome = a.status === 'passed' ? 'pass' : a.status === 'failed' ? 'fail' : 'skip';
      results.push({ id: `${file} › ${[...a.ancestorTitles, a.title].join(' › ')}`, outcome, error: outcome === 'fail' ? firstLine(a.failureMessages?.join('\n')) : undefined });
    }
  }
  return results;
}

async function runPytest(dir, args, env, out) {
  const report = join(out, 'junit.xml');
  const { timedOut } = await runCmd(PYTHON, ['-m', 'pytest', '-p', 'no:cacheprovider', '-o', 'junit_family=xunit1', `--junitxml=${report}`, '-q', ...args], {
    cwd: dir,
    env: { PYTHONPATH: dir, PYTHONDONTWRITEBYTECODE: '1', ...env }, // the checkout's package, not an installed one
    logFile: join(out, 'output.log'),
    timeoutMs: opts.suiteTimeout * 1000,
  });
  return { results: existsSync(report) ? parseJunit(readFileSync(report, 'utf8')) : [], timedOut };
}

const DEBIAN_GOLEAK = '/usr/share/gocode/src/go.uber.org/goleak';
const goEnv = () => ({
  ...process.env,
  GOTOOLCHAIN: 'local',
  GOCACHE: process.env.GOCACHE ?? join(opts.cloneDir, 'go-cache'),
  GOPATH: process.env.GOPATH ?? join(opts.cloneDir, 'go-path'),
  ...(!process.env.GOPROXY && existsSync(DEBIAN_GOLEAK) ? { GOPROXY: 'off', GOFLAGS: '-mod=mod' } : {}),
});
const haveGo = () => {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** `go test -json` of the Test functions of the given files (the package's unit tests are not run). */
async function runGoTest(dir, files, env, out) {
  const names = files.flatMap((f) => [...readFileSync(join(dir, f), 'utf8').matchAll(/^func (Test\w+)\(t \*testing\.T\)/gm)].map((m) => m[1]));
  const report = join(out, 'go-test.jsonl');
  const logFile = join(out, 'output.log');
  const { timedOut } = await runCmd('sh', ['-c', `go test -tags integration -json -count=1 -p 1 -timeout ${opts.suiteTimeout}s -run "$RUN" . > "$REPORT"`], {
    cwd: dir,
    env: { ...goEnv(), ...env, RUN: `^(${names.join('|')})$`, REPORT: report },
    logFile,
    timeoutMs: opts.suiteTimeout * 1000,
  });
  const results = [];
  if (!existsSync(report)) return { results, timedOut };
  const output = new Map();
  for (const line of readFileSync(report, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    const e = JSON.parse(line);
    if (!e.Test) continue;
    if (e.Action === 'output') {
      const o = output.get(e.Test) ?? [];
      if (/_test\.go:\d+|panic:|Error/.test(e.Output)) o.push(e.Output.trim());
      output.set(e.Test, o);
    } else if (e.Action === 'pass' || e.Action === 'fail' || e.Action === 'skip') {
      results.push({ id: e.Test, outcome: e.Action, error: e.Action === 'fail' ? (output.get(e.Test) ?? []).slice(0, 2).join(' | ').slice(0, 500) || undefined : undefined });
    }
  }
  // a test still running when the binary died (panic, timeout) never reports
  return { results, timedOut };
}

const unxml = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&#10;/g, ' ').replace(/&amp;/g, '&');
const firstLine = (s) => (s ? s.split('\n').find((l) => l.trim())?.trim().slice(0, 500) : undefined);

function parseJunit(xml) {
  const results = [];
  const re = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  let m;
  while ((m = re.exec(xml))) {
    const attr = (n) => unxml(new RegExp(`\\b${n}="([^"]*)"`).exec(m[1])?.[1] ?? '');
    const inner = m[3] ?? '';
    const bad = /<(failure|error)\b([^>]*)/.exec(inner);
    const skipped = /<skipped\b/.test(inner);
    const msg = bad ? unxml(/message="([^"]*)"/.exec(bad[2])?.[1] ?? '') : undefined;
    results.push({ id: `${attr('classname')}::${attr('name')}`, outcome: bad ? 'fail' : skipped ? 'skip' : 'pass', error: bad ? `${bad[1]}: ${firstLine(msg) ?? ''}` : undefined });
  }
  return results;
}

const pythonHas = (mod) => {
  try {
    execFileSync(PYTHON, ['-c', `import ${mod}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

// ---------------------------------------------------------------- getting a suite's checkout

function sourceFor(suite) {
  const given = opts.src[suite.id] ?? process.env[suite.env];
  if (given) {
    if (!existsSync(join(given, suite.marker))) throw new Error(`${suite.id}: ${given} has no ${suite.marker} (not a checkout of ${suite.repo}?)`);
    return given;
  }
  const dest = join(opts.cloneDir, suite.id);
  if (existsSync(join(dest, suite.marker))) return dest;
  if (!opts.clone) return null;
  log(`${suite.id}: no checkout given (--${suite.id}-src or ${suite.env}); cloning ${suite.repo} into ${dest}`);
  try {
    mkdirSync(opts.cloneDir, { recursive: true });
    execFileSync('git', ['clone', '--quiet', '--depth', '1', suite.repo, dest], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
    return dest;
  } catch (e) {
    log(`${suite.id}: git clone failed (${firstLine(String(e.stderr ?? e.message))}); skipped`);
    return null;
  }
}

/** A fresh copy of the parts of the checkout the suite needs, with its URLs pointed at `port`. */
async function workCopy(suite, src, dest, port) {
  mkdirSync(dest, { recursive: true });
  for (const p of suite.copy) if (existsSync(join(src, p))) cpSync(join(src, p), join(dest, p), { recursive: true, filter: (s) => !/[/\\](node_modules|\.git|__pycache__)$/.test(s) });
  const applied = [];
  for (const rw of suite.rewrites(port, await freePort())) {
    for (const f of rw.files) {
      const file = join(dest, f);
      if (!existsSync(file)) continue;
      const text = readFileSync(file, 'utf8');
      const n = text.match(rw.from)?.length ?? 0;
      if (n) {
        writeFileSync(file, text.replace(rw.from, rw.to));
        applied.push(`${f}: ${n}× /${rw.from.source}/ → ${rw.to.replace(String(port), '<port>')}`);
      }
    }
  }
  suite.prepare?.(dest);
  return applied;
}

// ---------------------------------------------------------------- brokers

const warrens = new Set(); // live Warren processes, for cleanup

/** Warren as its own process (node dist/cli.js), in memory, on a free port; its log kept in `logFile`. */
async function startWarrenProc(logFile) {
  const cli = join(root, 'dist', 'cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} missing: run npm run build (npm run differential does)`);
  const mgmtPort = await freePort();
  const proc = spawn(process.execPath, [cli, '--port', '0', '--host', '127.0.0.1', '--management-port', String(mgmtPort), '--management-host', '127.0.0.1', '--prometheus-port', '-1', '--log-level', 'info', '--in-memory'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logStream = createWriteStream(logFile);
  proc.stderr.pipe(logStream, { end: false });
  warrens.add(proc);
  proc.once('exit', () => warrens.delete(proc));
  // Resolves once both listeners are up: the management API comes up after the AMQP listener.
  const port = await new Promise((res, rej) => {
    let buf = '';
    let amqpPort = 0;
    let apiUp = false;
    const onData = (d) => {
      logStream.write(d);
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let rec;
        try {
          rec = JSON.parse(line);
        } catch {
          continue;
        }
        if (rec.msg === 'listening' && rec.port) amqpPort = rec.port;
        if (rec.msg === 'management listening') apiUp = true;
        if (amqpPort && apiUp) {
          proc.stdout.off('data', onData);
          proc.stdout.pipe(logStream);
          res(amqpPort);
          return;
        }
      }
    };
    proc.stdout.on('data', onData);
    proc.once('exit', (c, s) => rej(new Error(`Warren exited (${c ?? s}) before listening; see ${logFile}`)));
  });
  return {
    kind: 'warren',
    label: 'Warren',
    port,
    mgmtPort,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    exitInfo: () => proc.exitCode ?? proc.signalCode,
    stop: () => stopProcess(proc, 15_000),
  };
}

// ---------------------------------------------------------------- main

const tally = (results) => {
  const c = { pass: 0, fail: 0, skip: 0 };
  for (const r of results) c[r.outcome]++;
  return c;
};

async function main() {
  const t0 = performance.now();
  const wantSuites = opts.suites ?? [...SUITES.map((s) => s.id), 'own'];
  for (const s of wantSuites) if (s !== 'own' && !SUITES.some((x) => x.id === s)) throw new Error(`unknown suite ${s}`);
  const haveRabbit = rabbitAvailable();
  const kinds = opts.brokers ?? ['warren', ...(haveRabbit ? ['rabbitmq'] : [])];
  if (kinds.includes('rabbitmq') && !haveRabbit) throw new Error('rabbitmq-server/rabbitmqctl not found (apt-get install rabbitmq-server, or set RABBITMQ_BIN_DIR)');
  for (const k of kinds) if (!['warren', 'rabbitmq', 'cluster'].includes(k)) throw new Error(`unknown broker ${k} (warren, rabbitmq, cluster)`);
  if (kinds.includes('cluster') && !commandWorks('nats-server', ['--version'])) throw new Error('nats-server not found (apt-get install nats-server)');
  if (!haveRabbit) log('rabbitmq-server is not installed: running against Warren only (no differences can be found)');

  const work = mkdtempSync(join(tmpdir(), 'warren-differential-')); // not bench's: cleanupAll() would remove it
  log(`work directory ${work}`);

  const plan = [];
  for (const suite of SUITES) {
    if (!wantSuites.includes(suite.id)) continue;
    if (suite.local) {
      const missing = suite.needs();
      if (missing) log(`${suite.id}: skipped — needs ${missing} (apt-get install ${missing})`);
      plan.push({ suite, src: missing ? null : root });
      continue;
    }
    const src = sourceFor(suite);
    if (!src) {
      log(`${suite.id}: skipped — no checkout (give --${suite.id}-src DIR or ${suite.env}; git clone ${suite.repo})`);
      plan.push({ suite, src: null });
    } else plan.push({ suite, src });
  }
  if (plan.some((p) => p.src && (p.suite.id === 'pyamqp' || p.suite.id === 'pika'))) {
    if (!pythonHas('pytest') || !pythonHas('vine')) {
      log(`${PYTHON} has no pytest (apt-get install python3-pytest python3-vine): Python suites skipped`);
      for (const p of plan) if (p.suite.id === 'pyamqp' || p.suite.id === 'pika') p.src = null;
    }
  }

  for (const p of plan)
    if (p.src && p.suite.id === 'amqp091-go' && !haveGo()) {
      log('amqp091-go: no `go` on PATH (apt-get install golang-go golang-uber-goleak-dev): skipped');
      p.src = null;
    }

  let rabbit;
  if (kinds.includes('rabbitmq')) {
    log('starting a private RabbitMQ node', process.env.BENCH_RABBIT_NODENAME, '…');
    const t = performance.now();
    rabbit = await startRabbit({ management: true });
    log(`RabbitMQ up on 127.0.0.1:${rabbit.port} in ${((performance.now() - t) / 1000).toFixed(1)} s (${rabbit.dataDir})`);
  }

  const report = { suites: [], own: null };
  for (const { suite, src } of plan) {
    if (!src) {
      report.suites.push({ id: suite.id, title: suite.title, skipped: true });
      continue;
    }
    const entry = { id: suite.id, title: suite.title, src, commit: suite.local ? undefined : gitHead(src), runs: {} };
    report.suites.push(entry);
    for (const kind of kinds) {
      const out = join(work, suite.id, kind);
      mkdirSync(out, { recursive: true });
      const broker =
        kind === 'warren' ? await startWarrenProc(join(out, 'warren.log')) : kind === 'cluster' ? await startClusterBroker(join(root, 'dist', 'cli.js'), join(out, 'cluster-data'), out) : rabbit;
      const rewrites = suite.local ? [] : await workCopy(suite, src, join(out, 'src'), broker.port);
      if (kind === kinds[0]) for (const r of rewrites) log(`${suite.id}: rewrote ${r}`);
      log(`${suite.id} on ${broker.label} (port ${broker.port}) …`);
      const t = performance.now();
      const { results, timedOut } = await suite.run(join(out, 'src'), broker, out);
      const secs = (performance.now() - t) / 1000;
      let brokerDied = false;
      if (kind === 'warren' || kind === 'cluster') {
        brokerDied = !broker.alive();
        if (brokerDied) log(`${suite.id}: Warren DIED during the suite (${broker.exitInfo()}); see ${kind === 'warren' ? join(out, 'warren.log') : out}`);
        await broker.stop();
      }
      const c = tally(results);
      log(`${suite.id} on ${broker.label}: ${c.pass} passed, ${c.fail} failed, ${c.skip} skipped in ${secs.toFixed(1)} s${timedOut ? ' (TIMED OUT)' : ''}${results.length ? '' : ` — no results, see ${join(out, 'output.log')}`}`);
      entry.runs[kind] = { results, counts: c, secs, timedOut, brokerDied, log: join(out, 'output.log') };
    }
  }

  // this repository's own AMQP_URL tests, on the RabbitMQ node
  if (wantSuites.includes('own') && rabbit) {
    const files = ownAmqpUrlFiles();
    const out = join(work, 'own', 'rabbitmq');
    mkdirSync(out, { recursive: true });
    log(`our own AMQP_URL tests (${files.join(', ')}) on RabbitMQ …`);
    const t = performance.now();
    const { results, timedOut } = await runVitest(root, files, { AMQP_URL: rabbit.url }, out);
    const c = tally(results);
    report.own = { files, results, counts: c, secs: (performance.now() - t) / 1000, timedOut, log: join(out, 'output.log') };
    log(`own tests on RabbitMQ: ${c.pass} passed, ${c.fail} failed, ${c.skip} skipped in ${report.own.secs.toFixed(1)} s`);
  }

  if (rabbit) await rabbit.stop();
  printReport(report, kinds);
  if (opts.json) {
    writeFileSync(opts.json, JSON.stringify(report, null, 2));
    log(`JSON written to ${opts.json}`);
  }
  log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  if (opts.keep) log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}

function gitHead(dir) {
  try {
    return execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return undefined;
  }
}

function printReport(report, kinds) {
  const out = [];
  const label = { warren: 'Warren', rabbitmq: 'RabbitMQ', cluster: 'Warren cluster' };
  const cell = (run) => (run ? `${run.counts.pass} / ${run.counts.fail} / ${run.counts.skip}${run.timedOut ? ' (timed out)' : ''}${run.brokerDied ? ' (broker died)' : ''}` : '–');
  out.push('', '## Differential run: outcomes (passed / failed / skipped)', '');
  out.push(`| suite | ${kinds.map((k) => label[k]).join(' | ')} | differing |`);
  out.push(`|---|${kinds.map(() => '---:').join('|')}|---:|`);
  const diffs = [];
  for (const s of report.suites) {
    if (s.skipped) {
      out.push(`| ${s.id} (not run) | ${kinds.map(() => '–').join(' | ')} | – |`);
      continue;
    }
    let n = 0;
    if (kinds.length === 2) {
      const [a, b] = kinds.map((k) => new Map(s.runs[k].results.map((r) => [r.id, r])));
      const ids = [...new Set([...a.keys(), ...b.keys()])];
      for (const id of ids) {
        const ra = a.get(id);
        const rb = b.get(id);
        if ((ra?.outcome ?? 'missing') !== (rb?.outcome ?? 'missing') || ra?.value !== rb?.value) {
          n++;
          diffs.push({ suite: s.id, id, [kinds[0]]: ra, [kinds[1]]: rb });
        }
      }
    }
    out.push(`| ${s.id}${s.commit ? ` @${s.commit}` : ''} | ${kinds.map((k) => cell(s.runs[k])).join(' | ')} | ${kinds.length === 2 ? n : '–'} |`);
  }
  if (report.own) out.push(`| own AMQP_URL tests (${report.own.files.length} files) | ${kinds.map((k) => (k === 'rabbitmq' ? cell(report.own) : 'npm test')).join(' | ')} | – |`);
  out.push('');
  if (kinds.length === 2) {
    out.push(`## Tests whose outcome differs (${diffs.length})`, '');
    for (const d of diffs) {
      out.push(`- [${d.suite}] ${d.id}`);
      for (const k of kinds) out.push(`    ${label[k].padEnd(8)} ${d[k]?.outcome ?? 'missing (not run / not collected)'}${d[k]?.error ? ` — ${d[k].error}` : ''}${d[k]?.value !== undefined ? ` ${d[k].value}` : ''}`);
    }
    if (!diffs.length) out.push('(none)');
    out.push('');
    const both = [];
    for (const s of report.suites)
      if (!s.skipped) {
        const b = new Map(s.runs[kinds[1]].results.map((r) => [r.id, r]));
        for (const r of s.runs[kinds[0]].results) if (r.outcome === 'fail' && b.get(r.id)?.outcome === 'fail') both.push(`- [${s.id}] ${r.id} — ${r.error ?? ''}`);
      }
    if (both.length) out.push(`## Failing on both brokers (${both.length}; not differences — environment or suite issues)`, '', ...both, '');
  }
  if (report.own) {
    const fails = report.own.results.filter((r) => r.outcome === 'fail');
    out.push(`## Our own AMQP_URL tests failing on RabbitMQ (${fails.length} of ${report.own.results.length}) — a wrong test, or a deliberate Warren difference`, '');
    for (const r of fails) out.push(`- ${r.id} — ${r.error ?? ''}`);
    if (!fails.length) out.push('(none)');
    out.push('');
  }
  process.stdout.write(out.join('\n') + '\n');
}

let cleaning = false;
const cleanup = async () => {
  if (cleaning) return;
  cleaning = true;
  for (const p of warrens) p.kill('SIGKILL');
  await cleanupAll().catch(() => undefined);
};
for (const sig of ['SIGINT', 'SIGTERM'])
  process.once(sig, () => {
    log(`${sig}: stopping brokers`);
    void cleanup().then(() => process.exit(130));
  });

try {
  await main();
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  await cleanup();
}
