// Broker settings, with RabbitMQ's defaults where it has one.
import type { Logger } from 'pino';
import type { Store } from '../store/store.js';
import type { LevelStoreOptions } from '../store/level-store.js';
import { JOURNAL_SIZE } from '../store/journal.js';
import type { QueueFactory } from './vhost.js';
import type { RemoteReplies } from './direct-reply-to.js';
import type { BrokerPlugin } from './plugin.js';

export interface BrokerOptions {
  /** TCP port; 0 picks a free one. */
  port: number;
  host: string;
  /**
   * This node's name in the management API, health checks and metrics (a cluster names its nodes
   * itself); default warren@<hostname>. Tools that ask for RabbitMQ's node by name (the
   * nagios-plugins' check_rabbitmq_server asks for /api/nodes/rabbit@HOST) need rabbit@HOST here.
   */
  nodeName?: string | undefined;
  /** Where the LevelDB store lives; without it the broker keeps everything in memory. */
  dataDir?: string | undefined;
  logLevel: string;
  /** A logger to use instead of one made from logLevel. */
  logger?: Logger | undefined;
  /** Heartbeat interval proposed in connection.tune, in seconds (0 = none). */
  heartbeat: number;
  /** Largest frame proposed in connection.tune, in bytes. */
  frameMax: number;
  channelMax: number;
  defaultUser: string;
  defaultPass: string;
  /** Largest message body accepted (RabbitMQ's default max_message_size is 128 MiB). */
  maxMessageSize: number;
  /** A socket that has not finished the handshake after this long is closed. */
  handshakeTimeoutMs: number;
  /** Users who may connect only from a loopback address (RabbitMQ's loopback_users). */
  loopbackUsers: string[];
  /** Memory alarm threshold: a fraction of RAM when ≤ 1 (RabbitMQ's default 0.4), else bytes. */
  memoryHighWatermark: number;
  /** Disk alarm threshold: free bytes in the data directory's filesystem (RabbitMQ: 50 MB). */
  diskFreeLimit: number;
  /** Most client connections at once; more are refused at connection.open with 530. */
  maxConnections: number;
  /** TLS listener (amqps): port (0 = any free), PEM certificate chain and key files. Off without both files. */
  tlsPort: number;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  /** CA bundle for verifying client certificates. */
  tlsCa?: string | undefined;
  /** Ask for a client certificate and verify it (RabbitMQ's ssl_options.verify = verify_peer). */
  tlsVerifyPeer: boolean;
  /**
   * With tlsVerifyPeer: refuse a client that sends no certificate (ssl_options.fail_if_no_peer_cert).
   * When false a client may come without one; one it sends must still verify.
   */
  tlsFailIfNoPeerCert: boolean;
  /**
   * fsync each store batch that holds persistent messages or definitions before confirming them
   * (survives power loss, as RabbitMQ promises), rather than only writing it (survives a crash of
   * the process, not of the machine). On by default; false is the opt-out for those who accept
   * the risk for the throughput.
   */
  fsync: boolean;
  /**
   * A queue keeps at most this many ready messages, and this many bytes of their bodies, in memory;
   * newer ones wait in the store (RabbitMQ's lazy-queue behaviour). 0 keeps everything in memory.
   * Without a data directory there is nowhere to page to.
   */
  pageOutMessages: number;
  pageOutBytes: number;
  /**
   * Large persistent bodies go to body files of this many bytes (RabbitMQ's
   * msg_store_file_size_limit); a file mostly acked has its live bodies moved out every
   * bodyCompactionMs (0: never), so it can go (src/store/body-compaction.ts).
   */
  bodyFileSize: number;
  bodyCompactionMs: number;
  /**
   * Bytes of the write-ahead journal in which, with fsync, each write cycle is synced instead of in
   * LevelDB's log (src/store/journal.ts); 0: none, LevelDB syncs.
   */
  journalSize: number;
  /** A store the entry composed (a cluster node's), instead of one made from dataDir. */
  store?: Store | undefined;
  /** Makes queue objects (a cluster node's may live on another node); plain Queues otherwise. */
  queueFactory?: QueueFactory | undefined;
  /** What the entry composes onto the broker (plugin.ts): the management API, definitions at boot. */
  plugins?: readonly BrokerPlugin[] | undefined;
  /** Direct reply-to across a cluster's nodes, per vhost. */
  remoteReplies?: ((vhost: string) => RemoteReplies) | undefined;
  /**
   * How often a quorum queue retries the dead letters it owes at least once to targets that could
   * not take them (RabbitMQ's dead_letter_worker_publisher_confirm_timeout, 3 minutes), in ms.
   */
  deadLetterRetryMs: number;
  /**
   * RabbitMQ's consumer_timeout: a channel holding a delivery unacked longer is closed with 406
   * (ms; 0 = no broker-wide timeout, queues' x-consumer-timeout still apply). 30 minutes by default.
   */
  consumerTimeoutMs: number;
}

export const defaultOptions: BrokerOptions = {
  port: 5672,
  host: '0.0.0.0',
  logLevel: 'info',
  heartbeat: 60,
  frameMax: 131072,
  channelMax: 2047,
  defaultUser: 'guest',
  defaultPass: 'guest',
  maxMessageSize: 128 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  loopbackUsers: ['guest'],
  tlsPort: 5671,
  tlsVerifyPeer: false,
  tlsFailIfNoPeerCert: true,
  memoryHighWatermark: 0.4,
  diskFreeLimit: 50 * 1000 * 1000,
  maxConnections: 100_000,
  fsync: true,
  pageOutMessages: 65_536,
  pageOutBytes: 64 * 1024 * 1024,
  bodyFileSize: 64 * 1024 * 1024,
  bodyCompactionMs: 5_000,
  journalSize: JOURNAL_SIZE,
  deadLetterRetryMs: 180_000,
  consumerTimeoutMs: 1_800_000,
};

/** The embedded store's settings, from the broker's (a cluster node's local store takes them too). */
export function levelStoreOptions(o: Pick<BrokerOptions, 'fsync' | 'bodyFileSize' | 'bodyCompactionMs' | 'journalSize'>, log: Logger): LevelStoreOptions {
  return {
    fsync: o.fsync,
    journalSize: o.journalSize,
    onJournalReplay: (records) => log.warn({ records }, `store: ${records} journal records written back after an unclean stop`),
    onJournalUnavailable: (err) => log.warn({ err }, `store: no room for the journal (${err.message}): LevelDB syncs its own batches, slower`),
    bodyFileMax: o.bodyFileSize,
    bodyCompactionMs: o.bodyCompactionMs,
    onCompaction: (e) => log.info(e, `body file ${e.file} compacted: ${e.moved} live bytes of ${e.size} moved`),
  };
}
