/**
 * Real nats-server processes with JetStream, clustered on loopback ports, for cluster tests (and
 * the same configuration docker-compose.yml uses). Each server gets a `warren-node:<name>` tag.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';

export interface NatsServer {
  name: string;
  port: number;
  url: string;
  proc: ChildProcess;
  /** SIGKILL, resolved once it has exited. */
  kill9(): Promise<void>;
  /** Starts it again on the same ports and store. */
  restart(): Promise<void>;
}

export interface NatsCluster {
  servers: NatsServer[];
  stop(): Promise<void>;
}

/**
 * n distinct ports free now: all are held open until each is known, since ports taken one after the
 * other may repeat (a full run once gave a server the same client and route port: it exited).
 */
async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (s) =>
          new Promise<number>((resolve, reject) => {
            s.once('error', reject);
            s.listen(0, '127.0.0.1', () => {
              const addr = s.address();
              resolve(typeof addr === 'object' && addr ? addr.port : 0);
            });
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => (s.listening ? s.close(r) : r(undefined)))));
  }
}

/** Waits for proc to listen on port; an exit first is a failure of its own (a port taken since freePorts). */
async function waitForPort(port: number, timeoutMs: number, proc: ChildProcess): Promise<void> {
  const { connect } = await import('node:net');
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new NatsExited(`nats-server exited (${proc.exitCode ?? proc.signalCode}) before listening on ${port}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nats-server did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

class NatsExited extends Error {}

/**
 * Starts the cluster on free ports; if a server exits before it listens (another process took one of
 * its ports between freePorts and its start: a full test suite runs files in parallel), the servers
 * started are killed and the cluster starts again on other ports, twice at most.
 */
export async function startNatsCluster(n: number, dir: string, names = Array.from({ length: n }, (_, i) => `n${i + 1}`)): Promise<NatsCluster> {
  for (let attempt = 1; ; attempt++) {
    const started: NatsServer[] = [];
    try {
      return await startOnFreePorts(n, dir, names, started);
    } catch (e) {
      await Promise.all(started.map((s) => s.kill9()));
      if (!(e instanceof NatsExited) || attempt === 3) throw e;
      await Promise.all(names.map((name) => rm(path.join(dir, `${name}-js`), { recursive: true, force: true })));
    }
  }
}

async function startOnFreePorts(n: number, dir: string, names: string[], servers: NatsServer[]): Promise<NatsCluster> {
  const free = await freePorts(2 * n);
  const ports = names.map((_, i) => ({ client: free[2 * i]!, route: free[2 * i + 1]! }));
  const routes = ports.map((p) => `nats://127.0.0.1:${p.route}`).join(', ');
  for (let i = 0; i < n; i++) {
    const name = names[i]!;
    const conf = path.join(dir, `${name}.conf`);
    const store = path.join(dir, `${name}-js`);
    await mkdir(store, { recursive: true });
    await writeFile(
      conf,
      [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${ports[i]!.client}`,
        `server_tags: ["warren-node:${name}"]`,
        'max_payload: 8MB', // as deploy/nats: messages of up to 8 MiB
        `jetstream { store_dir: "${store}" }`,
        `cluster { name: warren, listen: 127.0.0.1:${ports[i]!.route}, routes: [${routes}] }`,
        ...(process.env.NATS_LOG_DIR ? [`log_file: "${process.env.NATS_LOG_DIR}/${name}.log"`, 'debug: true', 'logtime: true'] : []),
        '',
      ].join('\n'),
    );
    const server: NatsServer = {
      name,
      port: ports[i]!.client,
      url: `nats://127.0.0.1:${ports[i]!.client}`,
      proc: null as unknown as ChildProcess,
      async kill9() {
        const p = server.proc;
        if (p.exitCode !== null || p.signalCode !== null) return;
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGKILL');
        await exited;
      },
      async restart() {
        server.proc = spawn('nats-server', ['-c', conf], { stdio: 'ignore' });
        await waitForPort(server.port, 10_000, server.proc);
      },
    };
    servers.push(server);
    await server.restart();
  }
  return {
    servers,
    async stop() {
      await Promise.all(servers.map((s) => s.kill9()));
    },
  };
}
