// UnackedMap keeps deliveries in arrays in tag order instead of a Map: under any sequence of the
// channel's operations it must hold what a Map would, in the same order, and keep the queue's
// unacked counters right.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UnackedMap, type Unacked } from '../../src/server/unacked.js';

interface FakeQueue {
  unackedCount: number;
  unackedBytes: number;
  unackedPersistent: number;
  unackedPersistentBytes: number;
}

const queue = (): FakeQueue => ({ unackedCount: 0, unackedBytes: 0, unackedPersistent: 0, unackedPersistentBytes: 0 });

function delivery(tag: number, q: FakeQueue): Unacked {
  const body = Buffer.alloc(tag % 7);
  const msg = { body, bodySize: body.length, persistent: tag % 2 === 0 };
  return { tag, entry: { msg, redelivered: false, expiresAt: 0 }, queue: q, consumer: null, at: 0 } as unknown as Unacked;
}

type Op = { op: 'add' } | { op: 'addLower'; back: number } | { op: 'ack'; pick: number } | { op: 'multi'; pick: number } | { op: 'clear' } | { op: 'get'; pick: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.constant({ op: 'add' as const }) },
  { weight: 1, arbitrary: fc.nat(20).map((back) => ({ op: 'addLower' as const, back })) },
  { weight: 4, arbitrary: fc.nat().map((pick) => ({ op: 'ack' as const, pick })) },
  { weight: 2, arbitrary: fc.nat().map((pick) => ({ op: 'multi' as const, pick })) },
  { weight: 2, arbitrary: fc.nat().map((pick) => ({ op: 'get' as const, pick })) },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
);

describe('UnackedMap', () => {
  it('behaves as a Map in tag order, and keeps the queue counters', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 3000 }), (ops) => {
        const q = queue();
        const m = new UnackedMap();
        const model = new Map<number, Unacked>();
        let next = 1;
        for (const o of ops) {
          const tags = [...model.keys()].sort((a, b) => a - b);
          const pickTag = (pick: number): number => (tags.length > 0 && pick % 4 !== 0 ? tags[pick % tags.length]! : pick % (next + 2));
          switch (o.op) {
            case 'add': {
              const u = delivery(next, q as never);
              m.set(next, u);
              model.set(next, u);
              next++;
              break;
            }
            case 'addLower': {
              const tag = Math.max(1, next - 1 - o.back);
              const u = delivery(tag, q as never);
              if (!model.has(tag)) {
                m.set(tag, u);
                model.set(tag, u);
              }
              break;
            }
            case 'ack': {
              const tag = pickTag(o.pick);
              expect(m.delete(tag)).toBe(model.delete(tag));
              break;
            }
            case 'multi': {
              const tag = pickTag(o.pick);
              const out: Unacked[] = [];
              m.takeThrough(tag, out);
              const want = tags.filter((t) => t <= tag).map((t) => model.get(t)!);
              for (const u of want) model.delete(u.tag);
              expect(out).toEqual(want);
              break;
            }
            case 'get': {
              const tag = pickTag(o.pick);
              expect(m.get(tag)).toBe(model.get(tag));
              expect(m.has(tag)).toBe(model.has(tag));
              break;
            }
            case 'clear':
              m.clear();
              model.clear();
              break;
          }
          expect(m.size).toBe(model.size);
        }
        const sorted = [...model.values()].sort((a, b) => a.tag - b.tag);
        expect([...m.values()]).toEqual(sorted);
        expect(q.unackedCount).toBe(model.size);
        expect(q.unackedBytes).toBe(sorted.reduce((n, u) => n + u.entry.msg.body.length, 0));
        expect(q.unackedPersistent).toBe(sorted.filter((u) => u.entry.msg.persistent).length);
        expect(q.unackedPersistentBytes).toBe(sorted.filter((u) => u.entry.msg.persistent).reduce((n, u) => n + u.entry.msg.body.length, 0));
      }),
      { numRuns: 300 },
    );
  });

  it('stays small however long it runs: the taken front is dropped', () => {
    const q = queue();
    const m = new UnackedMap();
    for (let t = 1; t <= 200_000; t++) {
      m.set(t, delivery(t, q as never));
      if (t % 100 === 0) m.takeThrough(t - 1000, []);
    }
    expect(m.size).toBe(1000);
    expect((m as unknown as { tags: number[] }).tags.length).toBeLessThan(4000);
    expect([...m.values()][0]!.tag).toBe(199_001);
  });
});
