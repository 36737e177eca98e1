// /api/nodes items shaped like RabbitMQ 3.10.8's: this node's own resource figures (memory, disk,
// file descriptors, sockets, processes as event-loop handles, run queue, uptime) are measured here;
// other cluster members carry only what membership records hold (name, running, uptime, listeners).
import process from 'node:process';
import { readFile, readdir, statfs } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { usedMemory } from '../server/alarms.js';
import type { Broker } from '../server/broker.js';
import type { ClusterMember } from '../server/cluster-view.js';
import type { JsonObject } from './views.js';

/** Open file descriptors of this process (Linux /proc; 0 elsewhere). */
async function fdUsed(): Promise<number> {
  try {
    return (await readdir('/proc/self/fd')).length;
  } catch {
    return 0;
  }
}

/** The soft RLIMIT_NOFILE from /proc/self/limits (RabbitMQ's fd_total); 1024 when unreadable. */
async function fdTotal(): Promise<number> {
  try {
    const m = /Max open files\s+(\d+)/.exec(await readFile('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : 1024;
  } catch {
    return 1024;
  }
}

async function diskFree(dir: string): Promise<number> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return 0;
  }
}

/** What every member, this one or another, shows. */
function memberView(n: ClusterMember, now: number): JsonObject {
  return {
    name: n.name,
    type: 'disc',
    running: n.running,
    uptime: n.running ? now - n.startedAt : 0,
    partitions: [],
    being_drained: false,
    cluster_links: [],
    applications: [],
    nats_server: n.server,
    listeners: [{ node: n.name, protocol: 'amqp', ip_address: n.host, port: n.amqpPort }],
  };
}

/** This node's own figures, with RabbitMQ's names. */
async function localFigures(broker: Broker, memory: boolean): Promise<JsonObject> {
  const fdMax = await fdTotal();
  const fds = await fdUsed();
  const sockets = broker.socketCount;
  const mem = process.memoryUsage();
  const handles = (process as unknown as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo?.().length ?? 0;
  const out: JsonObject = {
    mem_used: usedMemory(),
    mem_limit: broker.alarms.memoryLimit,
    mem_alarm: broker.alarms.memoryAlarm,
    disk_free: await diskFree(broker.options.dataDir ?? tmpdir()),
    disk_free_limit: broker.alarms.diskFreeLimit,
    disk_free_alarm: broker.alarms.diskAlarm,
    fd_used: fds,
    fd_total: fdMax,
    // RabbitMQ 3.10.8 gives sockets a share of the descriptors; here every connection but a direct one is one socket.
    sockets_used: sockets,
    sockets_total: Math.floor(fdMax * 0.9),
    proc_used: handles,
    proc_total: 1048576,
    run_queue: 0,
    processors: availableParallelism(),
    os_pid: String(process.pid),
  };
  if (memory) {
    out.memory = {
      total: { rss: mem.rss, allocated: mem.heapTotal, used: usedMemory() },
      code: 0,
      binary: mem.arrayBuffers,
      other_proc: mem.heapUsed,
      other_system: mem.external,
    };
  }
  return out;
}

export function members(broker: Broker): ClusterMember[] {
  return (
    broker.cluster?.nodes() ?? [
      { name: broker.nodeName, running: true, startedAt: broker.startedAt, host: broker.options.host, amqpPort: broker.port, managementPort: broker.listenerPort('http'), server: '' },
    ]
  );
}

/** The node's own name (Broker.nodeName). */
export const ownName = (broker: Broker): string => broker.nodeName;

export async function nodeView(broker: Broker, n: ClusterMember, memory: boolean): Promise<JsonObject> {
  const base = memberView(n, Date.now());
  return n.name === ownName(broker) ? { ...base, ...(await localFigures(broker, memory)) } : base;
}
