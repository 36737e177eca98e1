// The broker: listens for connections, owns the virtual hosts and the store, recovers durable state
// at start and shuts down cleanly (320 CONNECTION_FORCED to clients, then a flushed store).
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { withOwnReads } from './socket-reads.js';
import { pino, type Logger } from 'pino';
import { LevelStore } from '../store/level-store.js';
import { MemoryStore } from '../store/memory-store.js';
import type { Store, StoredVHost } from '../store/store.js';
import { definitionId, queueKey } from '../store/store.js';
import type { Queue } from './queue.js';
import { ReplyCode } from '../frames/index.js';
import { directPair, type DirectSocket } from './direct-socket.js';
import { Connection } from './connection.js';
import { startAckTimeouts } from './consumer-timeout.js';
import { startIdleWatch } from './idle-since.js';
import { defaultOptions, levelStoreOptions, type BrokerOptions } from './options.js';
import { readTableBytes, writeTableBytes } from './table-bytes.js';
import { sortedArguments } from './binding-arguments.js';
import { AccessControl } from './access.js';
import type { PagingLimits } from './paged-tail.js';
import { ResourceMonitor } from './alarms.js';
import { FAILURE_DELAY_MS, LoginGate } from './login-gate.js';
import { GlobalCounters } from './global-counters.js';
import { MessageStats } from './stats.js';
import { VHost } from './vhost.js';
import type { Policy } from './policies.js';
import type { ClusterView } from './cluster-view.js';
import { GlobalParameters } from './global-parameters.js';
import { RuntimeParameters } from './runtime-parameters.js';
import { Limits } from './limits.js';
import { boundPort, listenOn } from './listen.js';
import type { Listener, RunningPlugin } from './plugin.js';
import { BrokerEvents } from './events.js';
import { INTERNAL_USER } from './exchanges/exchange.js';
import { erlangBinary } from './erlang-print.js';

/** A node's name when none is given: what a cluster node is called by default too. */
export const defaultNodeName = (): string => `warren@${hostname()}`;

export class Broker {
  readonly options: BrokerOptions;
  readonly log: Logger;
  readonly store: Store;
  readonly vhosts = new Map<string, VHost>();
  readonly connections = new Set<Connection>();
  /** How many of them are past connection.open-ok and not closing (connection.ts keeps it). */
  runningConnections = 0;
  private ackTimeouts: NodeJS.Timeout | null = null;
  private idleWatch: NodeJS.Timeout | null = null;
  readonly access: AccessControl;
  readonly limits: Limits;
  /** RabbitMQ's global runtime parameters: the cluster's name and id among them. */
  readonly globalParameters: GlobalParameters;
  /** Plugins' runtime parameters (a shovel's), kept and stored here (runtime-parameters.ts). */
  readonly parameters: RuntimeParameters;
  readonly loginGate: LoginGate;
  readonly stats = new MessageStats();
  /** RabbitMQ's global counters and churn (global-counters.ts), for Prometheus. */
  readonly counters = new GlobalCounters();
  /** What happens here, for whoever listens (the event exchange). */
  readonly events = new BrokerEvents();
  readonly startedAt = Date.now();
  readonly alarms: ResourceMonitor;
  /** The cluster this node belongs to, when it runs as one of several (set by the entry). */
  cluster: ClusterView | null = null;
  /** Open direct connections (connectDirect): they hold no socket. */
  private directConnections = 0;

  /** The cluster's name (global parameter cluster_name; 'warren' until set). */
  get clusterName(): string {
    return this.globalParameters.clusterName;
  }

  /** This node's name, the same in the management API, health checks and metrics. */
  get nodeName(): string {
    return this.cluster?.name ?? this.options.nodeName ?? defaultNodeName();
  }
  /** Sequence number of the next published message, broker-wide. */
  nextSeq = 1;
  private server: Server | null = null;
  private tlsServer: Server | null = null;
  private readonly running: RunningPlugin[] = [];
  private nextConnectionId = 1;
  private closing: Promise<void> | null = null;
  /** Durable queues recovered at start: they read their heads once the broker listens. */
  private recoveredQueues: Queue[] = [];
  private readonly paging: PagingLimits | null;

