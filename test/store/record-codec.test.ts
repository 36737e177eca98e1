// A message record names its exchange and routing key (and its BCC keys and settled targets, if any); the codec keeps the bytes of the last two
// names it measured and copies them. Whatever the order names come in (a publisher's same two,
// several queues' alternating, non-ASCII), each record must decode to what was encoded.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bodyLengthOf, decodeMessage, encodeMessage } from '../../src/store/codec.js';

const name = fc.oneof(fc.constantFrom('', 'amq.direct', 'q1', 'q2', 'é-ü', 'x'.repeat(255)), fc.string({ maxLength: 60 }));

describe('message records', () => {
  it('decode to the names, properties and body encoded, for any sequence of names', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ exchange: name, routingKey: name, body: fc.uint8Array({ maxLength: 100 }), bcc: fc.array(fc.oneof(name, fc.constant('k'.repeat(300))), { maxLength: 3 }), settled: fc.array(name, { maxLength: 2 }) }), { minLength: 1, maxLength: 20 }), (list) => {
        let seq = 1;
        for (const { exchange, routingKey, body, bcc, settled } of list) {
          // BCC keys are header values, of any length; the others are short strings.
          if ([exchange, routingKey, ...settled].some((n) => Buffer.byteLength(n) > 255)) continue;
          const m = { seq: seq++, redelivered: false, exchange, routingKey, properties: Buffer.from([0x10, 0, 2]), body: Buffer.from(body), expiresAt: 0, bcc, settled };
          const d = decodeMessage(encodeMessage(m));
          expect({ seq: d.seq, exchange: d.exchange, routingKey: d.routingKey, properties: d.properties, body: Buffer.from(d.body as Buffer), bcc: d.bcc ?? [], settled: d.settled ?? [] }).toEqual({
            seq: m.seq,
            exchange,
            routingKey,
            properties: m.properties,
            body: m.body,
            bcc,
            settled,
          });
          expect(bodyLengthOf(encodeMessage(m))).toBe(body.length);
        }
      }),
    );
  });
});
