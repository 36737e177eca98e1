/**
 * A Warren cluster for tests: real nats-server processes and one Warren process per server
 * (`dist/cli.js --cluster <its server,the others> --node-name wN`), each on its own data dir.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import amqp, { type ChannelModel } from 'amqplib';
import { spawnBroker, type BrokerProcess } from './broker-process.js';
import { startNatsCluster, type NatsCluster } from './nats-cluster.js';

export interface WarrenNode {
  name: string;
  broker: BrokerProcess;
  port: number;
  managementPort: number;
  /** Starts the node again on its data dir (after kill9/stop). */
  restart(): Promise<void>;
}

export interface WarrenCluster {
  nats: NatsCluster;
  nodes: WarrenNode[];
  connect(i: number): Promise<ChannelModel>;
  stop(): Promise<void>;
}

async function waitForLog(b: BrokerProcess, msg: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!b.logs().some((l) => l.msg === msg)) {
    if (b.proc.exitCode !== null) throw new Error(`broker exited before '${msg}':\n${b.output()}`);
    if (Date.now() > until) throw new Error(`no '${msg}' within ${timeoutMs} ms:\n${b.output()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function startWarrenCluster(n = 3, extraArgs: string[] = []): Promise<WarrenCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'warren-cluster-'));
  const nats = await startNatsCluster(n, dir);
  const conns: ChannelModel[] = [];
  const logs: string[] = [];
  const nodes: WarrenNode[] = [];
  const startNode = async (i: number): Promise<BrokerProcess> => {
    // Its own server first (queues it owns follow that server), the others to fail over to.
    const urls = [nats.servers[i]!, ...nats.servers.filter((_, j) => j !== i)].map((s) => s.url).join(',');
    const b = await spawnBroker({
      dataDir: path.join(dir, `w${i + 1}`),
      args: ['--cluster', urls, '--node-name', `w${i + 1}`, '--management-port', '-1', ...extraArgs],
      startTimeoutMs: 30_000,
    });
    await waitForLog(b, 'joined the cluster');
    return b;
  };
  // A node that fails to start takes the others and the NATS servers down with it (they were
  // left running, with nobody to stop them).
  const started = await Promise.allSettled(Array.from({ length: n }, (_, i) => startNode(i)));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((r) => (r.status === 'fulfilled' && r.value.proc.exitCode === null ? r.value.kill9() : undefined)));
    await nats.stop();
    await rm(dir, { recursive: true, force: true });
    throw failed.reason;
  }
  const bs = started.map((r) => (r as PromiseFulfilledResult<BrokerProcess>).value);
  for (let i = 0; i < n; i++) {
    const node: WarrenNode = {
      name: `w${i + 1}`,
      broker: bs[i]!,
      get port() {
        return node.broker.port;
      },
      get managementPort() {
        const l = node.broker.logs().find((x) => x.msg === 'management listening');
        return typeof l?.port === 'number' ? l.port : 0;
      },
      async restart() {
        logs.push(`==== ${node.name} (before restart)\n${node.broker.output()}`);
        node.broker = await startNode(i);
      },
    };
    nodes.push(node);
  }
  return {
    nats,
    nodes,
    async connect(i) {
      const c = await amqp.connect(`amqp://guest:guest@127.0.0.1:${nodes[i]!.port}`);
      c.on('error', () => undefined);
      conns.push(c);
      return c;
    },
    async stop() {
      // CLUSTER_LOG_DIR=dir keeps every node's log (all incarnations) for a post-mortem.
      if (process.env.CLUSTER_LOG_DIR) {
        const { writeFile, mkdir } = await import('node:fs/promises');
        await mkdir(process.env.CLUSTER_LOG_DIR, { recursive: true });
        const all = [...logs, ...nodes.map((nd) => `==== ${nd.name}\n${nd.broker.output()}`)].join('\n');
        await writeFile(path.join(process.env.CLUSTER_LOG_DIR, `cluster-${Date.now()}.log`), all);
      }
      for (const c of conns) await c.close().catch(() => undefined);
      await Promise.all(nodes.map((nd) => (nd.broker.proc.exitCode === null ? nd.broker.kill9() : undefined)));
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A queue of vhost '/' as node i's management API shows it (as guest). */
export async function clusterQueueInfo<T>(c: WarrenCluster, i: number, q: string): Promise<T> {
  const auth = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
  const r = await fetch(`http://127.0.0.1:${c.nodes[i]!.managementPort}/api/queues/%2F/${encodeURIComponent(q)}`, { headers: { authorization: auth } });
  return (await r.json()) as T;
}
