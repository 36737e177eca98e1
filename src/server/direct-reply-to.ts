// Direct reply-to (RabbitMQ's amq.rabbitmq.reply-to): an RPC client consumes, without acks, from
// this pseudo-queue; requests it publishes with reply_to set to it carry a routable name of the
// channel instead, and replies published to that name go straight to the consumer, no queue between.
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { Writer, encodeBasicProperties } from '../frames/index.js';
import type { Message } from './message.js';

export const REPLY_TO = 'amq.rabbitmq.reply-to';
export const REPLY_TO_PREFIX = 'amq.rabbitmq.reply-to.';

/** What the registry needs of a channel that consumes replies. */
export interface ReplyReceiver {
  deliverReply(routingKey: string, msg: Message): void;
}

/**
 * In a cluster, reply names carry the node (as RabbitMQ's encode node and pid), and a reply for a
 * name of another node goes there (src/cluster/).
 */
export interface RemoteReplies {
  /** Put in this node's reply names (letters, digits, '-' and '_'). */
  readonly nodeTag: string;
  /** A receiver that forwards to the node whose name this is, or undefined. */
  lookup(name: string): ReplyReceiver | undefined;
}

export class ReplyRegistry {
  private readonly receivers = new Map<string, ReplyReceiver>();
  remote: RemoteReplies | null = null;

  /** The first part of a single node's reply names (a cluster's is the node's tag). */
  private readonly localTag = randomBytes(12).toString('base64url');

  /**
   * Registers a reply consumer; returns the routing key replies to it must use. Shaped as
   * RabbitMQ's, `amq.rabbitmq.reply-to.<where>.<key>` with a base64 key of 16 random bytes (its
   * `==` included): php-amqp's tests match the name against that shape.
   */
  register(r: ReplyReceiver): string {
    const name = `${REPLY_TO_PREFIX}${this.remote ? this.remote.nodeTag : this.localTag}.${randomBytes(16).toString('base64')}`;
    this.receivers.set(name, r);
    return name;
  }

  unregister(name: string): void {
    this.receivers.delete(name);
  }

  lookup(name: string): ReplyReceiver | undefined {
    return this.receivers.get(name) ?? this.remote?.lookup(name);
  }

  /** A receiver on this node only (a reply forwarded from another node). */
  lookupLocal(name: string): ReplyReceiver | undefined {
    return this.receivers.get(name);
  }
}

/** True when the message asks for replies through the pseudo-queue. */
export function wantsDirectReply(msg: Message, replyToAt: number): boolean {
  // Its bytes first (RPC requests all carry a reply_to, nearly always a queue's name): decoding
  // the properties of each was half of basic.publish's time in goperf's RPC; then decoded, as
  // before, for the few that match (a list that does not decode reads as no reply_to).
  const p = msg.properties;
  if (p[replyToAt] !== REPLY_TO.length) return false;
  for (let i = 0; i < REPLY_TO.length; i++) if (p[replyToAt + 1 + i] !== REPLY_TO.charCodeAt(i)) return false;
  return msg.decoded().replyTo === REPLY_TO;
}

/** The message's properties with reply_to replaced by the channel's reply name. */
export function withReplyTo(msg: Message, name: string): Buffer {
  const w = new Writer(256);
  encodeBasicProperties(w, { ...msg.decoded(), replyTo: name });
  return Buffer.from(w.take());
}
