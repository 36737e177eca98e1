// When a pooled body (src/frames/body-pool.ts) goes back to the pool: only after a single message,
// queue and delivery, and never once anything else has read it (Message.recycle). And the slab
// filler's bytes, across slab boundaries.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PooledBody, SLAB_SIZE, SlabFiller, joinBody, slabPool } from '../../src/frames/index.js';
import { Message } from '../../src/server/message.js';

const PROPS = Buffer.from([0, 0]);

function pooled(bytes: Buffer): PooledBody {
  const f = new SlabFiller();
  // In uneven frames, as a publisher's body frames come.
  for (let at = 0; at < bytes.length; at += 40_001) f.add(bytes, at, Math.min(bytes.length, at + 40_001));
  return f.finish(bytes.length);
}

const message = (body: PooledBody): Message => new Message(1, '', 'q', PROPS, body, false);

describe('pooled bodies', () => {
  it('hold exactly the bytes they were filled with, across slabs', () => {
    for (const size of [1, SLAB_SIZE - 1, SLAB_SIZE, SLAB_SIZE + 1, 3 * SLAB_SIZE + 17]) {
      const bytes = randomBytes(size);
      const body = pooled(bytes);
      expect(body.size).toBe(size);
      expect(body.slabs.length).toBe(Math.ceil(size / SLAB_SIZE));
      expect(joinBody(body).equals(bytes)).toBe(true);
    }
  });

  it('go back after one queue, one delivery and its ack, and are then refused to readers', () => {
    const body = pooled(randomBytes(2 * SLAB_SIZE + 5));
    const m = message(body);
    m.queued();
    expect(m.deliverable()).toBe(body);
    const idle = slabPool.idleCount;
    m.recycle();
    expect(body.recycled).toBe(true);
    expect(slabPool.idleCount).toBe(idle + 3);
    expect(() => m.deliverable()).toThrow(/went back to the pool/);
    expect(() => m.content).toThrow(/went back to the pool/);
    m.recycle(); // a second call gives nothing back twice
    expect(slabPool.idleCount).toBe(idle + 3);
  });

  it('stay out of the pool once shared or read for anything but a delivery', () => {
    const cases: Array<[string, (m: Message, b: PooledBody) => void]> = [
      ['a second message with the same body', (_m, b) => void message(b)],
      ['a second queue', (m) => m.queued()],
      ['a second delivery', (m) => m.deliverable()],
      ['content (a store write, a page, a trace)', (m) => void m.content],
      ['body (a copy, a dead letter)', (m) => void m.body],
    ];
    for (const [what, extra] of cases) {
      const body = pooled(randomBytes(SLAB_SIZE + 1));
      const m = message(body);
      m.queued();
      m.deliverable();
      extra(m, body);
      const idle = slabPool.idleCount;
      m.recycle();
      expect(body.recycled, what).toBe(false);
      expect(slabPool.idleCount, what).toBe(idle);
    }
  });

  it('acked while a store write holds them go back only when the write is done, and never if it failed', () => {
    for (const failed of [false, true]) {
      const body = pooled(randomBytes(SLAB_SIZE + 1));
      const m = message(body);
      m.queued();
      expect(m.storable()).toBe(body);
      m.deliverable();
      const idle = slabPool.idleCount;
      m.recycle(); // acked: the store still reads it
      expect(body.recycled).toBe(false);
      expect(slabPool.idleCount).toBe(idle);
      m.unstored(failed);
      expect(body.recycled).toBe(!failed);
      expect(slabPool.idleCount).toBe(failed ? idle : idle + 2);
    }
    // Written before the ack: given back at the ack.
    const body = pooled(randomBytes(100));
    const m = message(body);
    m.queued();
    m.storable();
    m.deliverable();
    m.unstored();
    expect(body.recycled).toBe(false);
    m.recycle();
    expect(body.recycled).toBe(true);
  });

  it('that were never delivered, or never queued, stay out of the pool', () => {
    const a = message(pooled(randomBytes(100)));
    a.queued();
    a.recycle();
    const b = message(pooled(randomBytes(100)));
    b.deliverable();
    b.recycle();
    expect(a.deliverable()).toBeDefined();
    expect(b.deliverable()).toBeDefined();
  });
});
