// What nodes say to each other about queues, over NATS core subjects (one inbox per node):
// a JSON header, then the message's content properties and body as they are, uncopied.
// [u32 header length][header JSON][properties][body]; the header says how long the properties are.
import { Buffer } from 'node:buffer';

export type WireHeader =
  /**
   * A publish routed on the sender to a queue the receiver owns; answered by pubok. fi: the
   * sender's incarnation (its startedAt): a node restarted under its name is a new sender. s counts the
   * pubs of a generation from 0: NATS core may drop a message (a route still forming after a server
   * restarts, a slow consumer cut off), and a gap must not be covered by a later pubok. mid: the
   * id of a stream write of this message by the sender, its owner until the queue moved, not
   * acknowledged then: the owner takes it in only if its read of the stream did not find it.
   */
  | { t: 'pub'; v: string; q: string; id: number; gen: number; s: number; from: string; fi?: number; ex: string; rk: string; pl: number; mid?: string }
  /**
   * Every pub of that generation up to id is in the queue (and stored, if it persists), except
   * those in rej, which the queue's x-overflow reject-publish refused (their confirms are nacks).
   * to: the sender's incarnation the answer is for (pub.fi: its startedAt), ignored by a later one.
   */
  | { t: 'pubok'; v: string; q: string; upTo: number; gen: number; rej?: number[]; to?: number }
  /**
   * A consumer on the sender's node; deliveries come back as dlv, at most credit unacked. x: it
   * consumes exclusively. Refused with subno when the queue is in exclusive use.
   */
  | { t: 'sub'; v: string; q: string; cid: string; from: string; credit: number; priority: number; x?: boolean; w?: true; h?: number }
  /**
   * w subscriptions (a consumer without a prefetch, or no-ack): credit is a window of deliveries
   * on the way, not of unacked ones; the sender gives n of it back as it hands them to its client.
   * A sub's h: deliveries of the queue its consumer already holds (from an earlier owner, or a
   * subscription before this one), counted against its prefetch until the sender gives them back
   * with credit as they are settled.
   */
  | { t: 'credit'; cid: string; n: number }
  | { t: 'subno'; cid: string }
  /** May a consumer (exclusive if x) join the queue? Asked before consume-ok; answered by ca. */
  | { t: 'cq'; v: string; q: string; rid: number; from: string; x: boolean }
  | { t: 'ca'; rid: number; ok: boolean }
  /** The queue's counts now (a declare-ok through the sender), answered by cnt: RabbitMQ's are current. */
  | { t: 'cnt?'; v: string; q: string; rid: number; from: string }
  | { t: 'cnt'; rid: number; m: number; u: number; c: number }
  /**
   * Has the receiver applied the shared topology up to KV revision rev (a declare the sender is
   * about to answer)? Answered by seen once it has: a declare-ok then means every node routes to
   * the new queue, as RabbitMQ's (its declares are cluster-wide transactions).
   */
  | { t: 'seen?'; rid: number; from: string; rev: number }
  | { t: 'seen'; rid: number }
  | { t: 'unsub'; cid: string }
  /** The owner cancelled a consumer (its queue went away). */
  | { t: 'cancel'; cid: string }
  /** os: the message's seq on the owner (what a new owner finds it by: see held?). */
  | { t: 'dlv'; o: string; cid: string; did: number; os?: number; r: boolean; dc?: number; ex: string; rk: string; pl: number }
  /**
   * A new owner asks every node which of the queue's messages its clients hold (delivered by the
   * old owner, not settled): answered by held with [cid, did, os] of each. They stay out with those
   * clients, as RabbitMQ's quorum queues keep a live consumer's messages across a leader change.
   */
  | { t: 'held?'; v: string; q: string; rid: number; from: string }
  /**
   * s: deliveries settled after their owner went ([cid, did, os, op]); r: every settlement of the
   * last seconds (os × 4 + op's index in ack, requeue, drop), one sent to an owner that died
   * before the node noticed included: the new owner settles them.
   */
  | { t: 'held'; rid: number; d: [string, number, number][]; s?: [string, number, number, 'ack' | 'requeue' | 'drop'][]; r?: number[] }
  /**
   * Settlements of deliveries: ack, requeue (nack/reject requeue=true) or drop (requeue=false).
   * gone: requeued because their channel closed (Queue.requeue's released); a node that does not
   * know the field requeues them as returns.
   */
  | { t: 'settle'; op: 'ack' | 'requeue' | 'drop'; d: [string, number][]; gone?: true }
  /** basic.get on the sender's node; answered by got. */
  | { t: 'get'; v: string; q: string; rid: number; from: string; cid: string }
  /** moved: the receiver does not own the queue (the sender finds the owner and asks again). */
  | { t: 'got'; rid: number; did?: number; os?: number; r?: boolean; dc?: number; ex?: string; rk?: string; pl?: number; n: number; moved?: boolean }
  /** rid: answered by purged with how many went (moved: the receiver does not own the queue). */
  | { t: 'purge'; v: string; q: string; rid?: number; from?: string }
  | { t: 'purged'; rid: number; n: number; moved?: true }
  /** The queue was declared or used on the sender: its x-expires lease starts again. */
  | { t: 'touch'; v: string; q: string }
  /**
   * The receiver does not own that queue (any more), or could not keep pubs of generation gen: the
   * sender finds the owner again and sends every unanswered pub anew, in the next generation.
   * The receiver refuses the rest of that generation, so no later pubok can cover a lost pub.
   * gap: the receiver is the owner, but a pub of the generation never reached it.
   */
  | { t: 'moved'; v: string; q: string; gen: number; gap?: boolean; to?: number }
  /** A reply published on the sender to a direct reply-to name of the receiver's. */
  | { t: 'reply'; v: string; rk: string; ex: string; pl: number }
  /** The owner's counts of its queues, every second, to every node. */
  | {
      t: 'stats';
      from: string;
      /** Owned queues: vhost, name, ready, unacked, consumers, members. */
      qs: [string, string, number, number, number, string[]][];
      /** Streams this node's clients consume: vhost, name, consumers, unacked (optional: older nodes send none). */
      ss?: [string, string, number, number][];
    };

export function encodeWire(h: WireHeader, props?: Buffer, body?: Buffer): Uint8Array {
  const json = Buffer.from(JSON.stringify(h));
  const parts: Buffer[] = [Buffer.allocUnsafe(4), json];
  parts[0]!.writeUInt32BE(json.length, 0);
  if (props) parts.push(props);
  if (body) parts.push(body);
  return Buffer.concat(parts);
}

export interface DecodedWire {
  h: WireHeader;
  props: Buffer;
  body: Buffer;
}

export function decodeWire(data: Uint8Array): DecodedWire {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const hl = buf.readUInt32BE(0);
  const h = JSON.parse(buf.toString('utf8', 4, 4 + hl)) as WireHeader;
  const pl = 'pl' in h && typeof h.pl === 'number' ? h.pl : 0;
  const start = 4 + hl;
  return { h, props: buf.subarray(start, start + pl), body: buf.subarray(start + pl) };
}

/** A node's inbox subject (names may hold any character; subjects may not). */
export const inboxOf = (node: string): string => `warren.node.${Buffer.from(node).toString('base64url')}`;
export const STATS_SUBJECT = 'warren.stats';
