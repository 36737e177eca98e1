// Broker-wide counters in the shape of RabbitMQ's rabbit_global_counters and rabbit_core_metrics'
// churn: what was received, routed, confirmed, delivered (by queue type and ack mode), dead-lettered
// (by queue type, strategy and reason), and how many connections, channels and queues came and
// went. Plain increments on the hot path; whoever reports them (Prometheus) reads them.
import type { DeathReason } from './dead-letter.js';
import type { QueueTypeName } from './queue-types/index.js';

/** Counters RabbitMQ keeps per protocol and queue type. */
export class DeliveryCounters {
  consumeAutoAck = 0;
  consumeManualAck = 0;
  getAutoAck = 0;
  getManualAck = 0;
  getEmpty = 0;
  redelivered = 0;
  acknowledged = 0;
}

/** How a queue dead-letters: RabbitMQ's dead_letter_strategy label. */
export type DeadLetterStrategy = 'disabled' | 'at_most_once' | 'at_least_once';

/** Upper bounds of RabbitMQ 4's message size histogram, bytes (the last bucket is +Inf). */
export const MESSAGE_SIZE_BOUNDS = [100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 50_000_000, 100_000_000] as const;

export class GlobalCounters {
  // Per protocol (Warren speaks only AMQP 0-9-1).
  received = 0;
  receivedConfirm = 0;
  routed = 0;
  unroutableDropped = 0;
  unroutableReturned = 0;
  confirmed = 0;
  // Churn (rabbit_core_metrics' connection_churn_metrics).
  connectionsOpened = 0;
  connectionsClosed = 0;
  channelsOpened = 0;
  channelsClosed = 0;
  queuesDeclared = 0;
  queuesCreated = 0;
  queuesDeleted = 0;
  /** Messages deleted classic queues wrote to the store and read back (the overview's disk_* go on counting them, as 3.10.8's). */
  diskWritesOfDeleted = 0;
  diskReadsOfDeleted = 0;
  // Logins over AMQP.
  authSucceeded = 0;
  authFailed = 0;
  /** Bodies of received messages by size: counts per bucket of MESSAGE_SIZE_BOUNDS, then above. */
  readonly sizeBuckets = new Array<number>(MESSAGE_SIZE_BOUNDS.length + 1).fill(0);
  sizeSum = 0;
  readonly delivery: Record<QueueTypeName, DeliveryCounters> = {
    classic: new DeliveryCounters(),
    quorum: new DeliveryCounters(),
    stream: new DeliveryCounters(),
  };
  /** Dead letters by "queue type/strategy/reason"; see deadLettered(). */
  readonly deadLetters = new Map<string, number>();
  /** At-least-once dead letters every target has taken (RabbitMQ's dead_lettered_confirmed). */
  deadLettersConfirmed = 0;

  /** The delivery counters of a queue type (an unknown type counts as classic). */
  forType(type: string): DeliveryCounters {
    return this.delivery[type as QueueTypeName] ?? this.delivery.classic;
  }

  /** One message body received from a publisher. */
  receivedBody(bytes: number): void {
    this.received++;
    this.sizeSum += bytes;
    let i = 0;
    while (i < MESSAGE_SIZE_BOUNDS.length && bytes > MESSAGE_SIZE_BOUNDS[i]!) i++;
    this.sizeBuckets[i]!++;
  }

  deadLettered(type: string, strategy: DeadLetterStrategy, reason: DeathReason): void {
    const key = deadLetterKey(type, strategy, reason);
    this.deadLetters.set(key, (this.deadLetters.get(key) ?? 0) + 1);
  }

  deadLetteredCount(type: string, strategy: DeadLetterStrategy, reason: DeathReason): number {
    return this.deadLetters.get(deadLetterKey(type, strategy, reason)) ?? 0;
  }
}

const deadLetterKey = (type: string, strategy: DeadLetterStrategy, reason: DeathReason): string => `${type}/${strategy}/${reason}`;
