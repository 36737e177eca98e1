// The persistence interface: durable definitions, persistent messages on durable queues, and the
// transient messages long queues page out of memory (gone after a restart).
// Mutations are queued synchronously and written in groups (one batch per tick); flush() resolves
// once everything queued before the call is written, which is when confirms may go out.
import type { Body } from '../frames/body.js';

export interface StoredQueue {
  vhost: string;
  name: string;
  autoDelete: boolean;
  /** The queue's arguments as an encoded field table, byte-exact. */
  arguments: Buffer;
  /** Messages with a lower seq were in the queue at a crash: they come back flagged redelivered. */
  redeliverBelow?: number | undefined;
}

export interface StoredExchange {
  vhost: string;
  name: string;
  type: string;
  autoDelete: boolean;
  internal: boolean;
  arguments: Buffer;
  /** Who declared it (absent in records written before it was kept: the broker then). */
  user?: string;
  /** false: a non-durable exchange a cluster shares (sharesTransient); absent: durable. */
  durable?: boolean;
}

/** A binding between durable entities: from exchange source to a queue or an exchange. */
export interface StoredBinding {
  vhost: string;
  source: string;
  destinationKind: 'queue' | 'exchange';
  destination: string;
  routingKey: string;
  arguments: Buffer;
}

export interface StoredMessage {
  /** Broker-wide sequence number: orders a queue's messages and names them in the store. */
  seq: number;
  redelivered: boolean;
  exchange: string;
  routingKey: string;
  /** Content properties exactly as the publisher sent them. */
  properties: Buffer;
  /** One buffer, or a large body's pieces as it arrived (body.ts), written out without a join. */
  body: Body;
  /** When the message expires in its queue (ms since epoch), 0 for never. */
  expiresAt: number;
  /** Quorum queues: how many times it was returned (x-delivery-count), when it was. */
  deliveryCount?: number;
  /**
   * Quorum queues: delivered to a consumer and neither settled nor returned since (Store.markCheckedOut).
   * Read back, it was out when the broker stopped: it comes back counted once more.
   */
  checkedOut?: boolean;
  /**
   * A dead-lettered message held at-least-once: the target queues that already took it, so a
   * retry after a restart does not hand it to them twice.
   */
  settled?: string[];
  /**
   * Its BCC keys (Message.bccKeys): not in its properties, which lost the BCC header at publish,
   * but routed again if it is dead-lettered, after a restart too (as RabbitMQ keeps them).
   */
  bcc?: readonly string[];
}

/** A message read back from a queue's range: a persistent one, or one the queue paged out. */
export interface ReadMessage extends StoredMessage {
  /** Read back in one buffer. */
  body: Buffer;
  /** Written by putPaged: the reader deletes it once it holds the message again. */
  paged: boolean;
}

/** What a range of a queue's messages holds. */
export interface RangeTotals {
  count: number;
  /** Sum of the bodies' sizes. */
  bytes: number;
  /** Highest seq in the range, 0 when it is empty. */
  lastSeq: number;
}

export interface StoredUser {
  name: string;
  /** base64(salt + sha256(salt + password)), RabbitMQ's rabbit_password_hashing_sha256. */
  passwordHash: string;
  tags: string[];
}

export interface StoredVHost {
  name: string;
  description: string;
  /** Absent in records written before vhost metadata was kept. */
  tags?: string[];
  /** default_queue_type of the vhost's metadata; absent when unset (and in older records). */
  defaultQueueType?: string;
}

export interface StoredPermission {
  user: string;
  vhost: string;
  configure: string;
  write: string;
  read: string;
}

/**
 * RabbitMQ's topic permission: on a topic exchange, the routing keys a user may publish with
 * (write) and bind with (read), as regular expressions.
 */
export interface StoredTopicPermission {
  user: string;
  vhost: string;
  exchange: string;
  write: string;
  read: string;
}

/** A JSON value, as runtime parameters hold them. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A vhost's runtime parameter of a plugin's component (a shovel: component 'shovel'). */
export interface StoredParameter {
  vhost: string;
  component: string;
  name: string;
  value: JsonValue;
}

/** A global runtime parameter (RabbitMQ's cluster_name, internal_cluster_id, or any other). */
export interface StoredGlobalParameter {
  name: string;
  value: JsonValue;
}

/** A policy, in RabbitMQ's JSON shape (policies.ts). */
export interface StoredPolicy {
  vhost: string;
  name: string;
  pattern: string;
  'apply-to': 'queues' | 'exchanges' | 'all' | 'classic_queues' | 'quorum_queues' | 'streams';
  definition: { [key: string]: unknown };
  priority: number;
}

