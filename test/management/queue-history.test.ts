// The per-queue history's memory bound and sampling, with stand-in queues (no broker needed).
import { describe, expect, it } from 'vitest';
import type { Broker } from '../../src/server/broker.js';
import type { Queue } from '../../src/server/queue.js';
import { MessageStats } from '../../src/server/stats.js';
import { QueueHistory } from '../../src/management/queue-history.js';

interface FakeQueue {
  name: string;
  deleted: boolean;
  messageCount: number;
  unackedTotal: number;
  deadLetterCount: number;
  stats: MessageStats;
}

function fakeBroker(n: number): { broker: Broker; queues: FakeQueue[]; add(name: string): FakeQueue } {
  const map = new Map<string, FakeQueue>();
  const queues: FakeQueue[] = [];
  const add = (name: string): FakeQueue => {
    const q: FakeQueue = { name, deleted: false, messageCount: 0, unackedTotal: 0, deadLetterCount: 0, stats: new MessageStats() };
    map.set(name, q);
    queues.push(q);
    return q;
  };
  for (let i = 0; i < n; i++) add(`q${i}`);
  const broker = { vhosts: new Map([['/', { queues: map }]]) } as unknown as Broker;
  return { broker, queues, add };
}
const asQueue = (q: FakeQueue): Queue => q as unknown as Queue;

describe('QueueHistory', () => {
  it('follows every queue while there are few, newest sample first, at the asked spacing', () => {
    const { broker, queues } = fakeBroker(3);
    const h = new QueueHistory(broker, 10);
    const t0 = 1_000_000;
    for (let i = 0; i < 13; i++) {
      queues[0]!.messageCount = i;
      queues[0]!.stats.publish = i * 10;
      h.sample(t0 + i * 5000);
    }
    expect(h.size).toBe(3);
    const now = t0 + 12 * 5000;
    const all = h.samples(asQueue(queues[0]!), 60, 5, now);
    expect(all).toHaveLength(13);
    expect(all[0]).toMatchObject({ timestamp: now, messages_ready: 12, messages: 12, publish: 120 });
    expect(all[12]!.timestamp).toBe(t0);
    const sparse = h.samples(asQueue(queues[0]!), 60, 10, now);
    expect(sparse.map((s) => s.messages_ready)).toEqual([12, 10, 8, 6, 4, 2, 0]);
    expect(h.samples(asQueue(queues[0]!), 20, 5, now)).toHaveLength(5);
  });

  it('keeps 10 minutes (120 samples) per queue', () => {
    const { broker, queues } = fakeBroker(1);
    const h = new QueueHistory(broker, 10);
    for (let i = 0; i < 300; i++) h.sample(i * 5000);
    const s = h.samples(asQueue(queues[0]!), 3600, 5, 299 * 5000);
    expect(s).toHaveLength(120);
    expect(s[119]!.timestamp).toBe(180 * 5000);
  });

  it('with more queues than it follows: only those asked about, at most max, least recently asked dropped', () => {
    const { broker, queues } = fakeBroker(50);
    const h = new QueueHistory(broker, 10);
    h.sample(0);
    expect(h.size).toBe(0);
    for (let i = 0; i < 15; i++) h.touch(asQueue(queues[i]!), 1000 + i);
    expect(h.size).toBe(10);
    // q0..q4 were asked first: dropped.
    expect(h.samples(asQueue(queues[0]!), 60, 5, 5000)).toEqual([]);
    h.sample(5000);
    expect(h.samples(asQueue(queues[14]!), 60, 5, 5000).length).toBeGreaterThanOrEqual(1);
    // Not asked about for more than 10 minutes: dropped at the next sample.
    h.touch(asQueue(queues[20]!), 600_000);
    h.sample(700_000);
    expect(h.size).toBe(1);
    // A deleted queue is dropped.
    queues[20]!.deleted = true;
    h.sample(705_000);
    expect(h.size).toBe(0);
  });

  it('memory stays bounded with 10,000 queues', () => {
    const { broker, queues } = fakeBroker(10_000);
    const h = new QueueHistory(broker);
    for (let i = 0; i < 5; i++) h.sample(i * 5000);
    expect(h.size).toBe(0);
    for (const q of queues) h.touch(asQueue(q), 30_000);
    expect(h.size).toBe(1000);
  });
});