  constructor(options: Partial<BrokerOptions> = {}) {
    this.options = { ...defaultOptions, ...options };
    // A refused login is answered well inside the handshake timeout, never cut off by it.
    this.loginGate = new LoginGate(Math.min(FAILURE_DELAY_MS, this.options.handshakeTimeoutMs / 2));
    this.log = this.options.logger ?? pino({ level: this.options.logLevel, base: { pid: process.pid } });
    this.store = this.options.store ?? (this.options.dataDir ? new LevelStore(this.options.dataDir, levelStoreOptions(this.options, this.log)) : new MemoryStore());
    const { pageOutMessages: messages, pageOutBytes: bytes } = this.options;
    this.paging = this.store.pagesToDisk && messages > 0 ? { messages, bytes, log: this.log } : null;
    this.access = new AccessControl(this.store, this.events);
    this.limits = new Limits(this.store);
    this.globalParameters = new GlobalParameters(this.store);
    this.parameters = new RuntimeParameters(this.store);
    this.alarms = new ResourceMonitor(
      { memoryHighWatermark: this.options.memoryHighWatermark, diskFreeLimit: this.options.diskFreeLimit, dataDir: this.options.dataDir },
      this.log,
      (reasons) => {
        for (const c of this.connections) c.onAlarm(reasons);
      },
    );
  }

  /** Recovers what the store holds, then listens; resolves with the bound port. */
  async start(): Promise<number> {
    const t0 = Date.now();
    await this.recover();
    this.log.info({ ms: Date.now() - t0, dataDir: this.options.dataDir ?? null }, 'store recovered');
    this.ackTimeouts = startAckTimeouts(this.connections, this.options.consumerTimeoutMs);
    this.idleWatch = startIdleWatch(this);
    const plugins = this.options.plugins ?? [];
    for (const p of plugins) await p.beforeListen?.(this);
    this.alarms.start();
    // Paused on accept: nothing is read before withOwnReads moves the socket to a buffer of its own.
    const server = createServer({ pauseOnConnect: true }, (socket) => this.accept(withOwnReads(socket)));
    this.server = server;
    await listenOn(server, this.options.port, this.options.host);
    server.on('error', (err) => this.log.error({ err }, 'server error'));
    const port = this.port;
    this.log.info({ port, host: this.options.host }, 'listening');
    if (this.options.tlsCert && this.options.tlsKey) await this.listenTls();
    for (const q of this.recoveredQueues.splice(0)) q.readHead();
    for (const p of plugins) {
      const r = await p.start?.(this);
      if (r) this.running.push(r);
    }
    return port;
  }

  /** amqps: the same protocol over TLS 1.2+, optionally verifying client certificates. */
  private async listenTls(): Promise<void> {
    const o = this.options;
    const server = createTlsServer(
      {
        cert: readFileSync(o.tlsCert!),
        key: readFileSync(o.tlsKey!),
        ...(o.tlsCa ? { ca: readFileSync(o.tlsCa) } : {}),
        requestCert: o.tlsVerifyPeer,
        rejectUnauthorized: o.tlsVerifyPeer && o.tlsFailIfNoPeerCert,
        minVersion: 'TLSv1.2',
      },
      (socket) => {
        // verify_peer without fail_if_no_peer_cert: Node's TLS either refuses every unverified
        // peer or none, so a certificate that was sent and does not verify is refused here.
        if (o.tlsVerifyPeer && !socket.authorized && Object.keys(socket.getPeerCertificate()).length > 0) {
          this.log.warn({ err: String(socket.authorizationError) }, 'TLS client certificate refused');
          socket.destroy();
          return;
        }
        this.accept(socket);
      },
    );
    server.on('tlsClientError', (err) => this.log.warn({ err: err.message }, 'TLS handshake failed'));
    this.tlsServer = server;
    await listenOn(server, o.tlsPort, o.host);
    this.log.info({ port: this.tlsPort, host: o.host, verifyPeer: o.tlsVerifyPeer }, 'listening for TLS');
  }

  get tlsPort(): number {
    return this.tlsServer ? boundPort(this.tlsServer) : 0;
  }

  /** Every listener of this node, the plugins' too (the management API's overview, health checks). */
  listeners(): Listener[] {
    const ip = this.options.host;
    const out: Listener[] = [{ protocol: 'amqp', port: this.port, ip }];
    const o = this.options;
    if (this.tlsPort > 0) out.push({ protocol: 'amqp/ssl', port: this.tlsPort, ip, tls: { certFile: o.tlsCert!, caFile: o.tlsCa ?? null } });
    for (const r of this.running) out.push(...r.listeners);
    return out;
  }

