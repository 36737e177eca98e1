// The ConfirmTracker's frames for a mix of outcomes: publishes that wait for the store (kept as a
// run of seqs, or apart when they do not extend it), refused ones (nacks), ones acked on their own
// (routed nowhere), across ticks and a failed write. What the client sees must be exactly the
// in-order acks and nacks RabbitMQ sends.
import { describe, expect, it } from 'vitest';
import { ConfirmTracker } from '../../src/server/confirms.js';
import { MessageStats } from '../../src/server/stats.js';
import type { MethodInit } from '../../src/frames/index.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function tracker(flushes: { resolve: () => void; reject: (e: Error) => void }[]) {
  const sent: string[] = [];
  const stats = new MessageStats();
  const t = new ConfirmTracker(
    (m: MethodInit) => {
      const a = m.args as { deliveryTag: number; multiple: boolean };
      sent.push(`${m.id === 0x3c0050 ? 'ack' : 'nack'} ${a.deliveryTag}${a.multiple ? '+' : ''}`);
    },
    () => new Promise<void>((resolve, reject) => flushes.push({ resolve, reject })),
    stats,
  );
  return { t, sent, stats };
}

describe('ConfirmTracker', () => {
  it('a run of stored publishes is one multiple ack once the store is done', async () => {
    const flushes: { resolve: () => void; reject: (e: Error) => void }[] = [];
    const { t, sent, stats } = tracker(flushes);
    for (let i = 0; i < 5; i++) t.settleAfterStore(t.next());
    await tick();
    expect(flushes.length).toBe(1);
    expect(sent).toEqual([]);
    flushes[0]!.resolve();
    await tick();
    expect(sent).toEqual(['ack 5+']);
    expect(stats.confirm).toBe(5);
  });

  it('refusals, lone acks and a second write in between keep the order', async () => {
    const flushes: { resolve: () => void; reject: (e: Error) => void }[] = [];
    const { t, sent, stats } = tracker(flushes);
    t.settleAfterStore(t.next()); // 1
    t.settleAfterStore(t.next()); // 2
    t.settle(t.next(), false); // 3 refused
    t.settleAfterStore(t.next()); // 4: does not extend the run 1..2
    t.ackNow(t.next()); // 5 routed nowhere
    t.settleAfterStore(t.next()); // 6
    await tick();
    expect(sent).toEqual(['ack 5']);
    // A later tick's publishes go to a second write, which finishes first.
    t.settleAfterStore(t.next()); // 7
    t.settleAfterStore(t.next()); // 8
    await tick();
    expect(flushes.length).toBe(2);
    flushes[1]!.resolve();
    await tick();
    expect(sent).toEqual(['ack 5']);
    flushes[0]!.resolve();
    await tick();
    expect(sent).toEqual(['ack 5', 'ack 2+', 'nack 3', 'ack 8+']);
    expect(stats.confirm).toBe(7);
  });

  it('a failed write nacks each of its publishes', async () => {
    const flushes: { resolve: () => void; reject: (e: Error) => void }[] = [];
    const { t, sent } = tracker(flushes);
    for (let i = 0; i < 3; i++) t.settleAfterStore(t.next());
    await tick();
    flushes[0]!.reject(new Error('disk'));
    await tick();
    expect(sent).toEqual(['nack 1', 'nack 2', 'nack 3']);
  });
});
