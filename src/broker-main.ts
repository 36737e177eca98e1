// `warren` without `ctl`: the broker. Flags (each also settable by a WARREN_* environment
// variable), the configuration file, signals. Loaded by cli.ts.
import process from 'node:process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type Yargs from 'yargs';
import type * as YargsHelpers from 'yargs/helpers';
import { parseConfigFile } from './config-file.js';
import { Broker, defaultNodeName } from './server/broker.js';
import { DataDirError } from './store/data-dir.js';
import { MAX_JOURNAL_SIZE } from './store/journal.js';
import { defaultOptions, levelStoreOptions } from './server/options.js';
import { managementDefaults, managementPlugins } from './management/plugin.js';
import { shovelPlugin } from './shovel/index.js';
import { federationPlugin } from './federation/index.js';
import { eventExchangePlugin } from './events/index.js';
import { pino } from 'pino';
import type { JoinedCluster } from './cluster/index.js';
import { defaultPrometheusOptions, startPrometheus, type PrometheusServer } from './metrics/server.js';
import { setFlagsFromString } from 'node:v8';
import { lowerHelperThreads } from './helper-threads.js';
import { setLoopSlice } from './loop-slice.js';
import { idlePollUs, setIdlePoll } from './server/idle-poll.js';

// V8 allocates objects straight in the old generation from allocation sites whose objects have
// survived young-generation collections ("pretenuring"). A queue filling its in-memory part (the
// first 65,536 messages stay) teaches it that every message's objects survive; from then on each
// message is allocated old and dies old, collected only by full mark-compacts. Measured with
// goperf persistent-publish: 23% of the broker's time in GC, 2.7 MB promoted per scavenge, 150k
// msgs/s; without pretenuring 0.01 MB and 250k msgs/s. Set here, for the broker's own process
// only: an application embedding Warren (startBroker) keeps its V8 as it is.
setFlagsFromString('--no-allocation-site-pretenuring');
// V8 starts a full collection when the old generation's headroom (its limit less its size) gets
// smaller than the young generation could promote at once. With a heap of ~18 MB the limit V8
// chose was ~41-57 MB, less headroom than the 64 MiB young generation (--max-semi-space-size):
// with large bodies flowing (nothing promoted, the heap not growing) it ran a mark-compact every
// ~50 ms, one after the other (`--trace-incremental-marking`: "Start (task)" at 17 of 41 MB).
// A growing factor of 3 puts the limit at three times the live heap; 1 MiB persistent bodies then
// ran 5-10 mark-compacts in 6 s instead of 70-110, at 96% of a core instead of 125-133%. V8's own
// factor ranges from 1.1 to 4, so the heap never grows past what V8 could choose by itself.
setFlagsFromString('--heap-growing-percent=200');
// V8 optimizes a function once it has run about 66 KB of its bytecode (its interrupt budget), on
// its worker thread. At a steady 5,000 msgs/s that budget is reached seconds into a run, or much
// later for what runs once per ack or timer, and each compile job woke on the event loop's core
// and preempted it for 1-5 ms (README, "What made the 5k tail"): the 5k p99.9. With a quarter of
// the budget the hot functions are optimized within the first second; goperf latency-5k, 5 pairs,
// p99.9 median 2,169 → 885 µs (better in 5 of 5), p99 347 → 279 µs, throughput unchanged
// (transient, publish-only, fan-out: main-thread CPU per message within 2%). A quarter again
// (4,096) optimized too eagerly: p99.9 1.5-5.7 ms.
// (A budget given on node's command line is left as it is.)
if (!process.execArgv.some((a) => a.startsWith('--interrupt-budget=') || a.startsWith('--interrupt_budget='))) setFlagsFromString('--interrupt-budget=16384');

/** Where the store lives when neither --data-dir nor --in-memory is given: durable by default. */
const DEFAULT_DATA_DIR = './warren-data';