  /** The port of the first listener for that protocol, 0 if none (the management API's is 'http'). */
  listenerPort(protocol: string): number {
    return this.listeners().find((l) => l.protocol === protocol)?.port ?? 0;
  }

  get port(): number {
    return this.server ? boundPort(this.server) : 0;
  }

  /** The vhost of that name, created (in memory only) if it is not there. */
  vhost(name: string): VHost {
    let v = this.vhosts.get(name);
    if (!v) {
      this.vhosts.set(name, (v = new VHost(name, this.store, () => this.nextSeq++, this.paging, this.log, this.options.queueFactory, this.events)));
      v.deadLetterRetryMs = this.options.deadLetterRetryMs;
      v.counters = this.counters;
      v.replies.remote = this.options.remoteReplies?.(name) ?? null;
    }
    return v;
  }

  /** Creates or updates a vhost; metadata left out keeps the vhost's current tags and default queue type. */
  addVHost(name: string, description = '', meta: { tags?: string[]; defaultQueueType?: string } = {}): VHost {
    const created = !this.vhosts.has(name);
    const v = this.vhost(name);
    v.description = description;
    if (meta.tags !== undefined) v.tags = meta.tags;
    if (meta.defaultQueueType !== undefined) v.defaultQueueType = meta.defaultQueueType;
    const record: StoredVHost = { name, description, tags: v.tags };
    if (v.defaultQueueType !== undefined) record.defaultQueueType = v.defaultQueueType;
    this.store.putDefinition('vhost', definitionId.vhost(name), record);
    if (created) this.vhostCreated(v);
    return v;
  }

  /** A new vhost as 3.10.8 tells it: its standard exchanges made, then the vhost. */
  private vhostCreated(v: VHost): void {
    const ev = this.events;
    if (!ev.on) return;
    for (const name of ['', 'amq.direct', 'amq.topic', 'amq.match', 'amq.headers', 'amq.fanout', 'amq.rabbitmq.trace']) {
      const e = v.exchanges.get(name);
      if (e) v.exchangeCreated(e);
    }
    const tags = v.tags;
    ev.emit('vhost.created', () => [
      ['tags', tags],
      ['description', v.description],
      ['user_who_performed_action', ev.who],
      ['cluster_state', { table: new Map([[this.nodeName, { type: 'S', value: Buffer.from('running') }]]) }],
      ['tracing', v.tracing],
      ['metadata', `#{description => ${erlangBinary(v.description)},tags => [${tags.join(',')}]}`],
      ['default_queue_type', v.defaultQueueType ?? 'undefined'],
      ['name', v.name],
    ]);
  }

  /** Deletes a vhost with everything in it; its connections are closed with 320. */
  deleteVHost(name: string): boolean {
    const v = this.vhosts.get(name);
    if (!v) return false;
    for (const conn of this.connections) {
      if (conn.vhost === v) conn.close(ReplyCode.ConnectionForced, `CONNECTION_FORCED - vhost '${name}' is deleted`);
    }
    for (const q of [...v.queues.values()]) v.deleteQueue(q);
    // In 3.10.8's order of events: the permissions, the exchanges, the vhost, its policies.
    this.access.dropVHost(name);
    for (const e of [...v.exchanges.values()]) if (e.durable && !e.name.startsWith('amq.') && e.name !== '') v.deleteExchange(e);
    // The standard exchanges go with the vhost: told of, not deleted one by one.
    if (this.events.on) {
      for (const e of [...v.exchanges.values()]) {
        if (e.name !== '' && !e.name.startsWith('amq.')) continue;
        v.exchangeDeleting(e);
        v.exchangeDeleted(e);
        v.exchangeGone(e);
      }
    }
    const ev = this.events;
    ev.emit('vhost.deleted', () => [['user_who_performed_action', ev.who], ['name', name]]);
    for (const p of [...v.policies.keys()]) v.setPolicy(p, null);
    for (const p of [...v.operatorPolicies.keys()]) v.setPolicy(p, null, true, true);
    ev.emit('vhost.down', () => [['user_who_performed_action', INTERNAL_USER], ['node', this.nodeName], ['name', name]]);
    this.vhosts.delete(name);
    this.limits.drop('vhost', name);
    this.parameters.dropVHost(name);
    this.store.deleteDefinition('vhost', definitionId.vhost(name));
    return true;
  }

