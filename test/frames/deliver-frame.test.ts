// A consumer's DeliverFrame keeps its last basic.deliver frame and writes the next delivery's tag and
// redelivered flag into a copy: whatever the sequence of deliveries, each frame must be the bytes
// the generic encoder gives for the same basic.deliver. writeSmallContent likewise against the
// content header and body frame written one field at a time.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DeliverFrame,
  M,
  Writer,
  writeBodyFrames,
  writeDeliverFrame,
  writeHeaderFrame,
  writeMethodFrame,
  writeSmallContent,
} from '../../src/frames/index.js';

const name = fc.oneof(fc.constantFrom('', 'amq.ctag-1', 'amq.ctag-2', 'q', 'amq.direct', 'é-ü'), fc.string({ maxLength: 80 }));
const delivery = fc.record({
  deliveryTag: fc.oneof(fc.integer({ min: 1, max: 2 ** 32 + 10 }), fc.constant(Number.MAX_SAFE_INTEGER)),
  redelivered: fc.boolean(),
  exchange: name,
  routingKey: name,
});

function generic(channel: number, args: { consumerTag: string; deliveryTag: number; redelivered: boolean; exchange: string; routingKey: string }): Buffer {
  const w = new Writer();
  writeMethodFrame(w, channel, { id: M.BasicDeliver, args });
  return w.take();
}

describe('basic.deliver frames', () => {
  it('are the generic encoder’s bytes for any sequence of deliveries to one consumer', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), name, fc.array(delivery, { minLength: 1, maxLength: 12 }), (channel, consumerTag, ds) => {
        // A small writer, so that some frames make it move to a bigger buffer.
        const fast = new Writer(64, 64);
        const frame = new DeliverFrame(channel, consumerTag);
        for (const d of ds) {
          frame.write(fast, d.deliveryTag, d.redelivered, d.exchange, d.routingKey);
          expect(Buffer.from(fast.take())).toEqual(generic(channel, { consumerTag, ...d }));
        }
      }),
    );
  });

  it('refuses a name over 255 bytes without writing, and then writes the next delivery right', () => {
    const w = new Writer();
    const frame = new DeliverFrame(1, 'tag');
    expect(() => frame.write(w, 1, false, '', 'x'.repeat(256))).toThrow(RangeError);
    expect(w.length).toBe(0);
    frame.write(w, 2, true, '', 'q');
    expect(Buffer.from(w.take())).toEqual(generic(1, { consumerTag: 'tag', deliveryTag: 2, redelivered: true, exchange: '', routingKey: 'q' }));
    expect(() => writeDeliverFrame(w, 1, 'x'.repeat(256), 1, false, '', 'q')).toThrow(RangeError);
  });
});

describe('small content', () => {
  it('is the header and body frames written field by field', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (channel, p, b) => {
        const props = Buffer.from(p);
        const body = Buffer.from(b);
        const fast = new Writer(64, 64);
        writeSmallContent(fast, channel, props, body);
        const slow = new Writer();
        writeHeaderFrame(slow, channel, body.length, props);
        writeBodyFrames(slow, channel, body, 4096);
        expect(Buffer.from(fast.take())).toEqual(slow.take());
      }),
    );
  });
});
