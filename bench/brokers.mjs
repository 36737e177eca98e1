// Starting and stopping the brokers under test, each as its own process with its own fresh
// state directory: Warren (node dist/cli.js), RabbitMQ (a private node, never the system one on
// 5672), and optionally the null broker (bench/null-broker.mjs, the client ceiling).
// Every broker handle: { kind, label, port, url, pid, restart(), stop() }.
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

/** Every live child and temp dir, so cleanup() can end them on exit, error or Ctrl-C. */
const live = new Set();
const rabbitProcs = new Map(); // rabbitmq-server child -> its env (for rabbitmqctl stop)
const tempDirs = new Set();

export const makeTempDir = (prefix) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
};
export const removeTempDir = (d) => {
  rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
};

export const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const tcpReady = (port) =>
  new Promise((resolve) => {
    const s = tcpConnect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

const exited = (proc) => proc.exitCode !== null || proc.signalCode !== null;
const waitExit = (proc, ms) =>
  exited(proc)
    ? Promise.resolve(true)
    : new Promise((resolve) => {
        const t = setTimeout(() => resolve(false), ms);
        proc.once('exit', () => {
          clearTimeout(t);
          resolve(true);
        });
      });

// ---------------------------------------------------------------- Warren

/** Spawns `node dist/cli.js` and resolves once its pino "listening" line names the port. */
function spawnWarren(dataDir, extraArgs) {
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const args = [...nodeArgs, join(root, 'dist/cli.js'), '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--management-port', '0', '--log-level', 'info', ...extraArgs];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  let tail = '';
  proc.stderr.on('data', (d) => (tail = (tail + d).slice(-4000)));
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        tail = (tail + line + '\n').slice(-4000);
        let rec;
        try {
          rec = JSON.parse(line);
        } catch {
          continue;
        }
        if (rec.msg === 'listening' && rec.port) {
          proc.stdout.off('data', onData);
          proc.stdout.resume(); // keep draining so the broker never blocks on a full pipe
          proc.off('exit', onExit);
          resolve({ proc, port: rec.port });
          return;
        }
      }
    };
    const onExit = (code, sig) => reject(new Error(`Warren exited (${code ?? sig}) before listening:\n${tail}`));
    proc.stdout.on('data', onData);
    proc.once('exit', onExit);
  });
}

export async function startWarren({ extraArgs = [] } = {}) {
  const dataDir = makeTempDir('warren-bench-');
  let { proc, port } = await spawnWarren(dataDir, extraArgs);
  const h = {
    kind: 'warren',
    label: 'Warren',
    dataDir,
    get port() {
      return port;
    },
    get url() {
      return `amqp://guest:guest@127.0.0.1:${port}`;
    },
    get pid() {
      return proc.pid;
    },
    /** SIGTERM, wait for a clean exit; returns the ms it took. */
    async shutdown() {
      const t = performance.now();
      proc.kill('SIGTERM');
      if (!(await waitExit(proc, 60_000))) proc.kill('SIGKILL');
      await waitExit(proc, 5000);
      return performance.now() - t;
    },
    /** Starts the process again on the same data directory (the port may change). */
    async boot() {
      ({ proc, port } = await spawnWarren(dataDir, extraArgs));
    },
    async stop() {
      if (!exited(proc)) await h.shutdown();
      removeTempDir(dataDir);
    },
  };
  return h;
}

// ---------------------------------------------------------------- RabbitMQ

const onPath = (name) => {
  for (const d of (process.env.PATH ?? '').split(delimiter)) if (d && existsSync(join(d, name))) return join(d, name);
  return undefined;
};

/**
 * The RabbitMQ scripts. Debian's /usr/sbin wrappers `su` to the rabbitmq user (and would use its
 * Erlang cookie), so the scripts they wrap are preferred; RABBITMQ_BIN_DIR overrides.
 */
export function rabbitBin(name) {
  const dirs = [process.env.RABBITMQ_BIN_DIR, '/usr/lib/rabbitmq/bin'].filter(Boolean);
  for (const d of dirs) if (existsSync(join(d, name))) return join(d, name);
  return onPath(name);
}
export const rabbitAvailable = () => Boolean(rabbitBin('rabbitmq-server') && rabbitBin('rabbitmqctl'));

export const RABBIT_NODE = process.env.BENCH_RABBIT_NODENAME ?? 'warrenbench@localhost';