  private accept(socket: Socket): void {
    const conn = new Connection(this.nextConnectionId++, socket, this);
    this.connections.add(conn);
  }

  /**
   * A direct connection (direct-socket.ts): the returned stream is the client's end of a connection
   * that speaks AMQP 0-9-1 to this broker in-process, logged in as user 'none' with every
   * permission whatever it sends, as RabbitMQ's direct connections (a shovel's amqp:// URI).
   */
  connectDirect(): DirectSocket {
    const [server, client] = directPair();
    // DirectSocket has what Connection and its FrameWriter use of a net.Socket (see direct-socket.ts).
    const conn = new Connection(this.nextConnectionId++, server as unknown as Socket, this, true);
    client.connectionName = conn.name;
    this.connections.add(conn);
    this.directConnections++;
    server.once('close', () => this.directConnections--);
    return client;
  }

  /** Connections that hold a socket (sockets_used): all but the direct ones. */
  get socketCount(): number {
    return this.connections.size - this.directConnections;
  }

  private async recover(): Promise<void> {
    const state = await this.store.open();
    for (const sv of state.definitions.vhost) {
      const v = this.vhost(sv.name);
      v.description = sv.description;
      // Records written before vhost metadata was kept have neither: no tags, no default (classic).
      v.tags = sv.tags ?? [];
      v.defaultQueueType = sv.defaultQueueType;
    }
    this.access.restore(state.definitions.user, state.definitions.permission, state.definitions.topicPermission);
    this.limits.restore(state.definitions.limits);
    this.globalParameters.restore(state.definitions.globalParameter);
    this.parameters.restore(state.definitions.parameter);
    // Made at the first start, as RabbitMQ makes it (a cluster's nodes have loaded the shared one by now).
    this.globalParameters.clusterId();
    if (state.definitions.vhost.length === 0) this.addVHost('/', 'Default virtual host');
    if (this.access.users.size === 0) {
      // A fresh store gets the default user, an administrator with full rights on '/', as RabbitMQ does.
      const { defaultUser, defaultPass } = this.options;
      this.access.putUser(defaultUser, defaultPass, ['administrator']);
      this.access.setPermissions({ user: defaultUser, vhost: '/', configure: '.*', write: '.*', read: '.*' });
    }
    // Policies before the queues and exchanges they apply to.
    for (const sp of state.definitions.policy) this.vhost(sp.vhost).setPolicy(sp.name, sp as Policy, false);
    for (const sp of state.definitions.operatorPolicy) this.vhost(sp.vhost).setPolicy(sp.name, sp as Policy, false, true);
    const queues = state.queues.map((sq) => ({
      sq,
      q: this.vhost(sq.vhost).addQueue(
        { name: sq.name, durable: true, exclusiveOwner: null, autoDelete: sq.autoDelete, arguments: readTableBytes(sq.arguments) },
        false,
      ),
    }));
    for (const se of state.definitions.exchange) {
      this.vhost(se.vhost).addExchange(
        { name: se.name, type: se.type, durable: se.durable !== false, autoDelete: se.autoDelete, internal: se.internal, arguments: readTableBytes(se.arguments), user: se.user },
        false,
      );
    }
    for (const sb of state.definitions.binding) {
      const vhost = this.vhost(sb.vhost);
      const source = vhost.exchanges.get(sb.source);
      const dest = sb.destinationKind === 'queue' ? vhost.queues.get(sb.destination) : vhost.exchanges.get(sb.destination);
      if (!source || !dest) {
        this.log.warn({ binding: sb }, 'dropping a stored binding whose source or destination is gone');
        this.store.deleteDefinition('binding', definitionId.binding(sb));
        continue;
      }
      const args = readTableBytes(sb.arguments);
      const sorted = sortedArguments(args);
      vhost.addBinding(source, dest, sb.routingKey, sorted, false);
      if (sorted !== args) {
        // Stored by a Warren that kept the client's order: kept from now on in RabbitMQ's
        // (binding-arguments.ts), so that an unbind, which names the sorted table, finds its record.
        this.store.deleteDefinition('binding', definitionId.binding(sb));
        const resorted = { ...sb, arguments: writeTableBytes(sorted) };
        this.store.putDefinition('binding', definitionId.binding(resorted), resorted);
      }
    }
    // Messages last: an expiry or dead-letter needs the exchanges and bindings, and a new
    // message's seq (nextSeq) is known only once every queue is read, so no timer starts before.
    let maxSeq = 0;
    let count = 0;
    let inMemory = 0;
    for (const { sq, q } of queues) {
      // After a crash nobody knows which messages were delivered: they all come back flagged so.
      const recovered = await q.recover(state.cleanShutdown, sq.redeliverBelow ?? 0, state.totals.get(queueKey(sq.vhost, sq.name)));
      if (q.redeliveredBelow > (sq.redeliverBelow ?? 0)) this.store.putQueue({ ...sq, redeliverBelow: q.redeliveredBelow });
      // New seqs must start above every queue's stored redeliver bound, not only above the messages
      // left: a queue drained after a crash keeps the bound, and a count restarted below it would
      // flag never-delivered messages redelivered when paged in or recovered in a later run.
      maxSeq = Math.max(maxSeq, recovered.lastSeq, q.redeliveredBelow - 1);
      count += recovered.count;
      if (!q.stream) inMemory += q.readyCount - q.pagedOut.count;
    }
    this.nextSeq = maxSeq + 1;
    for (const { q } of queues) q.startTimers();
    this.recoveredQueues = queues.map(({ q }) => q);
    if (state.queues.length > 0) {
      // inMemory: read before listening; the rest is read as consumers need it (Queue.readHead).
      this.log.info({ queues: state.queues.length, messages: count, inMemory, clean: state.cleanShutdown }, 'recovered durable queues');
    }
  }