/** A vhost's or a user's limits (RabbitMQ's vhost-limits parameter, a user's `limits`). */
export interface StoredLimits {
  scope: 'vhost' | 'user';
  /** The vhost's or the user's name. */
  name: string;
  /** max-connections, max-queues (vhost) or max-channels (user): a negative value is no limit. */
  value: { [limit: string]: number };
}

/** Small records kept as JSON, each named by an id unique within its kind. */
export interface Definitions {
  exchange: StoredExchange;
  binding: StoredBinding;
  user: StoredUser;
  vhost: StoredVHost;
  permission: StoredPermission;
  topicPermission: StoredTopicPermission;
  policy: StoredPolicy;
  operatorPolicy: StoredPolicy;
  limits: StoredLimits;
  globalParameter: StoredGlobalParameter;
  parameter: StoredParameter;
}
export type DefinitionKind = keyof Definitions;
export const DEFINITION_KINDS: DefinitionKind[] = ['vhost', 'user', 'permission', 'topicPermission', 'exchange', 'binding', 'policy', 'operatorPolicy', 'limits', 'globalParameter', 'parameter'];

export interface RecoveredState {
  queues: StoredQueue[];
  definitions: { [K in DefinitionKind]: Definitions[K][] };
  /** False when the last run did not shut down cleanly. */
  cleanShutdown: boolean;
  /**
   * After a clean shutdown, each long queue's stored messages as counted then (by queueKey), so
   * recovery need not count them again. Empty after a crash.
   */
  totals: Map<string, RangeTotals>;
}

