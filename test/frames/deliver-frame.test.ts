// writeDeliverFrame keeps the bytes of the last consumer tag, exchange and routing key it wrote
// (Writer.shortstrIn): whatever the sequence of deliveries, each frame must be the bytes the
// generic encoder gives for the same basic.deliver.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { M, Writer, writeDeliverFrame, writeMethodFrame } from '../../src/frames/index.js';

const name = fc.oneof(fc.constantFrom('', 'amq.ctag-1', 'amq.ctag-2', 'q', 'amq.direct', 'é-ü'), fc.string({ maxLength: 80 }));
const delivery = fc.record({
  consumerTag: name,
  deliveryTag: fc.oneof(fc.integer({ min: 1, max: 2 ** 32 + 10 }), fc.constant(Number.MAX_SAFE_INTEGER)),
  redelivered: fc.boolean(),
  exchange: name,
  routingKey: name,
  channel: fc.integer({ min: 1, max: 65535 }),
});

describe('basic.deliver frames', () => {
  it('are the generic encoder’s bytes for any sequence of deliveries', () => {
    fc.assert(
      fc.property(fc.array(delivery, { minLength: 1, maxLength: 12 }), (ds) => {
        const fast = new Writer(64, 64);
        for (const d of ds) {
          writeDeliverFrame(fast, d.channel, d.consumerTag, d.deliveryTag, d.redelivered, d.exchange, d.routingKey);
          const got = Buffer.from(fast.take());
          const generic = new Writer();
          const { channel, ...args } = d;
          writeMethodFrame(generic, channel, { id: M.BasicDeliver, args });
          expect(got).toEqual(generic.take());
        }
      }),
    );
  });

  it('refuses a name over 255 bytes, as before, and then writes the next delivery right', () => {
    const w = new Writer();
    expect(() => writeDeliverFrame(w, 1, 'x'.repeat(256), 1, false, '', 'q')).toThrow(RangeError);
    w.rewind(0);
    writeDeliverFrame(w, 1, 'tag', 2, false, '', 'q');
    const generic = new Writer();
    writeMethodFrame(generic, 1, { id: M.BasicDeliver, args: { consumerTag: 'tag', deliveryTag: 2, redelivered: false, exchange: '', routingKey: 'q' } });
    expect(Buffer.from(w.take())).toEqual(generic.take());
  });
});