  /** Closes every client connection with 320, stops listening and flushes the store. */
  /**
   * What a stop asked for from outside does (rabbitmqctl stop, through the management API): the
   * process entry sets it to its own shutdown (cluster hand-over, then exit); an embedded broker
   * just closes.
   */
  onStopRequested: (() => void) | null = null;

  requestStop(): void {
    this.log.info('stop requested');
    if (this.onStopRequested) this.onStopRequested();
    else void this.close();
  }

  /**
   * Changes the log level at runtime (rabbitmqctl set_log_level). A pino child keeps the level it
   * was made with, so every connection's and channel's logger is told too; those made later take
   * it from the broker's. (Shovel and federation links keep theirs until they restart.)
   */
  setLogLevel(level: string): void {
    this.log.level = level;
    for (const conn of this.connections) {
      conn.log.level = level;
      for (const ch of conn.channels.values()) ch.log.level = level;
    }
    this.log.info({ level }, 'log level changed');
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.log.info({ connections: this.connections.size }, 'shutting down');
    if (this.ackTimeouts) clearInterval(this.ackTimeouts);
    if (this.idleWatch) clearInterval(this.idleWatch);
    this.alarms.stop();
    const server = this.server;
    const stopped = Promise.all(
      [server, this.tlsServer].map((s) => (s ? new Promise<void>((resolve) => s.close(() => resolve())) : undefined)),
    );
    for (const r of this.running.splice(0)) await r.close();
    const sockets: Promise<void>[] = [];
    for (const conn of this.connections) {
      sockets.push(new Promise<void>((resolve) => conn.socket.once('close', () => resolve())));
      conn.close(ReplyCode.ConnectionForced, "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'");
    }
    // Clients get a moment to answer close-ok; the sockets go either way.
    await Promise.race([Promise.all(sockets), new Promise((r) => setTimeout(r, 1000).unref())]);
    for (const conn of this.connections) conn.socket.destroy();
    await stopped;
    this.persistRedeliveredFlags();
    this.recordTotals();
    await this.store.close();
    this.log.info('stopped');
  }

  /**
   * Long queues' totals, so the next start need not count their stored messages (taking them
   * freezes each queue: nothing may change it between these totals and the store's close).
   */
  private recordTotals(): void {
    for (const vhost of this.vhosts.values()) {
      for (const q of vhost.queues.values()) {
        const totals = q.storedTotals();
        if (totals) this.store.putTotals(vhost.name, q.name, totals);
      }
    }
  }

  /** Messages requeued by the closing connections come back after a restart marked redelivered. */
  private persistRedeliveredFlags(): void {
    for (const vhost of this.vhosts.values()) for (const q of vhost.queues.values()) q.persistRedeliveredFlags();
  }
}
