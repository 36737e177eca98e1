// One scrape's view of the broker: the node's figures and the queues, channels and connections to
// report, read once so every family of the scrape agrees.
import type { Broker } from '../server/broker.js';
import type { Channel } from '../server/channel.js';
import type { Connection } from '../server/connection.js';
import type { Queue } from '../server/queue.js';
import { usedMemory } from '../server/alarms.js';
import { diskFree, maxFds, openFds } from './process.js';

export interface NodeFigures {
  openFds: number | undefined;
  maxFds: number | undefined;
  /** Client sockets open (AMQP, handshaking ones too). */
  sockets: number;
  /** Most client sockets: the connection limit, or the descriptor limit when lower. */
  maxSockets: number;
  /** The memory the memory alarm compares with its limit (JS heap and buffers). */
  memoryUsed: number;
  memoryLimit: number;
  /** Free disk where the store lives; undefined in memory (no disk involved). */
  diskFree: number | undefined;
  diskFreeLimit: number;
  uptimeSeconds: number;
}

export interface Snapshot {
  broker: Broker;
  node: NodeFigures;
  /** The queues this node runs (in a cluster, those whose owner it is). */
  queues: Queue[];
  /** Connections past connection.open. */
  connections: Connection[];
  channels: Channel[];
}

/** This node's name, as rabbitmq_node reports it. */
export const nodeName = (broker: Broker): string => broker.nodeName;

export async function snapshot(broker: Broker): Promise<Snapshot> {
  const local = broker.cluster?.name;
  const queues: Queue[] = [];
  for (const v of broker.vhosts.values()) {
    for (const q of v.queues.values()) {
      const p = q.placement;
      if (!p || p.node === local) queues.push(q);
    }
  }
  const connections = [...broker.connections].filter((c) => c.vhost !== null);
  const channels = connections.flatMap((c) => [...c.channels.values()]);
  const fds = maxFds();
  const o = broker.options;
  return {
    broker,
    queues,
    connections,
    channels,
    node: {
      openFds: openFds(),
      maxFds: fds,
      sockets: broker.socketCount,
      maxSockets: Math.min(o.maxConnections, fds ?? Infinity),
      memoryUsed: usedMemory(),
      memoryLimit: broker.alarms.memoryLimit,
      diskFree: o.dataDir ? await diskFree(o.dataDir) : undefined,
      diskFreeLimit: broker.alarms.diskFreeLimit,
      uptimeSeconds: (Date.now() - broker.startedAt) / 1000,
    },
  };
}
