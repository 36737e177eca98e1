// A Warren cluster for the differential runner (`--brokers warren,cluster`): three nats-server
// processes with JetStream, three Warren nodes, and a round-robin TCP proxy in front, as a load
// balancer would put one. A suite's connections land on different nodes, so its publishers,
// consumers and declares go through nodes that do not own their queues: what only a cluster gets
// wrong shows as a difference from the single node. Needs `nats-server` on the PATH.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';

async function freePorts(n) {
  const servers = Array.from({ length: n }, () => net.createServer());
  const ports = await Promise.all(servers.map((s) => new Promise((r) => s.listen(0, '127.0.0.1', () => r(s.address().port)))));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

async function listening(port, ms = 30_000) {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Each new connection goes to the next node in turn. */
function roundRobin(targets) {
  let next = 0;
  const open = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(targets[next++ % targets.length], '127.0.0.1');
    open.add(client);
    const end = () => {
      open.delete(client);
      client.destroy();
      upstream.destroy();
    };
    client.pipe(upstream).pipe(client);
    for (const s of [client, upstream]) s.on('error', end).on('close', end);
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r({ server, open })));
}

/** SIGTERM, then SIGKILL after graceMs; resolves once it has exited. */
export async function stopProcess(p, graceMs = 10_000) {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Starts the cluster under dir (node logs w1.log … in logDir); resolves once every node has joined. */
export async function startClusterBroker(cli, dir, logDir, n = 3) {
  mkdirSync(dir, { recursive: true });
  const ports = await freePorts(4 * n);
  const client = (i) => ports[2 * i];
  const routes = Array.from({ length: n }, (_, i) => `nats://127.0.0.1:${ports[2 * i + 1]}`).join(', ');
  const procs = [];
  const stopAll = () => Promise.all(procs.map(stopProcess));
  try {
    for (let i = 0; i < n; i++) {
      const name = `n${i + 1}`;
      const conf = join(dir, `${name}.conf`);
      // As test/helpers/nats-cluster.ts: a tag per server places a classic queue's stream beside its node.
      writeFileSync(conf, [`server_name: ${name}`, `listen: 127.0.0.1:${client(i)}`, `server_tags: ["warren-node:${name}"]`, 'max_payload: 8MB', `jetstream { store_dir: "${join(dir, `${name}-js`)}" }`, `cluster { name: warren, listen: 127.0.0.1:${ports[2 * i + 1]}, routes: [${routes}] }`, ''].join('\n'));
      procs.push(spawn('nats-server', ['-c', conf], { stdio: 'ignore' }));
    }
    await Promise.all(Array.from({ length: n }, (_, i) => listening(client(i))));
    const nodes = [];
    for (let i = 0; i < n; i++) {
      // Its own server first (queues it owns follow that server), the others to fail over to.
      const urls = [i, ...Array.from({ length: n }, (_, j) => j).filter((j) => j !== i)].map((j) => `nats://127.0.0.1:${client(j)}`).join(',');
      const port = ports[2 * n + 2 * i];
      const mgmt = ports[2 * n + 2 * i + 1];
      const args = [cli, '--port', String(port), '--host', '127.0.0.1', '--data-dir', join(dir, `w${i + 1}`), '--management-port', String(mgmt), '--management-host', '127.0.0.1', '--prometheus-port', '-1', '--log-level', 'info', '--cluster', urls, '--node-name', `w${i + 1}`];
      const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      procs.push(p);
      const log = createWriteStream(join(logDir, `w${i + 1}.log`));
      p.stdout.pipe(log, { end: false });
      p.stderr.pipe(log, { end: false });
      let joined = false;
      let seen = '';
      p.stdout.on('data', (d) => {
        if (joined) return;
        seen = (seen + d).slice(-4_096);
        joined = seen.includes('"joined the cluster"');
      });
      nodes.push({ proc: p, port, mgmt, joined: () => joined });
    }
    const until = Date.now() + 60_000;
    while (!nodes.every((nd) => nd.joined())) {
      if (nodes.some((nd) => nd.proc.exitCode !== null)) throw new Error(`a Warren node exited before joining; see ${logDir}`);
      if (Date.now() > until) throw new Error(`the cluster did not form within 60 s; see ${logDir}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await Promise.all(nodes.map((nd) => listening(nd.mgmt)));
    const proxy = await roundRobin(nodes.map((nd) => nd.port));
    const port = proxy.server.address().port;
    return {
      kind: 'cluster',
      label: 'a 3-node Warren cluster',
      port,
      mgmtPort: nodes[0].mgmt,
      url: `amqp://guest:guest@127.0.0.1:${port}`,
      alive: () => nodes.every((nd) => nd.proc.exitCode === null && nd.proc.signalCode === null),
      exitInfo: () => nodes.map((nd) => nd.proc.exitCode ?? nd.proc.signalCode ?? 'running').join(','),
      async stop() {
        const closed = new Promise((r) => proxy.server.close(r));
        for (const c of proxy.open) c.destroy();
        await closed;
        await stopAll();
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
