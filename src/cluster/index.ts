// A Warren node that is one of a cluster (`warren --cluster nats://…`): what the entry composes
// with the broker. The core knows it only through BrokerOptions.store, .queueFactory and
// ClusterView.
import type { Logger } from 'pino';
import { LevelStore, type LevelStoreOptions } from '../store/level-store.js';
import { MemoryStore } from '../store/memory-store.js';
import type { ClusterMember, ClusterView } from '../server/cluster-view.js';
import { ClusterNode } from './cluster-node.js';
import { openNatsLink } from './nats-link.js';

export interface JoinOptions {
  servers: string[];
  name: string;
  dataDir: string | undefined;
  /** The local store's settings (server/options.ts levelStoreOptions). */
  store: LevelStoreOptions;
  replicas: number;
  log: Logger;
  self: () => { host: string; amqpPort: number; managementPort: number };
  /** The largest frame the broker allows (--frame-max): a message's properties fit in one. */
  frameMax: number;
  /** Fault injection for tests: drops every Nth message of a type this node sends to another. */
  dropWire?: ReadonlyMap<string, number>;
}

export interface JoinedCluster extends ClusterView {
  readonly store: ClusterNode['store'];
  readonly queueFactory: ClusterNode['queueFactory'];
  readonly remoteReplies: ClusterNode['remoteReplies'];
  attach: ClusterNode['attach'];
  /** A planned stop: hands this node's queues to the others (before the broker closes). */
  handOver(): Promise<void>;
  close(): Promise<void>;
}

/** Room for a record's or a wire message's own fields and NATS headers beside body and properties. */
const BODY_MARGIN = 8 * 1024;

export async function joinCluster(o: JoinOptions): Promise<JoinedCluster> {
  const link = await openNatsLink(o.servers, o.name);
  const local = o.dataDir ? new LevelStore(o.dataDir, o.store) : new MemoryStore();
  const node = new ClusterNode(o.name, link, local, o.log, o.replicas, o.self);
  // A body travels between nodes as one NATS message (a stream write, a publish or delivery
  // forwarded): what the servers' max_payload holds, less its properties (at most a frame) and the
  // record's or wire message's own fields and headers.
  node.maxBody = (link.nc.info?.max_payload ?? 1024 * 1024) - o.frameMax - BODY_MARGIN;
  o.log.info({ maxBody: node.maxBody }, `bodies over ${node.maxBody} bytes cannot travel between nodes (the NATS servers' max_payload, up to 64MB): a publish of one to a queue whose messages do is refused with 406`);
  if (o.dropWire) node.traffic.dropEvery(o.dropWire);
  o.log.info({ server: link.serverName(), servers: o.servers }, 'connected to NATS');
  return {
    name: o.name,
    store: node.store,
    queueFactory: node.queueFactory,
    remoteReplies: node.remoteReplies,
    attach: (b) => node.attach(b),
    nodes: (): ClusterMember[] => node.nodes().map((n) => ({ name: n.name, running: n.running, startedAt: n.startedAt, host: n.host, amqpPort: n.amqpPort, managementPort: n.managementPort, server: n.server })),
    handOver: () => node.handOver(),
    rebalance: () => node.rebalance(),
    close: () => node.close(),
  };
}