export interface Store {
  /**
   * Opens the store and reads back the definitions a previous run left; each queue's messages are
   * read with readMessages, so a long queue never has to be in memory all at once. Paged messages
   * of the previous run are gone: they were transient.
   */
  open(): Promise<RecoveredState>;
  /** Whether paging messages out to this store saves memory (an in-memory store would not). */
  readonly pagesToDisk: boolean;
  /**
   * Whether a queue may keep its messages under more names than its own (a priority queue's levels,
   * priority-tails.ts): a cluster's store maps a queue's name to its stream, and cannot.
   */
  readonly keepsLevelsApart: boolean;
  /**
   * Queues, exchanges and bindings that do not persist (exclusive, non-durable) are written too: a
   * cluster's shared topology, through which other nodes route to them. Their declare-ok and
   * bind-ok then wait for flush(), as durable ones' do.
   */
  readonly sharesTransient: boolean;
  putQueue(q: StoredQueue): void;
  /** Removes the queue's definition and all of its messages, persistent and paged. */
  deleteQueue(vhost: string, name: string): void;
  putDefinition<K extends DefinitionKind>(kind: K, id: string, value: Definitions[K]): void;
  deleteDefinition(kind: DefinitionKind, id: string): void;
  /**
   * Stores a persistent message of the queue. A queue's seqs only grow from one call to the next
   * (within one tick they may come in any order): the store may keep a queue's messages in
   * segments of consecutive ones, which must not overlap (LevelStore keeps a message that breaks
   * this as a record of its own, at a cost). toConsumer: the queue has consumers that keep up, so
   * an ack is likely to come soon (see ackHoldFrom).
   */
  putMessage(vhost: string, queue: string, m: StoredMessage, toConsumer?: boolean): void;
  /**
   * A stored message was delivered and put back: after a clean restart it comes back flagged
   * redelivered (m is the message with redelivered set; its seq is already stored).
   */
  putRedelivered(vhost: string, queue: string, m: StoredMessage): void;
  /**
   * A quorum queue's stored message went to a consumer that must settle it: if the broker stops
   * first, it comes back with checkedOut set, as RabbitMQ's log returns a consumer's messages.
   * putRedelivered (a return) and deleteMessage (a settle) end it.
   */
  markCheckedOut(vhost: string, queue: string, seq: number): void;
  /** Forgets a message (acked); true when it was never written (a put its batch had not taken yet). */
  deleteMessage(vhost: string, queue: string, seq: number): boolean;
  /**
   * Bodies of this many bytes and more (Infinity: none) that putMessage is told go to a consumer
   * may have their write wait for the consumer's ack, which cancels it (write-hold.ts).
   */
  readonly ackHoldFrom: number;
  /**
   * A quorum queue's dead-lettered message that its targets have not all taken yet (at-least-once
   * dead-lettering): kept apart from the queue's messages, dropped with the queue.
   */
  putDeadLetter(vhost: string, queue: string, m: StoredMessage): void;
  deleteDeadLetter(vhost: string, queue: string, seq: number): void;
  /** Every dead-lettered message the queue still holds, in seq order. */
  readDeadLetters(vhost: string, queue: string): Promise<StoredMessage[]>;
  /**
   * Keeps a transient message of a long queue out of memory until it is read back. A queue pages
   * in seq order, reads its paged messages back oldest first (readMessages) and takes each back
   * (deletePaged) in that order: LevelStore's page file (page-file.ts) counts on that order.
   */
  putPaged(vhost: string, queue: string, m: StoredMessage): void;
  deletePaged(vhost: string, queue: string, seq: number): void;
  /**
   * Removes the queue's messages, persistent and paged, from fromSeq on (a purge of its paged
   * part). fromSeq is at most the oldest paged message not taken back: every paged one goes.
   */
  deleteMessagesFrom(vhost: string, queue: string, fromSeq: number): void;
  /** Removes the queue's persistent messages below belowSeq in one range delete (a stream's old segments). */
  deleteMessagesBelow(vhost: string, queue: string, belowSeq: number): void;
  /**
   * The queue's messages, persistent and paged, from fromSeq on in seq order: at most maxCount,
   * and no more once maxBytes of bodies are read (at least one). Sees every mutation queued before
   * the call.
   */
  readMessages(vhost: string, queue: string, fromSeq: number, maxCount: number, maxBytes: number): Promise<ReadMessage[]>;
  /** Counts the queue's messages from fromSeq on, without keeping them. */
  countMessages(vhost: string, queue: string, fromSeq: number): Promise<RangeTotals>;
  /** The highest seq of the queue's persistent messages, 0 when it has none. */
  lastSeq(vhost: string, queue: string): Promise<number>;
  /** Records a queue's totals for the next start (at a clean shutdown, just before close). */
  putTotals(vhost: string, queue: string, totals: RangeTotals): void;
  /**
   * Resolves when every mutation queued so far is written; rejects if the write failed. hurry
   * false: the caller can wait, and the store may hold its next write back a little, so that
   * deletes queued meanwhile cancel puts (a message acked before it is written is never written).
   * waitForAcks (with hurry false): the caller can wait for the acks of large bodies on their way to
   * consumers too, a hold of up to 200 ms (a publisher that keeps a window of confirms, a body's
   * release; write-hold.ts).
   */
  flush(hurry?: boolean, waitForAcks?: boolean): Promise<void>;
  /**
   * Resolves when the definitions written so far (queues, exchanges, bindings) are, without
   * waiting for message writes: a declare-ok or delete-ok. A store whose message writes can fail
   * apart from its definitions' (a cluster's, where a queue changing hands fails its writes in
   * flight) has one; without it, flush() serves.
   */
  flushDefinitions?(): Promise<void>;
  /**
   * Resolves (never rejects) once the store has made progress on its backlog: the write in flight
   * is done, or, when none is, the next one. A publisher paused on backlogBytes waits on this and
   * looks again, rather than on flush(): the batch after the one in flight then fills while that
   * one is written, and the disk is never idle between batches. False, at once, when nothing is
   * being written or waiting to be.
   */
  progress(): Promise<boolean>;
  /**
   * Bytes of message values queued or being written and not yet on disk. Publishers pause while
   * this is high (connection.ts), so a disk slower than the network cannot pile batches up in memory.
   */
  readonly backlogBytes: number;
  /** Called after each batch is written, with how long it took (for the write latency metric). */
  onWrite?: ((seconds: number) => void) | undefined;
  /** Flushes, records a clean shutdown and closes. */
  close(): Promise<void>;
}

export const queueKey = (vhost: string, name: string): string => `${vhost}\0${name}`;

/** Ids of definitions: unique within their kind across vhosts. */
export const definitionId = {
  exchange: (vhost: string, name: string): string => `${vhost}\0${name}`,
  binding: (b: StoredBinding): string =>
    [b.vhost, b.source, b.destinationKind, b.destination, b.routingKey, b.arguments.toString('base64')].join('\0'),
  user: (name: string): string => name,
  vhost: (name: string): string => name,
  permission: (user: string, vhost: string): string => `${vhost}\0${user}`,
  topicPermission: (user: string, vhost: string, exchange: string): string => `${vhost}\0${user}\0${exchange}`,
  policy: (vhost: string, name: string): string => `${vhost}\0${name}`,
  limits: (scope: 'vhost' | 'user', name: string): string => `${scope}\0${name}`,
  globalParameter: (name: string): string => name,
  parameter: (vhost: string, component: string, name: string): string => `${vhost}\0${component}\0${name}`,
};