function rabbitEnv(base, port, distPort) {
  return {
    ...process.env,
    HOME: base, // a private Erlang cookie, shared by the node and our rabbitmqctl calls
    RABBITMQ_NODENAME: RABBIT_NODE,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: join(base, 'mnesia'),
    RABBITMQ_LOG_BASE: join(base, 'log'),
    RABBITMQ_PID_FILE: join(base, 'rabbit.pid'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(base, 'enabled_plugins'), // no management plugin (no port 15672)
    RABBITMQ_CONFIG_FILE: join(base, 'rabbitmq'), // absent: RabbitMQ's defaults
    RABBITMQ_ADVANCED_CONFIG_FILE: join(base, 'advanced.config'),
    RABBITMQ_CONF_ENV_FILE: join(base, 'rabbitmq-env.conf'),
  };
}

export const rabbitctl = (env, args, timeoutMs = 120_000) =>
  new Promise((resolve, reject) => {
    execFile(rabbitBin('rabbitmqctl'), ['-n', RABBIT_NODE, ...args], { env, timeout: timeoutMs }, (err, stdout, stderr) =>
      err ? reject(new Error(`rabbitmqctl ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });

/** Fails fast if a node of our name is already up (a leftover from a killed run). */
async function assertNoStaleNode(env) {
  const out = await new Promise((r) => execFile(rabbitBin('rabbitmqctl'), ['-n', RABBIT_NODE, 'ping'], { env, timeout: 30_000 }, (err, so) => r(err ? '' : so)));
  if (/pong|Ping succeeded/i.test(out))
    throw new Error(`a RabbitMQ node ${RABBIT_NODE} is already running (left over?). Stop it: rabbitmqctl -n ${RABBIT_NODE} stop`);
}

export async function startRabbit() {
  const base = makeTempDir('rabbit-bench-');
  writeFileSync(join(base, 'enabled_plugins'), '[].\n');
  writeFileSync(join(base, 'rabbitmq-env.conf'), '');
  const port = await freePort();
  let distPort = await freePort();
  while (distPort === port) distPort = await freePort();
  const env = rabbitEnv(base, port, distPort);
  const pidFile = env.RABBITMQ_PID_FILE;
  let proc;
  let pid;

  const boot = async () => {
    rmSync(pidFile, { force: true });
    const out = openSync(join(base, 'stdout.log'), 'a');
    proc = spawn(rabbitBin('rabbitmq-server'), [], { env, cwd: base, stdio: ['ignore', out, out], detached: true });
    closeSync(out);
    live.add(proc);
    rabbitProcs.set(proc, env);
    proc.once('exit', () => {
      live.delete(proc);
      rabbitProcs.delete(proc);
    });
    const deadline = Date.now() + 120_000;
    // AMQP listeners open last in RabbitMQ's boot, so an accepted TCP connection means "booted".
    while (!(await tcpReady(port))) {
      if (exited(proc)) throw new Error(`rabbitmq-server exited (${proc.exitCode ?? proc.signalCode}):\n${logTail()}`);
      if (Date.now() > deadline) throw new Error(`RabbitMQ did not start in 120 s:\n${logTail()}`);
      await sleep(25);
    }
    pid = Number(readFileSync(pidFile, 'utf8').trim()); // beam.smp's own pid (for RSS and CPU)
  };
  const logTail = () => {
    try {
      return readFileSync(join(base, 'stdout.log'), 'utf8').slice(-3000);
    } catch {
      return '';
    }
  };
  const h = {
    kind: 'rabbitmq',
    label: 'RabbitMQ',
    dataDir: base,
    port,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    get pid() {
      return pid;
    },
    /** Stops the whole node (rabbitmqctl stop waits for the OS process to end); returns ms. */
    async shutdown() {
      const t = performance.now();
      try {
        await rabbitctl(env, ['stop', pidFile]);
      } catch (e) {
        if (pid) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {}
        }
      }
      if (proc) await waitExit(proc, 30_000);
      return performance.now() - t;
    },
    boot,
    async stop() {
      if (proc && !exited(proc)) await h.shutdown();
      removeTempDir(base);
    },
    env,
  };
  await assertNoStaleNode(env);
  await boot();
  return h;
}

// ---------------------------------------------------------------- null broker

/** bench/null-broker.mjs in its own process: accepts and discards (confirms) everything. */
export async function startNull() {
  const proc = spawn(process.execPath, [join(here, 'null-broker.mjs')], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout.on('data', (d) => {
      buf += d;
      const m = /listening (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (c) => reject(new Error(`null broker exited ${c}`)));
  });
  return {
    kind: 'null',
    label: 'null broker',
    port,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    pid: proc.pid,
    async shutdown() {
      proc.kill('SIGTERM');
      await waitExit(proc, 5000);
      return 0;
    },
    async boot() {
      throw new Error('the null broker cannot restart');
    },
    async stop() {
      proc.kill('SIGTERM');
      await waitExit(proc, 5000);
    },
  };
}

export const startBroker = (kind, opts) => (kind === 'warren' ? startWarren(opts) : kind === 'rabbitmq' ? startRabbit(opts) : startNull(opts));

/** Ends every child still alive and removes temp dirs; safe to call more than once. */
export async function cleanupAll() {
  for (const proc of [...live]) {
    if (exited(proc) || rabbitProcs.has(proc)) continue;
    try {
      proc.kill('SIGTERM');
    } catch {}
  }
  for (const [proc, env] of rabbitProcs) {
    if (exited(proc)) continue;
    try {
      await rabbitctl(env, ['stop', env.RABBITMQ_PID_FILE], 60_000);
    } catch {}
  }
  await Promise.all([...live].map((p) => waitExit(p, 10_000)));
  for (const proc of [...live]) {
    try {
      process.kill(-proc.pid, 'SIGKILL'); // detached: the child leads its own process group
    } catch {}
  }
  for (const d of [...tempDirs]) removeTempDir(d);
}
