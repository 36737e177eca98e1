// Starting and stopping the brokers under test, each as its own process with its own fresh
// state directory: Warren (node dist/cli.js), LavinMQ (when built), RabbitMQ (a private node,
// never the system one on 5672), and optionally the null broker (bench/null-broker.mjs, the
// client ceiling).
// Every broker handle: { kind, label, port, url, pid, restart(), stop() }.
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
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

/**
 * n distinct free ports, all held open until every one is known: freePort() called n times may
 * hand out a port twice (each is closed before the next call), and a nats-server given the same
 * client and route port exits (the test helper's cluster start failed so, test/helpers/nats-cluster.ts).
 */
export const freePorts = async (n) => {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer();
      servers.push(s);
      await new Promise((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(() => resolve()))));
  }
};

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

/**
 * Spawns `node dist/cli.js` and resolves once its pino log has shown `until` (default the
 * "listening" line, which names the port); the "management listening" line gives mgmtPort.
 * With keepLog, the last lines of its log stay readable through log() (cluster post-mortems).
 */
function spawnWarren(dataDir, extraArgs, { until = 'listening', keepLog = false, baseArgs } = {}) {
  // What `npm start`, the `warren` command and the Docker image run: V8's young generation at 64 MiB, one V8 helper thread.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '--max-semi-space-size=64 --v8-pool-size=1').split(' ').filter(Boolean);
  const args = [...nodeArgs, process.env.BENCH_WARREN_CLI ?? join(root, 'dist/cli.js'), ...(baseArgs ?? ['--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--management-port', '0', '--prometheus-port', '-1', '--log-level', 'info']), ...extraArgs];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  let tail = '';
  const keep = (s) => (tail = (tail + s).slice(keepLog ? -400_000 : -4000));
  proc.stderr.on('data', (d) => keep(String(d)));
  const log = () => tail;
  return new Promise((resolve, reject) => {
    let buf = '';
    let port;
    let mgmtPort;
    const onData = (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        keep(line + '\n');
        let rec;
        try {
          rec = JSON.parse(line);
        } catch {
          continue;
        }
        if (rec.msg === 'listening' && rec.port) port = rec.port;
        if (rec.msg === 'management listening' && rec.port) mgmtPort = rec.port;
        if (rec.msg === until && port) {
          proc.stdout.off('data', onData);
          if (keepLog) proc.stdout.on('data', (x) => keep(String(x)));
          else proc.stdout.resume(); // keep draining so the broker never blocks on a full pipe
          proc.off('exit', onExit);
          resolve({ proc, port, mgmtPort, log });
          return;
        }
      }
    };
    const onExit = (code, sig) => reject(new Error(`Warren exited (${code ?? sig}) before '${until}':\n${tail.slice(-4000)}`));
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

/** A node's environment: its files under dir, HOME (the Erlang cookie) at home. */
function rabbitEnv(home, dir, name, port, distPort) {
  return {
    ...process.env,
    HOME: home, // a private Erlang cookie, shared by the node(s) and our rabbitmqctl calls
    RABBITMQ_NODENAME: name,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_PID_FILE: join(dir, 'rabbit.pid'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(home, 'enabled_plugins'), // no management plugin (no port 15672)
    RABBITMQ_CONFIG_FILE: join(home, 'rabbitmq'), // absent: RabbitMQ's defaults
    RABBITMQ_ADVANCED_CONFIG_FILE: join(home, 'advanced.config'),
    RABBITMQ_CONF_ENV_FILE: join(home, 'rabbitmq-env.conf'),
  };
}

/** rabbitmqctl against the node env names (RABBITMQ_NODENAME), with env's cookie. */
export const rabbitctl = (env, args, timeoutMs = 120_000) =>
  new Promise((resolve, reject) => {
    execFile(rabbitBin('rabbitmqctl'), ['-n', env.RABBITMQ_NODENAME ?? RABBIT_NODE, ...args], { env, timeout: timeoutMs }, (err, stdout, stderr) =>
      err ? reject(new Error(`rabbitmqctl ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });

/** Fails fast if a node of our name is already up (a leftover from a killed run). */
async function assertNoStaleNode(env) {
  const name = env.RABBITMQ_NODENAME;
  const out = await new Promise((r) => execFile(rabbitBin('rabbitmqctl'), ['-n', name, 'ping'], { env, timeout: 30_000 }, (err, so) => r(err ? '' : so)));
  if (/pong|Ping succeeded/i.test(out))
    throw new Error(`a RabbitMQ node ${name} is already running (left over?). Stop it: rabbitmqctl -n ${name} stop`);
}

/** The files every node under home shares: no plugins, an empty env file. */
function rabbitHome(home) {
  writeFileSync(join(home, 'enabled_plugins'), '[].\n');
  writeFileSync(join(home, 'rabbitmq-env.conf'), '');
}

/** One private RabbitMQ node (not booted yet): files under dir, cookie under home. */
async function rabbitNode(home, dir, name) {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  let distPort = await freePort();
  while (distPort === port) distPort = await freePort();
  const env = rabbitEnv(home, dir, name, port, distPort);
  const pidFile = env.RABBITMQ_PID_FILE;
  let proc;
  let pid;
  const logTail = () => {
    try {
      return readFileSync(join(dir, 'stdout.log'), 'utf8').slice(-3000);
    } catch {
      return '';
    }
  };
  const boot = async () => {
    rmSync(pidFile, { force: true });
    const out = openSync(join(dir, 'stdout.log'), 'a');
    proc = spawn(rabbitBin('rabbitmq-server'), [], { env, cwd: dir, stdio: ['ignore', out, out], detached: true });
    closeSync(out);
    const p = proc;
    live.add(p);
    rabbitProcs.set(p, env);
    p.once('exit', () => {
      live.delete(p);
      rabbitProcs.delete(p);
    });
    await untilAmqp();
    pid = Number(readFileSync(pidFile, 'utf8').trim()); // beam.smp's own pid (for RSS and CPU)
  };
  // AMQP listeners open last in RabbitMQ's boot, so an accepted TCP connection means "booted".
  const untilAmqp = async (timeoutMs = 120_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await tcpReady(port))) {
      if (exited(proc)) throw new Error(`rabbitmq-server ${name} exited (${proc.exitCode ?? proc.signalCode}):\n${logTail()}`);
      if (Date.now() > deadline) throw new Error(`RabbitMQ ${name} did not start in ${timeoutMs / 1000} s:\n${logTail()}`);
      await sleep(25);
    }
  };
  const n = {
    name,
    dir,
    port,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    env,
    get pid() {
      return pid;
    },
    get alive() {
      return Boolean(proc) && !exited(proc);
    },
    boot,
    untilAmqp,
    logTail,
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
    /** kill -9 of beam.smp; resolves once rabbitmq-server (the script waiting on it) has exited. */
    async kill9() {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
      if (proc) await waitExit(proc, 30_000);
    },
  };
  await assertNoStaleNode(env);
  return n;
}

/**
 * management: with rabbitmq_management (and the shovel and federation plugins, whose parameters the
 * management-api probe checks, and the consistent-hash, random and recent-history exchange types, which Warren
 * has and test/e2e/plugin-exchanges.test.ts checks) on a free port of 127.0.0.1 (mgmtPort; 0 without).
 */
export async function startRabbit({ management = false } = {}) {
  const base = makeTempDir('rabbit-bench-');
  rabbitHome(base);
  const mgmtPort = management ? await freePort() : 0;
  if (management) {
    writeFileSync(join(base, 'enabled_plugins'), '[rabbitmq_management,rabbitmq_shovel,rabbitmq_shovel_management,rabbitmq_federation,rabbitmq_federation_management,rabbitmq_consistent_hash_exchange,rabbitmq_random_exchange,rabbitmq_recent_history_exchange].\n');
    writeFileSync(join(base, 'rabbitmq.conf'), `management.tcp.port = ${mgmtPort}\nmanagement.tcp.ip = 127.0.0.1\n`);
  }
  const node = await rabbitNode(base, base, RABBIT_NODE);
  const h = {
    kind: 'rabbitmq',
    label: 'RabbitMQ',
    dataDir: base,
    port: node.port,
    mgmtPort,
    url: node.url,
    get pid() {
      return node.pid;
    },
    shutdown: node.shutdown,
    boot: node.boot,
    async stop() {
      if (node.alive) await h.shutdown();
      removeTempDir(base);
    },
    env: node.env,
  };
  await node.boot();
  for (const deadline = Date.now() + 60_000; management && !(await tcpReady(mgmtPort)); await sleep(50)) {
    if (Date.now() > deadline) throw new Error(`RabbitMQ's management plugin did not listen on ${mgmtPort} in 60 s:\n${node.logTail()}`);
  }
  return h;
}

// ---------------------------------------------------------------- LavinMQ

export const LAVINMQ_DEFAULT = '/work/perf/lavinmq/bin/lavinmq';

/** The LavinMQ binary: the --lavinmq flag, else BENCH_LAVINMQ, else LAVINMQ_DEFAULT. */
export const lavinmqPath = (flag) => flag || process.env.BENCH_LAVINMQ || LAVINMQ_DEFAULT;
export const lavinmqAvailable = (path) => existsSync(path);

/**
 * Spawns LavinMQ on dataDir and resolves once it logs "Listening on 127.0.0.1:<port>" (its AMQP
 * listener opens last). CONFIGURATION_DIRECTORY points at the temp dir, so no
 * /etc/lavinmq/lavinmq.ini is read: the defaults and the flags only.
 */
function spawnLavinMQ(binary, dir, port, httpPort) {
  const args = ['--bind', '127.0.0.1', '--amqp-port', String(port), '--http-port', String(httpPort), '--data-dir', join(dir, 'data')];
  const proc = spawn(binary, args, { env: { ...process.env, CONFIGURATION_DIRECTORY: dir }, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  let tail = '';
  const keep = (d) => (tail = (tail + d).slice(-4000));
  proc.stderr.on('data', keep);
  return new Promise((resolve, reject) => {
    const listening = `Listening on 127.0.0.1:${port}`;
    const onData = (d) => {
      keep(String(d));
      if (!tail.includes(listening)) return;
      proc.stdout.off('data', onData);
      proc.stdout.on('data', keep); // keep draining, so it never blocks on a full pipe
      proc.off('exit', onExit);
      resolve(proc);
    };
    const onExit = (code, sig) => reject(new Error(`lavinmq exited (${code ?? sig}) before listening:\n${tail}`));
    proc.stdout.on('data', onData);
    proc.once('exit', onExit);
  });
}

/**
 * LavinMQ (`lavinmq --bind 127.0.0.1 --amqp-port P --http-port H --data-dir <fresh tmp dir>`,
 * guest/guest) on free ports; restart() keeps the data dir and the ports. LavinMQ 1.0.1 also binds
 * the fixed /tmp/lavinmqctl.sock (its lavinmqctl socket); nothing here uses it.
 */
export async function startLavinMQ({ binary = lavinmqPath() } = {}) {
  const dir = makeTempDir('lavinmq-bench-');
  const port = await freePort();
  let httpPort = await freePort();
  while (httpPort === port) httpPort = await freePort();
  let proc = await spawnLavinMQ(binary, dir, port, httpPort);
  const h = {
    kind: 'lavinmq',
    label: 'LavinMQ',
    dataDir: dir,
    port,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    get pid() {
      return proc.pid;
    },
    /** SIGTERM (LavinMQ closes its queues and exits), wait; returns the ms it took. */
    async shutdown() {
      const t = performance.now();
      proc.kill('SIGTERM');
      if (!(await waitExit(proc, 60_000))) proc.kill('SIGKILL');
      await waitExit(proc, 5000);
      return performance.now() - t;
    },
    /** Starts the process again on the same data directory and ports. */
    async boot() {
      proc = await spawnLavinMQ(binary, dir, port, httpPort);
    },
    async stop() {
      if (!exited(proc)) await h.shutdown();
      removeTempDir(dir);
    },
  };
  return h;
}

// ---------------------------------------------------------------- three-node clusters

const CLUSTER_SIZE = 3;

/** Starts a nats-server on conf and resolves once its client port accepts connections. */
async function spawnNats(conf, port, logFile) {
  const out = openSync(logFile, 'a');
  const proc = spawn('nats-server', ['-c', conf], { stdio: ['ignore', out, out], detached: true });
  closeSync(out);
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  const deadline = Date.now() + 20_000;
  while (!(await tcpReady(port))) {
    if (exited(proc)) throw new Error(`nats-server exited (${proc.exitCode ?? proc.signalCode}):\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${port}`);
    await sleep(25);
  }
  return proc;
}

const kill9 = async (proc) => {
  if (!proc || exited(proc)) return;
  try {
    proc.kill('SIGKILL');
  } catch {}
  await waitExit(proc, 10_000);
};

/**
 * A Warren cluster as test/helpers/warren-cluster.ts starts one: three nats-server (JetStream,
 * clustered on loopback ports, tagged warren-node:<name>) and three `node dist/cli.js --cluster
 * <own server,the others> --node-name wN`, each ready at its 'joined the cluster' log line.
 * Handle: { kind, label, cluster: true, nodes: [{ name, url, port, mgmtPort, pid, alive }], url
 * (node 1), pids (every live process, for CPU/RSS), owner(queue) -> node index, kill9(i), log(),
 * stop() }. BENCH_CLUSTER_LOG_DIR=dir keeps the nodes' logs when it stops.
 */
export async function startWarrenCluster({ extraArgs = [] } = {}) {
  const dir = makeTempDir('warren-cbench-');
  const names = Array.from({ length: CLUSTER_SIZE }, (_, i) => `w${i + 1}`);
  const ports = [];
  const free = await freePorts(2 * names.length);
  for (let i = 0; i < names.length; i++) ports.push({ client: free[2 * i], route: free[2 * i + 1] });
  const routes = ports.map((p) => `nats://127.0.0.1:${p.route}`).join(', ');
  const nats = [];
  const warrens = [];
  const h = {
    kind: 'warren',
    label: 'Warren cluster',
    cluster: true,
    dataDir: dir,
    nodes: [],
    get url() {
      return h.nodes[0].url;
    },
    get pid() {
      return warrens[0]?.proc.pid;
    },
    /** Every live Warren and nats-server process. */
    get pids() {
      return [...warrens, ...nats.map((proc) => ({ proc }))].filter((x) => x && !exited(x.proc)).map((x) => x.proc.pid);
    },
    /** Index of the node that owns queue (the management API's `node`), once it has an owner and 3 members. */
    async owner(queue, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last;
      for (;;) {
        for (const n of h.nodes.filter((x) => x.alive)) {
          try {
            const r = await fetch(`http://127.0.0.1:${n.mgmtPort}/api/queues/%2F/${encodeURIComponent(queue)}`, {
              headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
            });
            last = await r.json();
            const i = h.nodes.findIndex((x) => x.name === last.node);
            if (i >= 0 && (last.members?.length ?? 0) === CLUSTER_SIZE) return i;
          } catch (e) {
            last = String(e);
          }
          break;
        }
        if (Date.now() > deadline) throw new Error(`no owner for ${queue} after ${timeoutMs} ms: ${JSON.stringify(last)}`);
        await sleep(100);
      }
    },
    /** kill -9 of node i: its Warren process and its nats-server together. */
    async kill9(i) {
      await Promise.all([kill9(warrens[i].proc), kill9(nats[i])]);
    },
    log() {
      return warrens.map((w, i) => `==== ${names[i]}\n${w.log()}`).join('\n') + '\n' + names.map((n) => `==== nats ${n}\n${(() => { try { return readFileSync(join(dir, `${n}-nats.log`), 'utf8').slice(-20_000); } catch { return ''; } })()}`).join('\n');
    },
    async stop() {
      if (process.env.BENCH_CLUSTER_LOG_DIR) {
        mkdirSync(process.env.BENCH_CLUSTER_LOG_DIR, { recursive: true });
        writeFileSync(join(process.env.BENCH_CLUSTER_LOG_DIR, `warren-cluster-${Date.now()}.log`), h.log());
      }
      // SIGTERM would hand the queues over first; the run is over, so no need for that
      await Promise.all(warrens.map((w) => kill9(w.proc)));
      await Promise.all(nats.map(kill9));
      removeTempDir(dir);
    },
  };
  try {
    for (let i = 0; i < CLUSTER_SIZE; i++) {
      const conf = join(dir, `${names[i]}.conf`);
      const store = join(dir, `${names[i]}-js`);
      mkdirSync(store, { recursive: true });
      writeFileSync(
        conf,
        [
          `server_name: ${names[i]}`,
          `listen: 127.0.0.1:${ports[i].client}`,
          `server_tags: ["warren-node:${names[i]}"]`,
          'max_payload: 8MB', // as deploy/nats: messages of up to 8 MiB
          `jetstream { store_dir: "${store}" }`,
          `cluster { name: warren, listen: 127.0.0.1:${ports[i].route}, routes: [${routes}] }`,
          '',
        ].join('\n'),
      );
      nats.push(await spawnNats(conf, ports[i].client, join(dir, `${names[i]}-nats.log`)));
    }
    const started = await Promise.all(
      names.map((name, i) => {
        const urls = [i, ...names.map((_, j) => j).filter((j) => j !== i)].map((j) => `nats://127.0.0.1:${ports[j].client}`).join(',');
        const baseArgs = ['--cluster', urls, '--node-name', name, '--port', '0', '--host', '127.0.0.1', '--management-port', '-1', '--prometheus-port', '-1', '--data-dir', join(dir, name), '--log-level', 'info'];
        return spawnWarren(join(dir, name), extraArgs, { until: 'joined the cluster', keepLog: true, baseArgs });
      }),
    );
    warrens.push(...started);
    names.forEach((name, i) => {
      const w = warrens[i];
      h.nodes.push({
        name,
        port: w.port,
        mgmtPort: w.mgmtPort,
        url: `amqp://guest:guest@127.0.0.1:${w.port}`,
        pid: w.proc.pid,
        get alive() {
          return !exited(w.proc);
        },
      });
    });
  } catch (e) {
    await h.stop().catch(() => {});
    throw e;
  }
  return h;
}

export const rabbitClusterNodeName = (i) => `${process.env.BENCH_RABBIT_CLUSTER_PREFIX ?? 'warrenbench'}${i + 1}@localhost`;

/**
 * A three-node RabbitMQ cluster on loopback: private nodes warrenbench1..3@localhost
 * (BENCH_RABBIT_CLUSTER_PREFIX overrides the prefix) on free AMQP and distribution ports, each with
 * its mnesia/log/pid under a temp dir and one shared HOME (the same Erlang cookie); nodes 2 and 3
 * join node 1 (`rabbitmqctl stop_app; join_cluster; start_app`).
 * Handle: as startWarrenCluster's, with leader(queue) -> node index.
 */
export async function startRabbitCluster() {
  const base = makeTempDir('rabbit-cbench-');
  rabbitHome(base);
  const cookie = join(base, '.erlang.cookie');
  writeFileSync(cookie, Array.from({ length: 20 }, () => String.fromCharCode(65 + Math.floor(Math.random() * 26))).join(''), { mode: 0o400 });
  const nodes = [];
  const h = {
    kind: 'rabbitmq',
    label: 'RabbitMQ cluster',
    cluster: true,
    dataDir: base,
    nodes,
    get url() {
      return nodes[0].url;
    },
    get pid() {
      return nodes[0]?.pid;
    },
    get pids() {
      return nodes.filter((n) => n.alive && n.pid).map((n) => n.pid);
    },
    /** Index of the node that leads the quorum queue (`rabbitmqctl list_queues name leader members`). */
    async owner(queue, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last;
      for (;;) {
        const n = nodes.find((x) => x.alive);
        try {
          last = await rabbitctl(n.env, ['list_queues', '-q', '--no-table-headers', 'name', 'leader', 'members'], 30_000);
          const line = last.split('\n').find((l) => l.split('\t')[0] === queue);
          const [, leader, members = ''] = line?.split('\t') ?? [];
          const i = nodes.findIndex((x) => x.name === leader);
          if (i >= 0 && nodes.every((x) => members.includes(x.name))) return i;
        } catch (e) {
          last = String(e);
        }
        if (Date.now() > deadline) throw new Error(`no leader for ${queue} after ${timeoutMs} ms: ${last}`);
        await sleep(200);
      }
    },
    async kill9(i) {
      await nodes[i].kill9();
    },
    log() {
      return nodes.map((n) => `==== ${n.name}\n${n.logTail()}`).join('\n');
    },
    async stop() {
      if (process.env.BENCH_CLUSTER_LOG_DIR) {
        mkdirSync(process.env.BENCH_CLUSTER_LOG_DIR, { recursive: true });
        writeFileSync(join(process.env.BENCH_CLUSTER_LOG_DIR, `rabbit-cluster-${Date.now()}.log`), h.log());
      }
      // nodes stop one by one, the last (disc) node last; a killed node is already gone
      for (const n of [...nodes].reverse()) if (n.alive) await n.shutdown();
      removeTempDir(base);
    },
  };
  try {
    for (let i = 0; i < CLUSTER_SIZE; i++) nodes.push(await rabbitNode(base, join(base, `n${i + 1}`), rabbitClusterNodeName(i)));
    await Promise.all(nodes.map((n) => n.boot()));
    for (const n of nodes.slice(1)) {
      await rabbitctl(n.env, ['stop_app']);
      await rabbitctl(n.env, ['join_cluster', nodes[0].name]);
      await rabbitctl(n.env, ['start_app']);
      await n.untilAmqp();
    }
  } catch (e) {
    await h.stop().catch(() => {});
    throw e;
  }
  return h;
}

// ---------------------------------------------------------------- null broker

/** bench/null-broker.mjs in its own process: accepts and discards (confirms) everything. */
export const startNull = () => startScript(join(here, 'null-broker.mjs'), 'null', 'null broker');

/** The latency floor of a Node broker: bench/tail/relay-broker.mjs, publishes relayed to the consumer. */
export const startRelay = () => startScript(join(here, 'tail', 'relay-broker.mjs'), 'relay', 'Node relay');

/** A broker that is one Node script printing "listening PORT" (it cannot restart). */
async function startScript(script, kind, label) {
  const proc = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout.on('data', (d) => {
      buf += d;
      const m = /listening (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (c) => reject(new Error(`${label} exited ${c}`)));
  });
  return {
    kind,
    label,
    port,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    pid: proc.pid,
    async shutdown() {
      proc.kill('SIGTERM');
      await waitExit(proc, 5000);
      return 0;
    },
    async boot() {
      throw new Error(`the ${label} cannot restart`);
    },
    async stop() {
      proc.kill('SIGTERM');
      await waitExit(proc, 5000);
    },
  };
}

export const startBroker = (kind, opts) =>
  kind === 'warren' ? startWarren(opts) : kind === 'lavinmq' ? startLavinMQ(opts) : kind === 'rabbitmq' ? startRabbit(opts) : startNull(opts);

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