/** --fault-drop-wire's type:N[,type:N] (tests only). */
function parseDropWire(spec: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const part of spec.split(',')) {
    const m = /^([a-z]+):([1-9][0-9]*)$/.exec(part.trim());
    if (!m) throw new Error(`--fault-drop-wire: '${part}' is not type:N (N ≥ 1)`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** The WARREN_<OPTION> variables of the environment whose <OPTION> is not one of options. */
function envNotNamingAnOption(options: Set<string>): string[] {
  return Object.keys(process.env).filter((name) => name.startsWith('WARREN_') && !options.has(name.slice(7).toLowerCase().replace(/_/g, '-')));
}

// yargs through its CommonJS build, one bundled file: it loads in ~20 ms where its ES module
// build took 35 ms (yargs 17) or 90 ms (yargs 18, whose string-width builds an Intl.Segmenter at
// import), and its help wraps at word boundaries, where the ES build's cliui cuts words in two.
const require = createRequire(import.meta.url);
const yargs = require('yargs') as typeof Yargs;
const { hideBin } = require('yargs/helpers') as typeof YargsHelpers;

const rawArgs = hideBin(process.argv);

const parser = yargs(rawArgs)
  .scriptName('warren')
  .usage('$0 [options]\n$0 ctl <command> [args]\n\nAn AMQP 0-9-1 message broker. Every option can also be set as WARREN_<OPTION>, e.g. WARREN_PORT=5673.')
  .env('WARREN')
  .config('config', "configuration file: rabbitmq.conf keys ('key = value') or .json with these option names", (path: string) =>
    parseConfigFile(path),
  )
  .option('load-definitions', { type: 'string', describe: 'definitions JSON (RabbitMQ format) imported at boot' })
  .option('port', { type: 'number', default: defaultOptions.port, describe: 'TCP port to listen on (0 = any free port)' })
  .option('host', { type: 'string', default: defaultOptions.host, describe: 'address to listen on' })
  .option('data-dir', { type: 'string', describe: `directory of the LevelDB store (default ${DEFAULT_DATA_DIR})` })
  .option('in-memory', { type: 'boolean', default: false, describe: 'keep everything in memory: nothing survives a restart' })
  .check((a) => {
    if (a['in-memory'] && a['data-dir'] !== undefined) throw new Error('--in-memory and --data-dir exclude each other');
    return true;
  })
  .option('log-level', {
    type: 'string',
    default: defaultOptions.logLevel,
    choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
  })
  .option('heartbeat', { type: 'number', default: defaultOptions.heartbeat, describe: 'heartbeat interval proposed to clients, seconds' })
  .option('frame-max', { type: 'number', default: defaultOptions.frameMax, describe: 'largest frame proposed to clients, bytes' })
  .option('channel-max', { type: 'number', default: defaultOptions.channelMax, describe: 'most channels per connection' })
  .option('default-user', { type: 'string', default: defaultOptions.defaultUser })
  .option('default-pass', { type: 'string', default: defaultOptions.defaultPass })
  .option('max-message-size', { type: 'number', default: defaultOptions.maxMessageSize, describe: 'largest message body, bytes' })
  .option('management-port', { type: 'number', default: managementDefaults.managementPort, describe: 'management HTTP API and UI port (0 = off)' })
  .option('management-host', { type: 'string', default: managementDefaults.managementHost, describe: 'address the management API listens on' })
  .option('prometheus-port', {
    type: 'number',
    default: defaultPrometheusOptions.prometheusPort,
    describe: 'Prometheus endpoint in rabbitmq_prometheus\' shape (/metrics, /metrics/per-object, /metrics/detailed); 0 = any free port, -1 = off',
  })
  .option('prometheus-host', { type: 'string', default: defaultPrometheusOptions.prometheusHost, describe: 'address the Prometheus endpoint listens on' })
  .option('prometheus-per-object', {
    type: 'boolean',
    default: defaultPrometheusOptions.prometheusPerObject,
    describe: '/metrics reports every queue, channel and connection, as /metrics/per-object (prometheus.return_per_object_metrics)',
  })
  .option('memory-high-watermark', {
    type: 'number',
    default: defaultOptions.memoryHighWatermark,
    describe: 'block publishers above this memory: a fraction of RAM (≤ 1) or bytes',
  })
  .option('disk-free-limit', { type: 'number', default: defaultOptions.diskFreeLimit, describe: 'block publishers below this much free disk, bytes' })
  .option('max-connections', { type: 'number', default: defaultOptions.maxConnections, describe: 'most client connections at once' })
  .option('handshake-timeout', { type: 'number', default: defaultOptions.handshakeTimeoutMs, describe: 'ms a new socket has to complete the AMQP handshake' })
  .option('loopback-users', { type: 'array', string: true, default: defaultOptions.loopbackUsers, describe: 'users who may only connect from localhost' })
  .option('tls-port', { type: 'number', default: defaultOptions.tlsPort, describe: 'amqps port, used when --tls-cert and --tls-key are given' })
  .option('tls-cert', { type: 'string', describe: 'PEM certificate (chain) for amqps' })
  .option('tls-key', { type: 'string', describe: 'PEM private key for amqps' })
  .option('tls-ca', { type: 'string', describe: 'PEM CA bundle to verify client certificates' })
  .option('pid-file', { type: 'string', describe: "write the process id here at start, removed on a clean stop (for `warren ctl wait FILE`, as RABBITMQ_PID_FILE)" })
  .option('tls-verify-peer', { type: 'boolean', default: false, describe: 'ask for a client certificate and verify it against --tls-ca' })
  .option('tls-fail-if-no-peer-cert', {
    type: 'boolean',
    default: defaultOptions.tlsFailIfNoPeerCert,
    describe: 'with --tls-verify-peer, refuse clients without a certificate (--no-tls-fail-if-no-peer-cert lets them in; a certificate sent must still verify)',
  })
  .option('management-tls-port', { type: 'number', default: managementDefaults.managementTlsPort, describe: 'management API and UI over HTTPS, with --management-tls-cert and --management-tls-key (0 = off)' })
  .option('management-tls-host', { type: 'string', describe: 'address the HTTPS management listener binds (default: --management-host)' })
  .option('management-tls-cert', { type: 'string', describe: 'PEM certificate (chain) for the HTTPS management listener' })
  .option('management-tls-key', { type: 'string', describe: 'PEM private key for the HTTPS management listener' })
  .option('management-tls-ca', { type: 'string', describe: 'PEM CA bundle sent with the HTTPS management certificate' })
  .option('fsync', {
    type: 'boolean',
    default: defaultOptions.fsync,
    describe: 'fsync store batches of persistent messages before confirming them (--no-fsync: faster, a power loss may lose confirmed messages)',
  })
  .option('page-out-messages', {
    type: 'number',
    default: defaultOptions.pageOutMessages,
    describe: 'ready messages a queue keeps in memory; newer ones wait in the store (0 = keep all in memory)',
  })
  .option('page-out-bytes', { type: 'number', default: defaultOptions.pageOutBytes, describe: 'body bytes a queue keeps in memory before paging to the store' })
  .option('body-file-size', {
    type: 'number',
    default: defaultOptions.bodyFileSize,
    describe: 'bytes of a body file, where persistent bodies of 16 KiB and more are kept (RabbitMQ: msg_store_file_size_limit)',
  })
  .option('journal-size', {
    type: 'number',
    default: defaultOptions.journalSize,
    describe: 'bytes of the journal file where, with fsync, each write cycle is synced before LevelDB has it on disk (0 = none: LevelDB syncs its own log, slower)',
  })
  .option('body-compaction-interval', {
    type: 'number',
    default: defaultOptions.bodyCompactionMs,
    describe: 'ms between looks for body files mostly acked, whose live bodies are then moved so the file can go (0 = never)',
  })
  .option('event-exchange', { type: 'boolean', default: false, describe: "publish the broker's events (queue.created, connection.closed, ...) to amq.rabbitmq.event, as RabbitMQ's rabbitmq_event_exchange plugin" })
  .option('event-exchange-vhost', { type: 'string', default: '/', describe: 'the vhost of amq.rabbitmq.event (with --event-exchange)' })
  .option('cluster', { type: 'string', describe: 'join a cluster: NATS JetStream servers, nats://host:port[,…] (this node\'s own first)' })
  .option('node-name', {
    type: 'string',
    describe: 'this node\'s name in the management API, health checks, metrics and the cluster (default warren@<hostname>; rabbit@<host> for tools that ask for RabbitMQ\'s node by name)',
  })
  .option('cluster-replicas', { type: 'number', default: 3, describe: 'replicas of the cluster\'s shared state (at most the number of NATS servers)' })
  // Fault injection for the cluster's tests: drop every Nth message of a type between nodes.
  .option('fault-drop-wire', { type: 'string', hidden: true, describe: 'tests only: type:N[,type:N] drops every Nth such message to other nodes' })
  .check((a) => {
    const mtls = a['management-tls-port'] !== 0;
    if (mtls && (a['management-tls-cert'] === undefined || a['management-tls-key'] === undefined)) {
      throw new Error('--management-tls-port needs --management-tls-cert and --management-tls-key');
    }
    for (const k of ['management-tls-host', 'management-tls-cert', 'management-tls-key', 'management-tls-ca'] as const) {
      if (!mtls && a[k] !== undefined) throw new Error(`--${k} needs --management-tls-port`);
    }
    if (a['cluster-replicas'] !== 3 && a.cluster === undefined) throw new Error('--cluster-replicas needs --cluster');
    const journal = a['journal-size'];
    if (!Number.isInteger(journal) || journal < 0 || journal > MAX_JOURNAL_SIZE) {
      throw new Error(`--journal-size must be 0 (no journal) or a number of bytes up to ${MAX_JOURNAL_SIZE}, not ${String(journal)}`);
    }
    if (a['event-exchange-vhost'] !== '/' && !a['event-exchange']) throw new Error('--event-exchange-vhost needs --event-exchange');
    if (a['fault-drop-wire'] !== undefined) {
      if (a.cluster === undefined) throw new Error('--fault-drop-wire needs --cluster');
      parseDropWire(a['fault-drop-wire']);
    }
    return true;
  })
  .option('dead-letter-retry-interval', {
    type: 'number',
    default: defaultOptions.deadLetterRetryMs,
    describe: 'ms between retries of at-least-once dead letters that found no route or were refused',
  })
  .option('consumer-timeout', {
    type: 'number',
    default: defaultOptions.consumerTimeoutMs,
    describe: 'ms a delivery may stay unacknowledged before its channel is closed (406); 0 = no limit',
  })
  .option('helper-threads-nice', {
    type: 'number',
    default: 5,
    describe: "nice levels (0-19) V8's compiler and GC threads are put below the event loop's thread, so they seldom preempt it (Linux; 0 = leave them be; see helper-threads.ts before raising it)",
  })
  .option('loop-slice', {
    type: 'number',
    default: 300,
    describe: "µs of scheduler slice (100-100000) the event loop's thread asks Linux for, so that a message that wakes it preempts a longer-sliced thread on its core at once (Linux 6.12+; 0 = the kernel's default; see loop-slice.ts)",
  })
  .option('idle-poll', {
    type: 'number',
    default: 50,
    describe: 'µs the event loop keeps polling, rather than sleeping in epoll, after it writes deliveries to a connection that answers its deliveries with publishes (an RPC server or client), so that the answer is read without a wake-up: for VMs whose idle vCPUs halt; costs CPU while such traffic runs (0-1000; 0 = sleep at once; see idle-poll.ts)',
  })
  .check((a) => {
    const p = a['idle-poll'];
    if (!Number.isInteger(p) || p < 0 || p > 1000) throw new Error(`--idle-poll: ${p} is not an integer from 0 to 1000`);
    const n = a['helper-threads-nice'];
    if (!Number.isInteger(n) || n < 0 || n > 19) throw new Error(`--helper-threads-nice: ${n} is not an integer from 0 to 19`);
    const s = a['loop-slice'];
    if (!Number.isInteger(s) || (s !== 0 && (s < 100 || s > 100_000))) throw new Error(`--loop-slice: ${s} is not 0 or an integer from 100 to 100000`);
    return true;
  })
  .strict()
  // A flag given twice takes its last value (so wrappers can append overrides), not an array.
  .parserConfiguration({ 'duplicate-arguments-array': false })
  .help();

// A WARREN_* variable that names no option is not the broker's (WARREN_MANAGEMENT_URL is `warren
// ctl`'s, and a container may carry it): strict() would refuse it as an unknown argument and stop
// the broker, so it is set aside for the parse and named in a warning. Unknown flags on the command
// line are still refused.
// yargs 17 has getOptions() at run time, not in its types; without it nothing is set aside.
const declared = (parser as unknown as { getOptions?: () => { key: Record<string, unknown> } }).getOptions?.().key ?? null;
const notOptions = declared ? envNotNamingAnOption(new Set(Object.keys(declared))) : [];
const setAside = new Map(notOptions.map((name) => [name, process.env[name]]));
for (const name of notOptions) delete process.env[name];
const argv = parser.parseSync();
for (const [name, value] of setAside) process.env[name] = value;

const dataDir = argv['in-memory'] ? undefined : path.resolve(argv['data-dir'] ?? DEFAULT_DATA_DIR);
const nodeName = argv['node-name'] ?? defaultNodeName();
const logger = pino({ level: argv['log-level'], base: argv.cluster ? { pid: process.pid, node: nodeName } : { pid: process.pid } });
if (notOptions.length > 0) logger.warn({ variables: notOptions }, `ignored environment variables that name no option: ${notOptions.join(', ')}`);
// Before the store, the cluster client or anything else starts threads of its own: the split
// counts on Node's and libuv's being the only ones (see helper-threads.ts).
if (argv['helper-threads-nice'] !== 0) {
  const threads = await lowerHelperThreads(argv['helper-threads-nice']);
  if (threads === null) logger.debug('helper threads: priorities are left as they are on this platform');
  else if ('skipped' in threads) logger.warn({ reason: threads.skipped }, `helper threads left at their priority: ${threads.skipped}`);
  else {
    if (threads.failed.length > 0) logger.warn({ failed: threads.failed }, 'helper threads: some priorities could not be lowered');
    logger.debug({ helperThreads: threads.lowered, libuvPool: threads.pool, nice: threads.nice }, 'helper threads lowered');
  }
}
setIdlePoll(argv['idle-poll']);
// The module's own figure, so that the log (and its test) shows what the loop will do.
logger.debug({ idlePollUs: idlePollUs() }, 'event loop idle poll after writes');
if (argv['loop-slice'] !== 0) {
  // Not awaited: the broker need not wait for perl to start.
  void setLoopSlice(argv['loop-slice']).then((r) => {
    if ('skipped' in r) logger.info({ reason: r.skipped }, `event loop keeps the kernel's scheduler slice: ${r.skipped}`);
    else logger.debug({ sliceUs: r.sliceUs }, 'event loop scheduler slice set');
  });
}
// In a cluster the store is the cluster's (shared topology, local messages beside it).
// The cluster's modules (the NATS client among them, ~30 ms to load) only when there is one.
const cluster: JoinedCluster | null = argv.cluster
  ? await (await import('./cluster/index.js')).joinCluster({
      servers: argv.cluster.split(',').map((s) => s.trim()).filter((s) => s !== ''),
      name: nodeName,
      dataDir,
      store: levelStoreOptions({ fsync: argv.fsync, bodyFileSize: argv['body-file-size'], bodyCompactionMs: argv['body-compaction-interval'], journalSize: argv['journal-size'] }, logger),
      replicas: argv['cluster-replicas'],
      frameMax: argv['frame-max'],
      log: logger,
      self: (): { host: string; amqpPort: number; managementPort: number } => ({ host: argv.host, amqpPort: broker.port, managementPort: broker.listenerPort('http') }),
      dropWire: argv['fault-drop-wire'] === undefined ? undefined : parseDropWire(argv['fault-drop-wire']),
    }).catch((err: unknown) => {
      logger.fatal({ err }, `cannot join the cluster at ${argv.cluster}: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    })
  : null;
const broker: Broker = new Broker({
  logger,
  store: cluster?.store,
  queueFactory: cluster?.queueFactory,
  remoteReplies: cluster?.remoteReplies,
  port: argv.port,
  host: argv.host,
  nodeName,
  dataDir,
  logLevel: argv['log-level'],
  heartbeat: argv.heartbeat,
  frameMax: argv['frame-max'],
  channelMax: argv['channel-max'],
  defaultUser: argv['default-user'],
  defaultPass: argv['default-pass'],
  maxMessageSize: argv['max-message-size'],
  fsync: argv.fsync,
  pageOutMessages: argv['page-out-messages'],
  pageOutBytes: argv['page-out-bytes'],
  bodyFileSize: argv['body-file-size'],
  bodyCompactionMs: argv['body-compaction-interval'],
  journalSize: argv['journal-size'],
  deadLetterRetryMs: argv['dead-letter-retry-interval'],
  consumerTimeoutMs: argv['consumer-timeout'],
  tlsPort: argv['tls-port'],
  tlsCert: argv['tls-cert'],
  tlsKey: argv['tls-key'],
  tlsCa: argv['tls-ca'],
  tlsVerifyPeer: argv['tls-verify-peer'],
  tlsFailIfNoPeerCert: argv['tls-fail-if-no-peer-cert'],
  memoryHighWatermark: argv['memory-high-watermark'],
  diskFreeLimit: argv['disk-free-limit'],
  maxConnections: argv['max-connections'],
  handshakeTimeoutMs: argv['handshake-timeout'],
  loopbackUsers: argv['loopback-users'].filter((u) => u !== ''),
  // The entry composes dynamic shovels, federation, the management API (and definitions at boot)
  // onto the broker; the first two first, so that a definitions file at boot may hold their parameters.
  plugins: [
    shovelPlugin(),
    federationPlugin(),
    ...(argv['event-exchange'] ? [eventExchangePlugin(argv['event-exchange-vhost'])] : []),
    ...managementPlugins({
    loadDefinitions: argv['load-definitions'],
    managementPort: argv['management-port'],
    managementHost: argv['management-host'],
    managementTlsPort: argv['management-tls-port'],
    managementTlsHost: argv['management-tls-host'],
    managementTlsCert: argv['management-tls-cert'],
    managementTlsKey: argv['management-tls-key'],
    managementTlsCa: argv['management-tls-ca'],
    }),
  ],
});

// The pid file (--pid-file): written before the store opens, as RabbitMQ's is before its apps
// start, so `warren ctl wait FILE` can watch the process from its first moment.
const pidFile = argv['pid-file'];
if (pidFile) writeFileSync(pidFile, `${process.pid}\n`);
const removePidFile = (): void => {
  if (pidFile) rmSync(pidFile, { force: true });
};

let prometheus: PrometheusServer | null = null;
let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  broker.log.info({ signal }, 'signal received');
  Promise.resolve(cluster?.handOver())
    .then(() => prometheus?.close())
    .then(() => broker.close())
    .then(() => cluster?.close())
    .then(
    () => {
      removePidFile();
      process.exit(0);
    },
    (err: unknown) => {
      broker.log.error({ err }, 'shutdown failed');
      removePidFile();
      process.exit(1);
    },
  );
};
process.on('SIGINT', () => stop('SIGINT'));
broker.onStopRequested = () => stop('warren ctl stop');
process.on('SIGTERM', () => stop('SIGTERM'));

if (dataDir) broker.log.info({ dataDir, fsync: argv.fsync }, `store: ${dataDir}${argv.fsync ? '' : ' (--no-fsync: a power loss may lose confirmed messages)'}`);
else broker.log.warn('in memory (--in-memory): nothing survives a restart');
broker.start().then(async () => {
  if (cluster) {
    await cluster.attach(broker);
    broker.cluster = cluster;
    broker.log.info({ cluster: argv.cluster }, 'joined the cluster');
  }
  // After joining: its identity names the cluster node from the first scrape on.
  if (argv['prometheus-port'] !== -1) {
    prometheus = await startPrometheus(broker, {
      prometheusPort: argv['prometheus-port'],
      prometheusHost: argv['prometheus-host'],
      prometheusPerObject: argv['prometheus-per-object'],
    });
  }
}).catch((err: unknown) => {
  // A data directory it cannot use is the operator's to fix: the message says how, no stack needed.
  if (err instanceof DataDirError) broker.log.fatal({ code: err.code, dataDir: argv['data-dir'] }, err.message);
  else broker.log.fatal({ err }, `failed to start: ${err instanceof Error ? err.message : String(err)}`);
  removePidFile();
  process.exit(1);
});
